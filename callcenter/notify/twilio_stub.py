"""A local stand-in for Twilio's Messages API, for tests and the demo (never production).

It speaks the subset of the 2010-04-01 REST API the SMS sender uses, with Twilio's
shapes: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (form fields To, From, Body;
HTTP Basic auth with the account SID and auth token) answering a message resource
with ``status: queued``; ``GET …/Messages.json`` (filters To, From, DateSent, DateSent<,
DateSent>, paging) and ``GET …/Messages/{sid}.json``; errors as
``{"code", "message", "more_info", "status"}``. Failures can be scripted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from aiohttp import web

from callcenter.store.models import utcnow

API = "/2010-04-01"
_E164 = re.compile(r"^\+[1-9]\d{1,14}$")


@dataclass(slots=True)
class StubRequest:
    """One request the stub received, for assertions."""

    method: str
    path: str
    form: dict[str, str]
    query: dict[str, str]
    auth: tuple[str, str] | None


@dataclass(slots=True)
class _Failure:
    status: int
    code: int
    message: str
    after_create: bool  # create the message, then answer with the error (a lost reply)


@dataclass
class TwilioStub:
    """The stub's state: accounts, messages, received requests, scripted failures."""

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "stub-auth-token"
    messages: list[dict[str, Any]] = field(default_factory=list)
    requests: list[StubRequest] = field(default_factory=list)
    base_url: str = ""
    #: Numbers Twilio refuses as invalid (its magic test number +15005550001 among them).
    invalid_numbers: set[str] = field(default_factory=lambda: {"+15005550001"})
    _failures: deque[_Failure] = field(default_factory=deque)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _runner: web.AppRunner | None = None

    def fail_next(
        self,
        status: int = 500,
        code: int = 20500,
        message: str = "Internal Server Error",
        *,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` message creations with this error, creating nothing."""
        for _ in range(times):
            self._failures.append(_Failure(status, code, message, after_create=False))

    def lose_reply_next(
        self, status: int = 502, code: int = 20500, message: str = "Bad Gateway"
    ) -> None:
        """Create the next message but answer with an error, as when a reply is lost."""
        self._failures.append(_Failure(status, code, message, after_create=True))

    def sent_to(self, number: str) -> list[dict[str, Any]]:
        """The messages created for one number, oldest first."""
        return [m for m in self.messages if m["to"] == number]

    async def wait_for_messages(self, count: int) -> list[dict[str, Any]]:
        """Wait until at least ``count`` messages exist (wrap it in ``asyncio.timeout``)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.messages) >= count)
        return list(self.messages)

    async def close(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- HTTP ------------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application serving the API."""
        app = web.Application()
        app.router.add_post(API + "/Accounts/{account}/Messages.json", self._create)
        app.router.add_get(API + "/Accounts/{account}/Messages.json", self._list)
        app.router.add_get(API + "/Accounts/{account}/Messages/{sid}.json", self._fetch)
        return app

    def _error(self, status: int, code: int, message: str) -> web.Response:
        return web.json_response(
            {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
                "status": status,
            },
            status=status,
        )

    async def _record(self, request: web.Request) -> tuple[StubRequest, web.Response | None]:
        form = {k: str(v) for k, v in (await request.post()).items()}
        auth: tuple[str, str] | None = None
        header = request.headers.get("Authorization")
        scheme, _, token = (header or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                login, sep, password = (
                    base64.b64decode(token, validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                sep = ""
            auth = (login, password) if sep else None
        seen = StubRequest(request.method, request.path, form, dict(request.query), auth)
        self.requests.append(seen)
        if (
            auth != (self.account_sid, self.auth_token)
            or request.match_info["account"] != self.account_sid
        ):
            return seen, self._error(401, 20003, "Authenticate")
        return seen, None

    async def _create(self, request: web.Request) -> web.Response:
        seen, denied = await self._record(request)
        if denied is not None:
            return denied
        to, from_, body = (
            seen.form.get("To", ""),
            seen.form.get("From", ""),
            seen.form.get("Body", ""),
        )
        if not to:
            return self._error(400, 21604, "A 'To' phone number is required.")
        if not _E164.match(to) or to in self.invalid_numbers:
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not from_:
            return self._error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return self._error(400, 21602, "Message body is required.")
        failure = self._failures.popleft() if self._failures else None
        if failure is not None and not failure.after_create:
            return self._error(failure.status, failure.code, failure.message)
        now = utcnow()
        sid = "SM" + uuid.uuid4().hex
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": format_datetime(now),
            "date_sent": None,
            "date_updated": format_datetime(now),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"{API}/Accounts/{self.account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"{API}/Accounts/{self.account_sid}/Messages/{sid}.json",
            "_created": now,
        }
        async with self._changed:
            self.messages.append(message)
            self._changed.notify_all()
        if failure is not None:
            return self._error(failure.status, failure.code, failure.message)
        return web.json_response(_public(message), status=201)

    async def _fetch(self, request: web.Request) -> web.Response:
        _seen, denied = await self._record(request)
        if denied is not None:
            return denied
        for message in self.messages:
            if message["sid"] == request.match_info["sid"]:
                return web.json_response(_public(_delivered(message)))
        return self._error(404, 20404, f"The requested resource {request.path} was not found")

    async def _list(self, request: web.Request) -> web.Response:
        seen, denied = await self._record(request)
        if denied is not None:
            return denied
        query = seen.query
        try:
            after = _parse_date(query.get("DateSent>"))
            before = _parse_date(query.get("DateSent<"))
            on = _parse_date(query.get("DateSent"))
            page_size = int(query.get("PageSize", "50"))
            page = int(query.get("Page", "0"))
        except ValueError:
            return self._error(400, 20001, "Invalid filter or paging parameter")
        found = []
        for message in reversed(self.messages):  # newest first, as Twilio lists
            sent = message["_created"]
            if query.get("To") and message["to"] != query["To"]:
                continue
            if query.get("From") and message["from"] != query["From"]:
                continue
            if after is not None and sent < after:
                continue
            if before is not None and sent > before:
                continue
            if on is not None and sent.date() != on.date():
                continue
            found.append(_public(_delivered(message)))
        chunk = found[page * page_size : (page + 1) * page_size]
        uri = f"{API}/Accounts/{self.account_sid}/Messages.json"
        has_next = (page + 1) * page_size < len(found)
        keep = "".join(
            f"&{k}={v}" for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")
        )
        return web.json_response(
            {
                "messages": chunk,
                "end": page * page_size + max(len(chunk) - 1, 0),
                "first_page_uri": f"{uri}?PageSize={page_size}&Page=0{keep}",
                "next_page_uri": f"{uri}?PageSize={page_size}&Page={page + 1}&PageToken=PA{page + 1}{keep}"
                if has_next
                else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": f"{uri}?PageSize={page_size}&Page={page - 1}{keep}"
                if page
                else None,
                "start": page * page_size,
                "uri": f"{uri}?PageSize={page_size}&Page={page}{keep}",
            }
        )


def _delivered(message: dict[str, Any]) -> dict[str, Any]:
    # Once listed, the stub's carrier has delivered the message.
    return {**message, "status": "delivered", "date_sent": message["date_created"]}


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if not k.startswith("_")}


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    if len(value) == 10:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


async def start_twilio_stub(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    account_sid: str = "AC" + "0" * 32,
    auth_token: str = "stub-auth-token",
) -> TwilioStub:
    """Serve a :class:`TwilioStub` on ``host:port`` (0: a free port); ``close()`` it after."""
    stub = TwilioStub(account_sid=account_sid, auth_token=auth_token)
    runner = web.AppRunner(stub.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stub._runner = runner
    bound = runner.addresses[0]
    stub.base_url = f"http://{host}:{bound[1]}"
    return stub
