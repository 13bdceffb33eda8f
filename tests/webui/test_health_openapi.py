"""/healthz, the generated OpenAPI document, error bodies and the message catalogs."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.bus.redis import RedisBus
from callcenter.runtime import Runtime
from callcenter.store.models import ContactRole, ElderStatus, Gender, Role
from tests.conftest import REDIS_URL
from tests.webui.conftest import Connect, FakeClock, Login
from webui import create_app
from webui.health import HEALTH, CheckResult, default_checks
from webui.i18n import LOCALE_DIR

ROOT = Path(__file__).parents[2]
#: The console's web folder and every feature's own (``<package>/<feature>/web``).
WEB_DIRS = [ROOT / "webui", *sorted(ROOT.glob("*/*/web"))]


async def test_healthz_reports_database_and_unconfigured_components(connect: Connect) -> None:
    http = await connect()
    async with http.get("/healthz") as response:
        assert response.status == 200
        report = await response.json()
    assert report["status"] == "ok"
    assert report["checks"]["database"]["status"] == "ok"
    assert report["checks"]["database"]["latency_ms"] >= 0
    assert report["checks"]["redis"] == {"status": "not-configured", "latency_ms": None,
                                         "detail": None}
    assert report["checks"]["asterisk"]["status"] == "not-configured"


async def test_healthz_is_503_when_a_registered_check_fails(
    runtime: Runtime, clock: FakeClock
) -> None:
    async def asterisk_down() -> CheckResult:
        return CheckResult(status="error", detail="ARI websocket disconnected")

    app = create_app(runtime, clock=clock)
    app[HEALTH].register("asterisk", asterisk_down)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/healthz")) as response:
            assert response.status == 503
            report = await response.json()
    assert report["status"] == "error"
    assert report["checks"]["asterisk"]["detail"] == "ARI websocket disconnected"
    assert report["checks"]["database"]["status"] == "ok"


async def test_healthz_pings_redis_when_configured(runtime: Runtime, clock: FakeClock) -> None:
    import dataclasses

    settings = runtime.settings.model_copy(update={"redis_url": REDIS_URL})
    bus = RedisBus(REDIS_URL)
    redis_runtime = dataclasses.replace(runtime, settings=settings, bus=bus)
    try:
        report = await default_checks(redis_runtime).run()
    finally:
        await bus.close()
    assert report.checks["redis"].status == "ok"
    unreachable = RedisBus("redis://127.0.0.1:1/0")
    try:
        report = await default_checks(dataclasses.replace(redis_runtime, bus=unreachable)).run()
    finally:
        await unreachable.close()
    assert report.checks["redis"].status == "error" and report.status == "error"


async def test_openapi_lists_every_api_route_with_parameters_and_responses(
    connect: Connect, app: web.Application
) -> None:
    http = await connect()
    async with http.get("/api/openapi.json") as response:
        assert response.status == 200
        document = await response.json()
    assert document["openapi"].startswith("3.1")
    routed = {
        (route.method, re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.resource.canonical))
        for route in app.router.routes()
        if route.resource is not None and route.resource.canonical.startswith("/api/")
        and route.method != "HEAD"
    }
    documented = {
        (method.upper(), path) for path, ops in document["paths"].items() for method in ops
    }
    assert routed <= documented
    search = document["paths"]["/api/elders"]["get"]
    assert {p["name"]: p["required"] for p in search["parameters"]} == {"q": True, "limit": False}
    assert search["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ElderSearchResult"
    }
    reveal = document["paths"]["/api/elders/{elder_id}/reveal"]["post"]
    assert {p["name"] for p in reveal["parameters"]} == {"elder_id", "X-CSRF-Token"}
    assert {"200", "401", "403", "404", "422"} <= set(reveal["responses"])
    schemas = document["components"]["schemas"]
    assert {"ElderProfile", "ContactView", "ErrorBody", "RevealRequest"} <= set(schemas)


async def test_unexpected_error_answers_500_without_a_traceback(
    runtime: Runtime, clock: FakeClock
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail 13800138001")

    app = create_app(runtime, clock=clock)
    # Under a public prefix so the failing handler is reached without a session.
    app.router.add_get("/healthz-broken", broken)
    async with TestServer(app) as server, aiohttp.ClientSession() as http:
        async with http.get(server.make_url("/healthz-broken")) as page:
            html = await page.text()
            assert page.status == 500
    assert "Traceback" not in html and "13800138001" not in html and "secret" not in html


async def test_api_errors_have_an_id_a_status_and_details(login: Login) -> None:
    http = await login("agent_c1")
    async with http.get("/api/elders/999999") as response:
        body = await response.json()
    assert response.status == 404
    assert body == {"error_id": "elder-not-found", "status": 404, "message": "未找到该老人。",
                    "details": {"elder_id": 999999}, "reference": None}
    async with http.get("/api/nothing-here") as response:
        assert response.status == 404
        assert (await response.json())["error_id"] == "not-found"


def test_catalogs_have_the_same_keys_and_cover_every_template_string() -> None:
    catalogs: dict[str, dict[str, str]] = {}
    for directory in WEB_DIRS:
        for path in (directory / "locale").glob("*.json"):
            messages = orjson.loads(path.read_bytes())
            mine = catalogs.setdefault(path.stem, {})
            assert not mine.keys() & messages.keys(), f"{path}: keys defined twice"
            mine.update(messages)
    assert len(WEB_DIRS) > 1 and (WEB_DIRS[0] / "locale") == LOCALE_DIR
    assert set(catalogs) == {"zh-CN", "en"}
    assert set(catalogs["zh-CN"]) == set(catalogs["en"])
    used = set()
    for template in (t for d in WEB_DIRS for t in (d / "templates").glob("*.html")):
        used |= set(re.findall(r"""_\(\s*["']([\w.\-]+)["']\s*[,)]""", template.read_text()))
    # Keys built from a domain value ("role." ~ user.role) must cover every value.
    for prefix, values in (("role.", Role), ("gender.", Gender), ("status.", ElderStatus),
                           ("contact_role.", ContactRole), ("lang.switch.", catalogs)):
        used |= {f"{prefix}{value}" for value in values}
    assert used <= set(catalogs["zh-CN"])
