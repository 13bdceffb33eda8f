"""Hostile input never reaches the store as a 500: huge ids, NUL bytes, foreign redirects, empty reasons."""

from __future__ import annotations

import pytest
from aiohttp import web
from sqlalchemy import select

from ari_apps.sos.http import install_web
from callcenter.commands import CommandPath
from callcenter.runtime import Runtime
from callcenter.store.models import AuditEntry
from tests.webui.conftest import Connect, FakeClock, Login, World, csrf_of, submit_login
from webui import create_app
from webui.validation import safe_next


@pytest.fixture
def app(runtime: Runtime, clock: FakeClock) -> web.Application:
    """The console with the SOS pages and API (no call control in this process)."""
    return create_app(runtime, clock=clock, features=[
        lambda app: install_web(app, None, CommandPath(runtime.bus))
    ])


HUGE_IDS = ("99999999999999999999", "2147483648", "9223372036854775808", "0")


@pytest.mark.parametrize("elder_id", HUGE_IDS)
async def test_ids_beyond_the_integer_range_are_404_on_api_and_pages(
    login: Login, elder_id: str
) -> None:
    http = await login("super_d1")
    csrf = await csrf_of(http)
    async with http.get(f"/api/elders/{elder_id}") as response:
        assert response.status == 404
        assert (await response.json())["error_id"] == "not-found"
    async with http.post(f"/api/elders/{elder_id}/reveal", json={"reason": "核实来电身份"},
                         headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 404
    async with http.get(f"/elders/{elder_id}") as page:
        assert page.status == 404
    async with http.post(f"/elders/{elder_id}/reveal",
                         data={"csrf_token": csrf, "reason": "核实来电身份"}) as page:
        assert page.status == 404


async def test_nul_bytes_in_search_and_audit_filters_are_a_clear_400(login: Login) -> None:
    agent = await login("agent_street")
    async with agent.get("/api/elders", params={"q": "张\x00"}) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error_id"] == "invalid-characters" and body["details"] == {"parameter": "q"}
    async with agent.get("/elders?q=%00") as page:
        assert page.status == 400
    auditor = await login("auditor")
    async with auditor.get("/audit?action=auth%00") as page:
        assert page.status == 400


async def test_sos_filters_and_incident_ids_with_nul_or_odd_values_are_4xx(login: Login) -> None:
    agent = await login("agent_street")
    async with agent.get("/api/sos", params={"status": "active\x00"}) as response:
        assert response.status == 400
    async with agent.get("/api/sos", params={"limit": "99999999999999999999"}) as response:
        assert response.status == 200
    for incident in ("99999999999999999999999999999999999999999", "%00", "x" * 4000):
        async with agent.get(f"/api/sos/{incident}") as response:
            assert response.status == 404
        async with agent.get(f"/incidents/{incident}") as page:
            assert page.status == 404


async def test_nul_in_the_login_name_is_an_ordinary_wrong_credentials_answer(
    connect: Connect, world: World
) -> None:
    http = await connect()
    response = await submit_login(http, "agent_c1\x00")
    assert response.status == 401


async def test_a_non_ascii_csrf_token_is_refused_not_a_crash(login: Login, world: World) -> None:
    http = await login("super_d1")
    async with http.post(f"/api/elders/{world.elder_c1}/reveal", json={"reason": "核实来电身份"},
                         headers={"X-CSRF-Token": "é"}) as response:
        assert response.status == 403


@pytest.mark.parametrize(
    "target",
    ["/\t/evil.example/", "/%09/evil.example/", "//evil.example/", "/\\evil.example",
     "https://evil.example/", "/ /evil.example", "/\n/evil.example", "/%2F%2Fevil.example",
     "javascript:alert(1)", "/\u200b/evil.example", "evil.example"],
)
def test_redirect_targets_off_site_fall_back_to_the_start_page(target: str) -> None:
    assert safe_next(target) == "/"


def test_same_site_paths_are_followed() -> None:
    assert safe_next("/elders?q=1380") == "/elders?q=1380"
    assert safe_next("/incidents/20261130085012a1b2c3") == "/incidents/20261130085012a1b2c3"


async def test_language_switch_and_login_do_not_redirect_to_another_site(
    connect: Connect, world: World
) -> None:
    http = await connect()
    async with http.get("/lang/en?next=/%09/evil.example/", allow_redirects=False) as response:
        assert response.status == 303 and response.headers["Location"] == "/"
    response = await submit_login(http, "agent_c1", next_="/\t/evil.example/")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize("reason", ["   ", "\u200b\u200b", "\u200b \ufeff\u3000", "a\u200b"])
async def test_blank_or_invisible_reveal_reasons_are_refused_and_not_audited(
    login: Login, world: World, runtime: Runtime, reason: str
) -> None:
    http = await login("super_d1")
    csrf = await csrf_of(http)
    async with http.post(f"/api/elders/{world.elder_c1}/reveal", json={"reason": reason},
                         headers={"X-CSRF-Token": csrf}) as response:
        assert response.status == 422
        assert (await response.json())["error_id"] == "reason-required"
    async with http.post(f"/elders/{world.elder_c1}/reveal",
                         data={"csrf_token": csrf, "reason": reason}) as page:
        assert page.status == 422
    async with runtime.sessions() as db:
        actions = (await db.execute(select(AuditEntry.action))).scalars().all()
    assert "elder.id_number.reveal" not in actions
