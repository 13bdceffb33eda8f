"""Logins, lockout, sessions, CSRF and security headers, over real stores."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from callcenter.runtime import Runtime
from callcenter.store.models import AuditEntry, User, WebSession
from tests.webui.conftest import (
    ClientAddress,
    Connect,
    FakeClock,
    Login,
    World,
    csrf_of,
    submit_login,
)
from webui import create_app
from webui.auth import SESSION_COOKIE


async def _audit_actions(runtime: Runtime) -> list[str]:
    async with runtime.sessions() as db:
        return list((await db.execute(select(AuditEntry.action).order_by(AuditEntry.seq))).scalars())


async def test_login_with_right_password_opens_a_server_side_session(
    connect: Connect, world: World, runtime: Runtime
) -> None:
    http = await connect()
    response = await submit_login(http, "agent_street", next_="/elders?q=1380")
    assert response.status == 303
    assert response.headers["Location"] == "/elders?q=1380"
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    async with http.get("/api/me") as me:
        body = await me.json()
    assert body["username"] == "agent_street" and body["role"] == "agent"
    async with runtime.sessions() as db:
        stored = (await db.execute(select(WebSession.token_hash))).scalars().all()
    # Only the token's SHA-256 is stored, never the token itself.
    assert stored == [hashlib.sha256(cookie.value.encode()).hexdigest()]
    assert "auth.login" in await _audit_actions(runtime)


async def test_wrong_password_and_unknown_user_get_the_same_refusal(
    connect: Connect, world: World
) -> None:
    http = await connect()
    wrong = await submit_login(http, "agent_street", "not-the-password")
    async with http.get("/api/me") as me:
        assert me.status == 401
    unknown = await submit_login(http, "nobody-by-this-name", "whatever")
    assert wrong.status == unknown.status == 401


async def test_refusal_text_does_not_tell_whether_the_user_exists(connect: Connect, world: World) -> None:
    http = await connect()
    texts = []
    for username in ("agent_street", "nobody-by-this-name"):
        async with http.get("/login") as page:
            token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
        async with http.post("/login", data={"username": username, "password": "bad",
                                              "csrf_token": token}) as response:
            html = await response.text()
        texts.append(html.split('role="alert">')[1].split("<")[0])
    assert texts[0] == texts[1] and texts[0]


async def test_lockout_after_max_failures_then_unlock_after_the_period(
    connect: Connect, world: World, runtime: Runtime, clock: FakeClock,
    client_address: ClientAddress,
) -> None:
    settings = runtime.settings
    http = await connect()
    # Guessing spread over several machines: each address counts once against the account.
    for machine in range(settings.login_max_failures):
        client_address.value = f"10.0.0.{machine + 1}"
        assert (await submit_login(http, "agent_c1", "bad-password")).status == 401
    # Locked: even the right password is refused, with the same generic answer.
    assert (await submit_login(http, "agent_c1")).status == 401
    async with runtime.sessions() as db:
        user = (await db.execute(select(User).where(User.username == "agent_c1"))).scalar_one()
    assert user.locked_until is not None
    assert "auth.lockout" in await _audit_actions(runtime)

    clock.advance(settings.login_lockout_seconds - 1)
    assert (await submit_login(http, "agent_c1")).status == 401
    clock.advance(2)
    assert (await submit_login(http, "agent_c1")).status == 303
    async with runtime.sessions() as db:
        user = (await db.execute(select(User).where(User.username == "agent_c1"))).scalar_one()
    assert user.failed_logins == 0 and user.locked_until is None


async def test_login_form_without_its_csrf_token_is_refused(connect: Connect, world: World) -> None:
    http = await connect()
    async with http.post("/login", data={"username": "agent_c1", "password": "x"}) as response:
        assert response.status == 403


async def test_post_form_without_csrf_is_403_and_the_session_survives(
    login: Login, runtime: Runtime
) -> None:
    http = await login("agent_c1")
    async with http.post("/logout", data={}, allow_redirects=False) as response:
        assert response.status == 403
    async with http.post("/logout", data={"csrf_token": "wrong"}, allow_redirects=False) as response:
        assert response.status == 403
    async with http.get("/api/me") as me:
        assert me.status == 200
    async with runtime.sessions() as db:
        assert (await db.execute(select(func.count()).select_from(WebSession))).scalar_one() == 1


async def test_api_post_with_missing_or_wrong_csrf_header_is_403_and_not_audited(
    login: Login, world: World, runtime: Runtime
) -> None:
    http = await login("super_d1")
    before = await _audit_actions(runtime)
    url = f"/api/elders/{world.elder_c1}/reveal"
    async with http.post(url, json={"reason": "verify caller"}) as response:
        assert response.status == 403
        assert (await response.json())["error_id"] == "csrf-failed"
    async with http.post(url, json={"reason": "verify caller"},
                         headers={"X-CSRF-Token": "forged"}) as response:
        assert response.status == 403
    assert await _audit_actions(runtime) == before


async def test_logout_invalidates_the_session_on_the_server(
    login: Login, runtime: Runtime, clock: FakeClock, connect: Connect
) -> None:
    http = await login("agent_c1")
    token = http.cookie_jar.filter_cookies(http._base_url)[SESSION_COOKIE].value  # type: ignore[arg-type]
    csrf = await csrf_of(http)
    async with http.post("/logout", data={"csrf_token": csrf}, allow_redirects=False) as response:
        assert response.status == 303
    async with runtime.sessions() as db:
        assert (await db.execute(select(func.count()).select_from(WebSession))).scalar_one() == 0
    # Replaying the old cookie (as a thief would) is refused.
    replay = await connect()
    async with replay.get("/api/me", cookies={SESSION_COOKIE: token}) as me:
        assert me.status == 401
    assert "auth.logout" in await _audit_actions(runtime)
    # A second process (fresh app, no cache) agrees: the session is gone from the store.
    other = create_app(runtime, clock=clock)
    from webui.auth import SESSIONS

    assert await other[SESSIONS].resolve(token) is None


async def test_session_expires_after_its_ttl(
    login: Login, runtime: Runtime, clock: FakeClock
) -> None:
    http = await login("agent_c1")
    clock.advance(runtime.settings.session_ttl_seconds + 1)
    async with http.get("/api/me") as me:
        assert me.status == 401
    async with http.get("/elders", allow_redirects=False) as page:
        assert page.status == 303 and page.headers["Location"].startswith("/login")


async def test_without_a_session_pages_redirect_and_api_answers_401(connect: Connect) -> None:
    http = await connect()
    async with http.get("/elders/1", allow_redirects=False) as page:
        assert page.status == 303 and page.headers["Location"] == "/login?next=/elders/1"
    async with http.get("/api/elders?q=张") as api:
        assert api.status == 401
        body = await api.json()
    assert body["error_id"] == "login-required" and body["status"] == 401


async def test_login_never_redirects_to_another_site(connect: Connect, world: World) -> None:
    http = await connect()
    response = await submit_login(http, "agent_c1", next_="//evil.example/x")
    assert response.headers["Location"] == "/"


async def test_pages_carry_security_headers_and_no_store(login: Login, world: World) -> None:
    http = await login("agent_c1")
    async with http.get(f"/elders/{world.elder_c1}") as page:
        headers = page.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"


async def _locked_until(runtime: Runtime, username: str) -> object:
    async with runtime.sessions() as db:
        return (
            await db.execute(select(User.locked_until).where(User.username == username))
        ).scalar_one()


async def test_one_address_cannot_lock_somebody_else_out(
    connect: Connect, world: World, runtime: Runtime, client_address: ClientAddress
) -> None:
    stranger = await connect()
    client_address.value = "203.0.113.9"
    for _ in range(runtime.settings.login_max_failures + 1):
        assert (await submit_login(stranger, "agent_c1", "bad-password")).status == 401
    assert await _locked_until(runtime, "agent_c1") is None
    client_address.value = "10.1.1.1"  # the agent at their own desk
    assert (await submit_login(await connect(), "agent_c1")).status == 303


async def test_an_address_with_too_many_failures_is_refused_with_429_for_a_while(
    connect: Connect, world: World, runtime: Runtime, clock: FakeClock,
    client_address: ClientAddress,
) -> None:
    settings = runtime.settings
    http = await connect()
    client_address.value = "203.0.113.9"
    users = ("agent_c1", "agent_d2", "nobody-by-this-name")
    for attempt in range(settings.login_max_failures_per_address):
        assert (await submit_login(http, users[attempt % 3], "bad-password")).status == 401
    # Throttled: even the right password is refused, and nothing is checked or counted.
    actions_before = await _audit_actions(runtime)
    assert (await submit_login(http, "agent_street")).status == 429
    assert await _audit_actions(runtime) == actions_before
    for username in ("agent_c1", "agent_d2", "agent_street"):
        assert await _locked_until(runtime, username) is None
    client_address.value = "10.1.1.1"  # another machine is not affected
    assert (await submit_login(await connect(), "agent_street")).status == 303

    client_address.value = "203.0.113.9"
    clock.advance(settings.login_address_block_seconds - 1)
    assert (await submit_login(http, "agent_street")).status == 429
    clock.advance(2)
    assert (await submit_login(http, "agent_street")).status == 303
