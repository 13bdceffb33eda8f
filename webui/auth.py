"""Console authentication: argon2 logins, server-side sessions, CSRF tokens, lockout.

The session cookie holds a random token; the store keeps only its SHA-256, so a
stolen database does not yield live sessions. Each session has its own CSRF token,
required on every POST form (field ``csrf_token``) and every mutating /api call
(header ``X-CSRF-Token``). Resolving a session is one primary-key query joining the
user and their area, behind a short TTL cache that logout evicts.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import quote

from aiohttp import web
from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from callcenter import audit
from callcenter.logs import get_logger
from callcenter.store import SessionFactory
from callcenter.store.engine import Prebuilt, ReadLease
from callcenter.store.models import Area, Role, User, WebSession
from webui.i18n import translator
from webui.keys import CLOCK, PRINCIPAL, RUNTIME, Clock, Principal
from webui.openapi import API
from webui.pages import render
from webui.throttle import CLIENT_ADDRESS, THROTTLE
from webui.tokens import bearer_token, token_principal
from webui.validation import safe_next

log = get_logger(__name__)
T = TypeVar("T")

SESSION_COOKIE = "cc_session"
LOGIN_CSRF_COOKIE = "cc_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Paths served without a session.
PUBLIC_PREFIXES = ("/login", "/static/", "/healthz", "/api/openapi.json", "/lang/",
                   "/media/briefings/", "/media/care/")  # fetched by Asterisk, by unguessable name


#: A session with its user and the user's area (bound: ``token_hash``).
_RESOLVE = Prebuilt(
    select(
        WebSession.csrf_token,
        WebSession.expires_at,
        User.id,
        User.username,
        User.display_name,
        User.role,
        User.active,
        Area.path,
    )
    .join(User, User.id == WebSession.user_id)
    .outerjoin(Area, Area.id == User.area_id)
    .where(WebSession.token_hash == bindparam("token_hash"))
)


def hash_token(token: str) -> str:
    """The SHA-256 hex digest stored for a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class SessionStore:
    """Creates, resolves and revokes console sessions in ``web_sessions``."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        ttl_seconds: int,
        clock: Clock,
        cache_seconds: float = 5.0,
        cache_size: int = 20_000,
    ) -> None:
        self._sessions = sessions
        # Resolving is a Core read on the sessions' engine: no ORM session per request.
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._ttl = timedelta(seconds=ttl_seconds)
        self._clock = clock
        # A few seconds of cache spares the store one query per request under load; a
        # logout evicts here at once (another process sees it within cache_seconds).
        self._cache_for = timedelta(seconds=cache_seconds)
        self._cache_size = cache_size
        self._cache: OrderedDict[str, tuple[datetime, Principal]] = OrderedDict()

    async def create(
        self, user: User, area_path: str | None, db: AsyncSession
    ) -> tuple[str, Principal]:
        """Add a session row in the caller's transaction; return the cookie token."""
        token = secrets.token_urlsafe(32)
        now = self._clock()
        principal = Principal(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name or user.username,
            role=user.role,
            area_path=area_path,
            token_hash=hash_token(token),
            csrf_token=secrets.token_urlsafe(32),
            expires_at=now + self._ttl,
        )
        # Expired sessions of this user go now, so the table does not grow without bound.
        await db.execute(
            delete(WebSession).where(WebSession.user_id == user.id, WebSession.expires_at <= now)
        )
        db.add(
            WebSession(
                token_hash=principal.token_hash,
                user_id=user.id,
                csrf_token=principal.csrf_token,
                created_at=now,
                expires_at=principal.expires_at,
            )
        )
        return token, principal

    def lease(self) -> ReadLease:
        """A read lease on the sessions' engine: a request's lookup and reads can share it."""
        return ReadLease(self._engine)

    async def resolve(self, token: str, lease: ReadLease | None = None) -> Principal | None:
        """The principal of a live session token, or None; a cache miss reads on ``lease``."""
        token_hash = hash_token(token)
        now = self._clock()
        cached = self._cache.get(token_hash)
        if cached is not None and cached[0] > now:
            principal = cached[1]
            return principal if principal.expires_at > now else None

        async def lookup(conn: AsyncConnection) -> Mapping[str, Any] | None:
            rows = await _RESOLVE.fetch(conn, {"token_hash": token_hash})
            return rows[0] if rows else None

        if lease is not None:
            row = await lease.run(lookup)
        else:
            async with self.lease() as own:
                row = await own.run(lookup)
        if row is None or not row["active"] or row["expires_at"] <= now:
            self._cache.pop(token_hash, None)
            return None
        principal = Principal(
            user_id=row["id"],
            username=row["username"],
            display_name=row["display_name"] or row["username"],
            role=row["role"],
            area_path=row["path"],
            token_hash=token_hash,
            csrf_token=row["csrf_token"],
            expires_at=row["expires_at"],
        )
        self._cache[token_hash] = (now + self._cache_for, principal)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return principal

    async def revoke(self, principal: Principal) -> None:
        """Delete the session row (server-side logout) and forget it here."""
        self._cache.pop(principal.token_hash, None)
        async with self._sessions.begin() as db:
            await db.execute(delete(WebSession).where(WebSession.token_hash == principal.token_hash))
            await audit.record(
                db, actor=principal.username, action="auth.logout", entity="user",
                entity_id=principal.user_id,
            )


SESSIONS = web.AppKey("sessions", SessionStore)


def current(request: web.Request) -> Principal:
    """The request's principal (the auth middleware guarantees one on protected routes)."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise web.HTTPUnauthorized()
    return principal


def require_role(request: web.Request, *roles: Role) -> Principal:
    """The principal, or 403 when their role is not among ``roles``."""
    principal = current(request)
    if not principal.has_role(*roles):
        raise web.HTTPForbidden(reason="role not allowed")
    return principal


def _is_public(path: str) -> bool:
    return path == "/login" or path.startswith(PUBLIC_PREFIXES)


def _is_public_route(request: web.Request) -> bool:
    """An /api route declared ``public`` (device alarms carry their own token, no session)."""
    if not request.path.startswith("/api/"):
        return False
    matched = request.match_info.handler
    return any(route.public and route.handler is matched for route in request.app[API].routes)


async def _check_csrf(request: web.Request, principal: Principal) -> None:
    if request.path.startswith("/api/"):
        given = request.headers.get(CSRF_HEADER, "")
    else:
        form = await request.post()
        value = form.get(CSRF_FIELD, "")
        given = value if isinstance(value, str) else ""
    if not given or not hmac.compare_digest(given.encode(), principal.csrf_token.encode()):
        log.warning("csrf token missing or wrong", user_id=principal.user_id, path=request.path)
        raise web.HTTPForbidden(reason="csrf")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: The request's read lease, on handlers marked with :func:`shares_session_connection`.
LEASE = web.RequestKey("store_lease", ReadLease)
_SHARES_CONNECTION = "_reads_on_session_connection"


def shares_session_connection(handler: Handler) -> Handler:
    """Mark a handler whose reads take the connection its session was looked up on (if any):
    one pooled connection per request. Only for handlers that take no other connection."""
    setattr(handler, _SHARES_CONNECTION, True)
    return handler


async def read_for(request: web.Request, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``read`` on the request's lease (see :class:`ReadLease`), else on a lease of its own."""
    lease = request.get(LEASE)
    if lease is not None:
        return await lease.run(read)
    async with request.app[SESSIONS].lease() as own:
        return await own.run(read)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Attach the principal (session, or API token on /api); refuse without one or its CSRF."""
    if _is_public(request.path) or _is_public_route(request):
        return await handler(request)
    bearer = bearer_token(request)
    if bearer is not None:  # an API client (webui/tokens.py): no cookie, so no CSRF
        request[PRINCIPAL] = await token_principal(request, bearer)
        return await handler(request)
    token = request.cookies.get(SESSION_COOKIE)
    lease = request.app[SESSIONS].lease()
    principal = await _resolve(request, token, lease)
    if principal is None:
        if request.path.startswith(("/api/", "/ws")):
            raise web.HTTPUnauthorized(reason="login required")
        if request.method != "GET":
            raise web.HTTPSeeOther("/login")
        raise web.HTTPSeeOther("/login?next=" + quote(request.rel_url.path_qs, safe="/"))
    if request.method not in SAFE_METHODS:
        await _check_csrf(request, principal)
    request[PRINCIPAL] = principal
    try:
        return await handler(request)
    finally:
        await lease.release()


async def _resolve(request: web.Request, token: str | None, lease: ReadLease) -> Principal | None:
    """The session's principal; ``lease`` stays with the request only for a handler that
    shares it (a GET with a live session), else goes back at once."""
    try:
        principal = await request.app[SESSIONS].resolve(token, lease) if token else None
    finally:
        shares = getattr(request.match_info.handler, _SHARES_CONNECTION, False)
        if shares and request.method in SAFE_METHODS:
            request[LEASE] = lease
        else:
            await lease.release()
    if principal is None:
        await lease.release()
    return principal


def _cookie_flags(request: web.Request) -> dict[str, object]:
    secure = request.app[RUNTIME].settings.env == "production"
    return {"httponly": True, "samesite": "Strict", "secure": secure, "path": "/"}


async def login_page(request: web.Request) -> web.StreamResponse:
    """GET /login: the form, with a fresh double-submit CSRF token (there is no session yet)."""
    return _render_login(request, error=None)


def _render_login(request: web.Request, *, error: str | None, status: int = 200) -> web.StreamResponse:
    # Reuse the browser's token: another tab (or a favicon request redirected here) must
    # not invalidate a form already on screen.
    token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if len(token) != 32:
        token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        {"login_csrf": token, "error": error, "next": safe_next(request.query.get("next"))},
        status=status,
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=3600, **_cookie_flags(request))  # type: ignore[arg-type]
    return response


async def login_submit(request: web.Request) -> web.StreamResponse:
    """POST /login: verify, count failures, lock after too many, open a session.

    A throttled address (webui/throttle.py) gets 429 before anything is checked.
    """
    form = await request.post()
    cookie_token = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    form_token = str(form.get(CSRF_FIELD, ""))
    if not cookie_token or not hmac.compare_digest(cookie_token.encode(), form_token.encode()):
        raise web.HTTPForbidden(reason="csrf")
    address = request.app[CLIENT_ADDRESS](request)
    throttle = request.app[THROTTLE]
    if throttle.blocked(address):
        log.warning("login refused", reason="address throttled")
        return _render_login(request, error=translator(request)("login.throttled"), status=429)
    username = str(form.get("username", "")).strip()[:64]
    password = str(form.get("password", ""))[:1024]
    runtime = request.app[RUNTIME]
    clock = request.app[CLOCK]
    settings = runtime.settings

    user: User | None = None
    # A NUL byte names no user (and PostgreSQL refuses it in text): the usual refusal.
    if "\x00" not in username:
        async with runtime.sessions() as db:
            user = (
                await db.execute(select(User).where(User.username == username))
            ).scalar_one_or_none()
    # Verified outside any transaction: argon2 is slow and must not hold a lock.
    # An unknown user is checked against a dummy hash so timing does not tell.
    password_ok = await runtime.passwords.verify(user.password_hash if user else None, password)

    failed = translator(request)("login.failed")
    if user is None or not user.active:
        throttle.record_failure(address, None)
        log.info("login refused", reason="unknown or inactive user")
        return _render_login(request, error=failed, status=401)

    refused = False
    async with runtime.sessions.begin() as db:
        locked_user = (
            await db.execute(select(User).where(User.id == user.id).with_for_update())
        ).scalar_one()
        now = clock()
        locked = locked_user.locked_until is not None and locked_user.locked_until > now
        if locked or not password_ok:
            counts = throttle.record_failure(address, user.id)
            await _count_failure(db, locked_user, now, already_locked=locked, counts=counts,
                                 max_failures=settings.login_max_failures,
                                 lockout=timedelta(seconds=settings.login_lockout_seconds))
            refused = True
        else:
            locked_user.failed_logins = 0
            locked_user.locked_until = None
            area_path = None
            if locked_user.area_id is not None:
                area_path = (
                    await db.execute(select(Area.path).where(Area.id == locked_user.area_id))
                ).scalar_one()
            token, principal = await request.app[SESSIONS].create(locked_user, area_path, db)
            await audit.record(db, actor=user.username, action="auth.login", entity="user",
                               entity_id=user.id)
            log.info("login", user_id=principal.user_id, role=principal.role)
    # Raised only after the transaction committed (raising inside would roll it back).
    if refused:
        return _render_login(request, error=failed, status=401)
    success = web.HTTPSeeOther(safe_next(str(form.get("next", "")) or None))
    success.set_cookie(SESSION_COOKIE, token, max_age=settings.session_ttl_seconds,
                       **_cookie_flags(request))  # type: ignore[arg-type]
    success.del_cookie(LOGIN_CSRF_COOKIE, path="/")
    raise success


async def _count_failure(
    db: AsyncSession, user: User, now: datetime, *, already_locked: bool, counts: bool,
    max_failures: int, lockout: timedelta,
) -> None:
    if already_locked:
        # Attempts during a lockout neither extend it nor count toward the next one.
        await audit.record(db, actor=user.username, action="auth.login_refused_locked",
                           entity="user", entity_id=user.id)
        return
    if not counts:
        # This address already counted against the account in this window (webui/throttle.py).
        await audit.record(db, actor=user.username, action="auth.login_failed", entity="user",
                           entity_id=user.id, after={"failed_logins": user.failed_logins,
                                                     "counted": False})
        return
    user.failed_logins += 1
    if user.failed_logins >= max_failures:
        user.failed_logins = 0
        user.locked_until = now + lockout
        await audit.record(db, actor=user.username, action="auth.lockout", entity="user",
                           entity_id=user.id, after={"locked_until": user.locked_until.isoformat()},
                           reason=f"{max_failures} failed logins")
        log.warning("account locked", user_id=user.id)
    else:
        await audit.record(db, actor=user.username, action="auth.login_failed", entity="user",
                           entity_id=user.id, after={"failed_logins": user.failed_logins})


async def logout(request: web.Request) -> web.StreamResponse:
    """POST /logout: end the session on the server, then clear the cookie."""
    principal = current(request)
    await request.app[SESSIONS].revoke(principal)
    # Imported here: ws.py imports this module.
    from webui.ws import HUB

    request.app[HUB].disconnect_session(principal.token_hash)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
