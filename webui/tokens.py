"""``Authorization: Bearer <API token>`` on /api routes: other systems and scripts, no session.

A token call is scoped exactly like a console user of the token's role and area. It needs
no CSRF token: nothing rides on a cookie the browser would send by itself. Tokens open
only /api routes, never the HTML pages or the WebSocket. Every mutating call made with a
token is audited (``api_token.used``) before it runs; reads go to the log.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from callcenter import audit
from callcenter.apitokens import resolve_token, token_hash
from callcenter.errors import DomainError
from callcenter.logs import get_logger
from webui.keys import RUNTIME, Principal

log = get_logger(__name__)

API_TOKEN_KEY: web.AppKey[bytes] = web.AppKey("api_token_key")
MAX_TOKEN_CHARS = 256
_NEVER = datetime.max.replace(tzinfo=UTC)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiTokenInvalid(DomainError):
    """The bearer token is unknown or revoked."""

    error_id = "api-token-invalid"
    status = 401


def bearer_token(request: web.Request) -> str | None:
    """The bearer token of an /api request, or None when it sends none."""
    if not request.path.startswith("/api/"):
        return None
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def token_principal(request: web.Request, token: str) -> Principal:
    """The principal an API token speaks for (401 ``api-token-invalid`` otherwise); audited."""
    runtime = request.app[RUNTIME]
    key = request.app[API_TOKEN_KEY]
    caller = None
    if token and len(token) <= MAX_TOKEN_CHARS:
        async with runtime.engine.connect() as conn:
            caller = await resolve_token(conn, key, token)
    if caller is None:
        log.warning("api token refused", path=request.path)
        raise ApiTokenInvalid("unknown or revoked API token")
    principal = Principal(
        user_id=0,  # no console user: joins that need a softphone are refused (422)
        username=caller.actor,
        display_name=caller.name,
        role=caller.role,
        area_path=caller.area_path,
        token_hash=token_hash(key, token),
        csrf_token="",
        expires_at=_NEVER,
        via_token=True,
    )
    if request.method in _SAFE_METHODS:
        log.info("api token used", client=caller.name, method=request.method, path=request.path)
    else:
        async with runtime.sessions.begin() as db:
            await audit.record(db, actor=caller.actor, action="api_token.used",
                               entity="api_client", entity_id=caller.name,
                               after={"method": request.method, "path": request.path})
    return principal
