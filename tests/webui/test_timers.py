"""The admins' timers page and GET /api/timers."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from callcenter.runtime import Runtime
from callcenter.scheduler import ScheduledTimer, TimerState
from tests.webui.conftest import Login
from webui.i18n import LOCALE_DIR

DUE = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


async def _seed(runtime: Runtime) -> None:
    async with runtime.sessions.begin() as db:
        db.add_all([
            ScheduledTimer(kind="sla.check", key="case-1", due_at=DUE, payload={},
                           state=TimerState.FAILED.value, attempts=5,
                           last_error="RuntimeError: provider unreachable", requested_at=DUE),
            ScheduledTimer(kind="care.call", key="elder-7", due_at=DUE, payload={"x": 1},
                           state=TimerState.PENDING.value, attempts=0, requested_at=DUE),
        ])


async def test_admins_list_timers_on_the_page_and_the_api(login: Login, runtime: Runtime) -> None:
    await _seed(runtime)
    admin = await login("admin")
    async with admin.get("/timers", params={"state": "failed"}) as page:
        html = await page.text()
        assert page.status == 200
    assert "case-1" in html and "RuntimeError: provider unreachable" in html
    assert "elder-7" not in html
    assert 'href="/timers"' in html  # in the admin's navigation
    async with admin.get("/api/timers") as response:
        assert response.status == 200
        items = (await response.json())["items"]
    assert sorted((i["kind"], i["key"], i["state"], i["attempts"]) for i in items) == [
        ("care.call", "elder-7", "pending", 0), ("sla.check", "case-1", "failed", 5)]
    assert "payload" not in items[0]  # payloads may hold personal data: not shown
    async with admin.get("/api/timers", params={"kind": "care.call"}) as response:
        assert [i["key"] for i in (await response.json())["items"]] == ["elder-7"]


async def test_timers_are_for_admins_only(login: Login, runtime: Runtime) -> None:
    await _seed(runtime)
    for username in ("agent_c1", "super_d1", "auditor"):
        http = await login(username)
        async with http.get("/api/timers") as response:
            assert response.status == 403
        async with http.get("/timers") as page:
            assert page.status == 403
            assert "case-1" not in await page.text()
        async with http.get("/elders") as page:
            assert 'href="/timers"' not in await page.text()


async def test_a_bad_filter_is_a_422(login: Login) -> None:
    admin = await login("admin")
    async with admin.get("/api/timers", params={"state": "exploded"}) as response:
        assert response.status == 422
    async with admin.get("/api/timers", params={"limit": "0"}) as response:
        assert response.status == 422


def test_every_timer_state_has_a_label() -> None:
    for path in LOCALE_DIR.glob("*.json"):
        catalog = orjson.loads(path.read_bytes())
        assert {f"timer_state.{s}" for s in TimerState} <= set(catalog), path.name
