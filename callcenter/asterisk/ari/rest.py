"""ARI REST transport: one aiohttp session, parameters as query string, errors mapped."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

from callcenter.asterisk.ari.errors import (
    AriConnectionError,
    AriMalformedResponse,
    error_for_status,
    error_message,
)
from callcenter.logs import get_logger

log = get_logger(__name__)

Params = Mapping[str, Any]


def query_value(value: Any) -> str:
    """ARI query-string spelling: booleans lower-case, lists comma-joined."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(query_value(v) for v in value)
    return str(value)


def seg(value: str) -> str:
    """One URL path segment (ids may hold ';', '/', '@' e.g. recording names)."""
    return quote(value, safe="")


def _basic_auth(user: str, password: str) -> str:
    # aiohttp 3.14 deprecates BasicAuth objects in favour of this header helper.
    encode = getattr(aiohttp, "encode_basic_auth", None)
    if encode is not None:
        return str(encode(user, password))
    return str(aiohttp.BasicAuth(user, password).encode())


class AriRest:
    """Sends ARI REST requests for one node and maps HTTP errors to :class:`AriError`."""

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        *,
        node: str = "default",
        request_timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.node = node
        self.request_timeout = request_timeout
        self._headers = {"Authorization": _basic_auth(user, password)}
        self._session = session
        self._own_session = session is None

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session, created on first use inside the running loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        return self._session

    async def close(self) -> None:
        """Close the session if this object created it."""
        if self._session is not None and self._own_session and not self._session.closed:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        params: Params | None = None,
        *,
        json_body: Any = None,
        raw: bool = False,
    ) -> Any:
        """Send one request; returns parsed JSON, None for 204, or bytes when ``raw``."""
        query = {k: query_value(v) for k, v in (params or {}).items() if v is not None}
        url = f"{self.base_url}/ari{path}"
        data = orjson.dumps(json_body) if json_body is not None else None
        headers = (
            {**self._headers, "Content-Type": "application/json"} if data is not None else self._headers
        )
        try:
            async with asyncio.timeout(self.request_timeout):
                async with self.session.request(
                    method, url, params=query, data=data, headers=headers
                ) as resp:
                    body_bytes = await resp.read()
                    status = resp.status
                    content_type = resp.content_type
        except TimeoutError as err:
            raise AriConnectionError(
                f"no answer within {self.request_timeout}s", method=method, path=path,
                params=query, node=self.node,
            ) from err
        except aiohttp.ClientError as err:
            raise AriConnectionError(
                f"{type(err).__name__}: {err}", method=method, path=path, params=query,
                node=self.node,
            ) from err
        if status >= 300:
            body: Any = None
            if body_bytes:
                try:
                    body = orjson.loads(body_bytes)
                except orjson.JSONDecodeError:
                    body = body_bytes.decode("utf-8", "replace")
            cls = error_for_status(status)
            error = cls(
                error_message(body, f"HTTP {status}"), status=status, method=method, path=path,
                params=query, node=self.node, body=body,
            )
            log.info("ari request failed", **error.details)
            raise error
        if raw:
            return body_bytes
        if status == 204 or not body_bytes:
            return None
        if content_type != "application/json":
            return body_bytes
        try:
            return orjson.loads(body_bytes)
        except orjson.JSONDecodeError as err:
            raise AriMalformedResponse(
                "2xx answer is not JSON", status=status, method=method, path=path,
                params=query, node=self.node, body=body_bytes[:200],
            ) from err
