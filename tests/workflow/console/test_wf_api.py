"""The workflow API through the console app: sessions and API tokens, jurisdiction, the
whole loop by transitions, a stale version, the OpenAPI document, the pages."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from click.testing import CliRunner

from callcenter.cli import main
from callcenter.settings import Settings
from tests.webui.conftest import Connect, Login, World, csrf_of


async def _call(http: aiohttp.ClientSession, method: str, path: str, body: object = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with http.request(method, path, json=body, headers=headers or {}) as response:
        return response.status, await response.json()


async def test_a_work_order_through_the_api_with_a_session(
    server: TestServer, login: Login, world: World,
) -> None:
    http = await login("agent_street")
    csrf = {"X-CSRF-Token": await csrf_of(http)}
    status, created = await _call(http, "POST", "/api/workorders", {
        "title": "助浴", "description": "每周一次", "elder_id": world.elder_c1}, csrf)
    assert status == 201, created
    assert created["number"].startswith("WO-") and created["actions"] == ["review", "reject_review"]
    assert created["remaining"] == "剩余 3 个工作日"
    case = f"/api/workorders/{created['id']}"
    status, providers = await _call(http, "GET", case + "/providers")
    assert status == 200
    provider_id = providers["candidates"][0]["provider_id"]
    assert providers["candidates"][0]["designated"]
    version = created["version"]
    for action, fields in [("review", {"service_type": "home_care"}),
                           ("dispatch", {"provider_id": provider_id}),
                           ("take", {"staff_name": "刘阿姨"}),
                           ("check_in", {"number": created["number"]}),
                           ("return_slip", {"result": "完成", "satisfaction": 5}),
                           ("return_visit", {"opinion": "满意", "satisfaction": 5}),
                           ("close", {})]:
        status, moved = await _call(http, "POST", case + "/transitions",
                                    {"action": action, "version": version, "fields": fields}, csrf)
        assert status == 200, moved
        version = moved["version"]
    assert moved["status"] == "closed" and moved["actions"] == []
    status, stale = await _call(http, "POST", case + "/transitions",
                                {"action": "close", "version": 1, "fields": {}}, csrf)
    assert status == 409 and stale["error_id"] == "version-conflict"
    status, listed = await _call(http, "GET", "/api/workorders?status=closed")
    assert [i["number"] for i in listed["items"]] == [created["number"]]
    # Outside the jurisdiction: not found, not listed.
    other = await login("agent_d2")
    status, _ = await _call(other, "GET", case)
    assert status == 404
    status, listed = await _call(other, "GET", "/api/workorders")
    assert listed["items"] == []
    # Without the CSRF header a session cannot move a case.
    status, _ = await _call(http, "POST", "/api/consults", {"title": "咨询"})
    assert status == 403


async def test_an_api_token_opens_complaints_scoped_like_its_user(
    server: TestServer, connect: Connect, settings: Settings, world: World,
) -> None:
    assert settings.secret_key is not None
    env = {"CALLCENTER_DATABASE_URL": settings.database_url, "CALLCENTER_DATA_DIR": str(settings.data_dir),
           "CALLCENTER_SECRET_KEY": settings.secret_key.get_secret_value()}
    result = await asyncio.to_thread(lambda: CliRunner().invoke(
        main, ["api-token", "create", "crm", "--role", "supervisor", "--area", "D1", "--actor", "ops"],
        env=env, catch_exceptions=False))
    token = result.stdout.strip().splitlines()[-1]
    http = await connect()
    bearer = {"Authorization": f"Bearer {token}"}
    status, created = await _call(http, "POST", "/api/complaints", {
        "title": "服务人员态度差", "elder_id": world.elder_c1, "source": "direct",
        "calls": [{"call_id": "c-77", "recording_name": "hotline/c-77.wav"}]}, bearer)
    assert status == 201, created
    assert created["calls"] == [{"call_id": "c-77", "recording_name": "hotline/c-77.wav"}]
    assert created["timeline"][0]["actor"] == "api:crm"
    status, bad = await _call(http, "POST", "/api/complaints", {"title": ""}, bearer)
    assert status == 422
    status, bad = await _call(http, "POST", f"/api/complaints/{created['id']}/transitions",
                              {"action": "fly", "version": 1}, bearer)
    assert status == 409 and bad["error_id"] == "illegal-transition"
    status, outside = await _call(http, "POST", "/api/complaints",
                                  {"title": "x", "elder_id": world.elder_c3}, bearer)
    assert status == 422 and outside["error_id"] == "case-elder-not-found"


async def test_the_openapi_document_lists_the_workflow_routes(server: TestServer, connect: Connect) -> None:
    http = await connect()
    async with http.get("/api/openapi.json") as response:
        document = await response.json()
    for plural in ("workorders", "consults", "complaints"):
        assert set(document["paths"][f"/api/{plural}"]) == {"get", "post"}
        assert "post" in document["paths"][f"/api/{plural}/{{case_id}}/transitions"]
    assert "TransitionRequest" in document["components"]["schemas"]
    assert "/api/evaluation" in document["paths"]


async def test_evaluation_shows_the_answer_rate_as_unavailable_and_exports_csv(
    server: TestServer, login: Login,
) -> None:
    http = await login("super_d1")
    async with http.get("/evaluation") as response:
        page = await response.text()
    assert response.status == 200 and "话务数据源（热线通话记录）尚未接入" in page
    async with http.get("/evaluation.csv?by=area") as response:
        text = await response.text()
    assert response.status == 200 and response.content_type == "text/csv"
    assert text.lstrip("\ufeff").startswith("key,name,orders")


