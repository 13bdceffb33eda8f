"""API tokens: created, listed and revoked at the command line, scoped like users on /api only."""

from __future__ import annotations

import asyncio

import aiohttp
from click.testing import CliRunner, Result
from sqlalchemy import select

from ari_apps.alarms.http import install_web
from callcenter.cli import main
from callcenter.runtime import Runtime
from callcenter.settings import Settings
from callcenter.store.models import ApiClient, AuditEntry
from tests.webui.conftest import Connect, Login, World, csrf_of
from webui import create_app
from webui.openapi import API


async def _cli(settings: Settings, *args: str) -> Result:
    assert settings.secret_key is not None
    env = {"CALLCENTER_DATABASE_URL": settings.database_url,
           "CALLCENTER_SECRET_KEY": settings.secret_key.get_secret_value(),
           "CALLCENTER_DATA_DIR": str(settings.data_dir)}
    return await asyncio.to_thread(
        lambda: CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    )


async def _create(settings: Settings, name: str, *options: str) -> str:
    result = await _cli(settings, "api-token", "create", name, *options, "--actor", "ops")
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _audit(runtime: Runtime) -> list[tuple[str, str, str]]:
    async with runtime.sessions() as db:
        rows = await db.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.entity_id).order_by(AuditEntry.seq)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_create_list_and_revoke_at_the_command_line(
    settings: Settings, runtime: Runtime, world: World
) -> None:
    token = await _create(settings, "crm-sync", "--role", "agent", "--area", "S1")
    assert token.startswith("cc_")
    async with runtime.sessions() as db:
        stored = (await db.execute(select(ApiClient.token_hash))).scalar_one()
    assert token not in stored and stored.startswith("hmac-sha256$")  # only a keyed hash

    listed = await _cli(settings, "api-token", "list")
    assert listed.exit_code == 0
    assert "crm-sync\tagent\tS1\t" in listed.stdout and "active" in listed.stdout
    assert token not in listed.stdout

    twice = await _cli(settings, "api-token", "create", "crm-sync", "--role", "agent")
    assert twice.exit_code == 1
    unknown_area = await _cli(settings, "api-token", "create", "x", "--role", "agent",
                              "--area", "NOPE")
    assert unknown_area.exit_code == 1
    bad_role = await _cli(settings, "api-token", "create", "x", "--role", "root")
    assert bad_role.exit_code == 2

    revoked = await _cli(settings, "api-token", "revoke", "crm-sync", "--actor", "ops")
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert "revoked" in (await _cli(settings, "api-token", "list")).stdout
    missing = await _cli(settings, "api-token", "revoke", "no-such")
    assert missing.exit_code == 1
    # A revoked name can be issued again, with a new token.
    assert await _create(settings, "crm-sync", "--role", "auditor") != token
    assert [a for a in await _audit(runtime) if a[1].startswith("api_token.")] == [
        ("ops", "api_token.created", "crm-sync"),
        ("ops", "api_token.revoked", "crm-sync"),
        ("ops", "api_token.created", "crm-sync"),
    ]


async def test_a_token_sees_exactly_what_a_user_of_its_role_and_area_sees(
    settings: Settings, connect: Connect, world: World
) -> None:
    token = await _create(settings, "d2-agent", "--role", "agent", "--area", "D2")
    http = await connect()
    async with http.get("/api/me", headers=_bearer(token)) as me:
        body = await me.json()
    assert body["role"] == "agent" and body["area_path"] == world.path_d2
    async with http.get(f"/api/elders/{world.elder_c3}", headers=_bearer(token)) as response:
        assert response.status == 200
    async with http.get(f"/api/elders/{world.elder_c1}", headers=_bearer(token)) as response:
        assert response.status == 404  # district D1: outside the token's area
    async with http.get("/api/elders", params={"q": "张"}, headers=_bearer(token)) as response:
        assert [item["name"] for item in (await response.json())["items"]] == ["张桂兰"]
    # An agent token may not reveal, like an agent.
    async with http.post(f"/api/elders/{world.elder_c3}/reveal", json={"reason": "核实身份"},
                         headers=_bearer(token)) as response:
        assert response.status == 403


async def test_a_mutating_token_call_needs_no_csrf_and_is_audited(
    settings: Settings, connect: Connect, world: World, runtime: Runtime
) -> None:
    token = await _create(settings, "case-tool", "--role", "supervisor", "--area", "D1")
    http = await connect()
    async with http.post(f"/api/elders/{world.elder_c1}/reveal", json={"reason": "工单核实"},
                         headers=_bearer(token)) as response:
        assert response.status == 200
        assert (await response.json())["id_number"] == "120104194005171234"
    audit = await _audit(runtime)
    assert ("api:case-tool", "api_token.used", "case-tool") in audit
    assert ("api:case-tool", "elder.id_number.reveal", str(world.elder_c1)) in audit


async def test_unknown_or_revoked_tokens_are_401_with_a_clear_error(
    settings: Settings, connect: Connect, world: World
) -> None:
    token = await _create(settings, "old-script", "--role", "admin")
    await _cli(settings, "api-token", "revoke", "old-script")
    http = await connect()
    for presented in (token, "cc_made-up", "", "é" * 300):
        async with http.get("/api/me", headers=_bearer(presented)) as response:
            assert response.status == 401
            body = await response.json()
        assert body["error_id"] == "api-token-invalid"


async def test_tokens_open_neither_pages_nor_the_websocket(
    settings: Settings, connect: Connect, world: World
) -> None:
    token = await _create(settings, "admin-script", "--role", "admin")
    http = await connect()
    async with http.get("/users", headers=_bearer(token), allow_redirects=False) as page:
        assert page.status == 303 and page.headers["Location"].startswith("/login")
    try:
        async with http.ws_connect("/ws", headers={**_bearer(token), "Origin": str(http._base_url)}):
            raise AssertionError("the websocket opened with an API token")
    except aiohttp.WSServerHandshakeError as err:
        assert err.status == 401


async def test_a_session_still_needs_its_csrf_token(login: Login, world: World) -> None:
    http = await login("super_d1")
    async with http.post(f"/api/elders/{world.elder_c1}/reveal",
                         json={"reason": "工单核实"}) as response:
        assert response.status == 403
    async with http.post(f"/api/elders/{world.elder_c1}/reveal", json={"reason": "工单核实"},
                         headers={"X-CSRF-Token": await csrf_of(http)}) as response:
        assert response.status == 200


async def test_openapi_declares_the_token_schemes_and_the_alarm_answer(connect: Connect) -> None:
    http = await connect()
    async with http.get("/api/openapi.json") as response:
        document = await response.json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiToken"] == {**schemes["apiToken"], "type": "http", "scheme": "bearer"}
    assert schemes["deviceToken"]["scheme"] == "bearer" and "session" in schemes
    elder = document["paths"]["/api/elders/{elder_id}"]["get"]
    assert elder["security"] == [{"session": []}, {"apiToken": []}]
    assert document["paths"]["/api/openapi.json"]["get"]["security"] == []


def test_openapi_documents_device_alarms_as_202_with_the_device_token(runtime: Runtime) -> None:
    app = create_app(runtime, features=[lambda app: install_web(app, None)])
    operation = app[API].document()["paths"]["/api/alarms"]["post"]
    assert "202" in operation["responses"] and "200" not in operation["responses"]
    assert operation["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/AlarmReceipt"
    }
    assert operation["security"] == [{"deviceToken": []}]
    assert "401" in operation["responses"]
    assert "X-CSRF-Token" not in {p["name"] for p in operation["parameters"]}
