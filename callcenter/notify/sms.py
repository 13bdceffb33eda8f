"""Text messages through Twilio's REST API, with the real ``twilio`` client (async)."""

from __future__ import annotations

import base64
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from twilio.base.exceptions import TwilioException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from callcenter.notify.base import Outgoing
from callcenter.notify.exceptions import PermanentSendError, TransientSendError

# twilio logs query strings (recipients' numbers) at INFO: keep it to warnings.
_twilio_log = logging.getLogger("callcenter.notify.twilio_http")
_twilio_log.setLevel(logging.WARNING)

#: How far the provider's clock may run behind ours when matching a message after a crash.
CLOCK_SKEW = timedelta(minutes=2)
#: Twilio statuses of a message it accepted and did not reject.
_ACCEPTED = frozenset(
    {
        "accepted",
        "scheduled",
        "queued",
        "sending",
        "sent",
        "delivered",
        "receiving",
        "received",
        "read",
    }
)


class BaseUrlHttpClient(AsyncTwilioHttpClient):
    """Twilio's async HTTP client, sending every request to ``base_url`` instead.

    Used for a Twilio-compatible gateway or the local stub (tests, the demo).
    """

    def __init__(self, base_url: str | None, timeout: float) -> None:
        super().__init__(timeout=timeout, logger=_twilio_log)
        self._base = urlsplit(base_url) if base_url else None

    def rewrite(self, url: str) -> str:
        """The URL with its scheme and host replaced by the configured base."""
        if self._base is None:
            return url
        parts = urlsplit(url)
        path = self._base.path.rstrip("/") + parts.path
        return urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, ""))

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - twilio's HttpClient signature
        allow_redirects: bool = False,
    ) -> Response:
        """Send the request to the rewritten URL."""
        if auth is not None:
            # aiohttp deprecates its BasicAuth (which twilio builds from ``auth``): send the header.
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            headers = {**(headers or {}), "Authorization": f"Basic {token}"}
        return await super().request(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def _classify(err: TwilioException) -> TransientSendError | PermanentSendError:
    status = getattr(err, "status", None)
    code = getattr(err, "code", None)
    text = getattr(err, "msg", None) or getattr(err, "detail", None) or getattr(err, "title", "")
    reason = f"twilio {status} code {code}: {text}".strip()
    details: dict[str, Any] = {"status": status, "code": code}
    # 4xx is Twilio refusing this message for good (21211 invalid number, 21610 opted out),
    # except rate limiting (429) and timeouts (408), which pass, and a refused login (401),
    # which is fixed in the configuration, not in the message.
    if isinstance(status, int) and 400 <= status < 500 and status not in (401, 408, 429):
        return PermanentSendError(reason, details)
    return TransientSendError(reason, details)


class TwilioSmsSender:
    """An :class:`~callcenter.notify.base.SmsSender` over the real async Twilio client."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        *,
        base_url: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._from = from_number
        self._http = BaseUrlHttpClient(base_url, timeout)
        self._client = Client(
            account_sid, auth_token, account_sid=account_sid, http_client=self._http, environment={}
        )

    async def send(self, message: Outgoing) -> str:
        """Create the message at Twilio; return its SID."""
        try:
            created = await self._client.messages.create_async(
                to=message.recipient, from_=self._from, body=message.body
            )
        except TwilioException as err:
            raise _classify(err) from err
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise TransientSendError(f"twilio unreachable: {err!r}") from err
        if not created.sid:
            raise TransientSendError("twilio answered without a message sid")
        return str(created.sid)

    async def find_delivered(self, message: Outgoing, since: datetime) -> str | None:
        """The SID of a message to the same number with the same body created since ``since``."""
        earliest = since - CLOCK_SKEW
        try:
            # Newest first; a message still queued has no date_sent yet, so filter locally on
            # date_created rather than with DateSent>.
            found = await self._client.messages.list_async(to=message.recipient, limit=100)
        except TwilioException as err:
            raise _classify(err) from err
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            raise TransientSendError(f"twilio unreachable: {err!r}") from err
        for item in found:
            created = item.date_created
            if created is not None and created < earliest:
                continue
            # A trial account prefixes the body; never match a message Twilio rejected.
            if (item.body or "").endswith(message.body) and (item.status or "") in _ACCEPTED:
                return str(item.sid)
        return None

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._http.close()
