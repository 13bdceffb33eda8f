"""Headless Chromium: the pop as two agents live it (it reaches the one rung, survives a
reload, leaves when another agent answers), and the supervisor's live view updating on a
bus message with its charts drawn. Screenshots go to CALLCENTER_TEST_SHOTS when set."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

from callcenter.bus import BusMessage
from callcenter.calls.models import Call
from callcenter.settings import Settings
from callcenter.store.models import utcnow
from tests.chromium import chromium
from tests.factories import DEFAULT_PASSWORD
from tests.wallboard.conftest import CALL_ID, Console, seed_history
from tests.webui.conftest import World

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CALLCENTER_TEST_SHOTS")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The live view counts "today" in ``TIME_ZONE`` and the browser runs on the real time:
    a zone where it is day now, so the eight hours of calls seeded before now all fall
    today (in Shanghai, after midnight most of them were yesterday's)."""
    now = utcnow()
    for zone in ("Asia/Shanghai", "Europe/London", "America/Los_Angeles"):  # 8 h apart
        if 9 <= now.astimezone(ZoneInfo(zone)).hour < 21:
            return settings.model_copy(update={"time_zone": zone})
    raise AssertionError("three zones 8 hours apart: one of them is in 09:00-21:00")


def _shot(tmp_path: Path, name: str) -> Path:
    return Path(SHOTS or tmp_path) / name


async def _login(browser: Browser, console: Console, username: str, errors: list[str],
                 then: str = "/elders") -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{console.url}/login?next={then}")
    await page.fill("#username", username)
    await page.fill("#password", DEFAULT_PASSWORD)
    await page.click("button[type=submit].primary")
    await page.wait_for_url(f"{console.url}{then}*")
    return page


async def _pop_synced(page: Page) -> None:
    await page.wait_for_function("() => window.screenPop && window.screenPop.synced === true")


async def test_the_pop_at_the_rung_agent_only_survives_reload_and_leaves_on_answer_elsewhere(
    served: Console, world: World, tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    console = served
    await seed_history(console.runtime, world, console.clock)
    async with chromium() as browser:
        errors: list[str] = []
        c1 = await _login(browser, console, "agent_c1", errors)
        street = await _login(browser, console, "agent_street", errors)
        for page in (c1, street):
            await _pop_synced(page)

        await console.hotline("hotline.call.ringing",
                              console.ringing("agent_c1", elder_id=world.elder_c1))
        card = c1.locator(f'.pop-card[data-call="{CALL_ID}"]')
        await expect(card.locator(".pop-name")).to_have_text("张秀英")
        await expect(card.locator(".pop-state")).to_have_text("振铃中")
        await expect(card.locator(".pop-caller")).to_have_text("老人本人 · 138****8001")
        await expect(card.locator(".pop-flags")).to_contain_text("独居")
        await expect(card.locator(".pop-health")).to_contain_text("高血压")
        await expect(card.locator(".pop-why")).to_contain_text("路由：高危老人优先")
        await expect(card.locator(".pop-why")).to_contain_text("有进行中的 SOS 事件")
        await expect(card.locator(".pop-why")).to_contain_text("等待 42 秒后挂断")
        await expect(card.locator(".pop-orders")).to_contain_text("WO-2025-0001 助浴上门服务")
        await expect(card.locator(".pop-complaints")).to_contain_text(
            "CP-2025-0001 上门服务迟到 · 调查中")
        await expect(card.locator(".pop-complaints")).not_to_contain_text("已办结")
        await expect(card.get_by_role("link", name="查看档案")).to_have_attribute(
            "href", f"/elders/{world.elder_c1}")
        await expect(street.locator("#screenpop")).to_be_hidden()
        await c1.screenshot(path=_shot(tmp_path, "screenpop-ringing.png"))

        await c1.reload()
        await _pop_synced(c1)
        await expect(card.locator(".pop-name")).to_have_text("张秀英")

        # Both rung; the street agent answers: the pop leaves agent_c1 and stays there.
        await console.hotline("hotline.call.ringing",
                              console.ringing("agent_street", elder_id=world.elder_c1))
        await expect(street.locator(f'.pop-card[data-call="{CALL_ID}"]')).to_be_visible()
        await console.hotline("hotline.call.answered", {
            "call_id": CALL_ID, "agent": "agent_street", "queue": "general",
            "answered_at": console.clock.now.isoformat()})
        await expect(card).to_have_count(0)
        await expect(c1.locator("#screenpop")).to_be_hidden()
        mine = street.locator(f'.pop-card[data-call="{CALL_ID}"]')
        await expect(mine.locator(".pop-state")).to_have_text("通话中")
        await mine.get_by_role("button", name="新建工单").click()
        await expect(mine.locator(".pop-status")).to_have_text("已记入本次通话：新建工单")
        await street.screenshot(path=_shot(tmp_path, "screenpop-answered.png"))
        await c1.reload()
        await _pop_synced(c1)
        await expect(c1.locator("#screenpop")).to_be_hidden()
        assert errors == []


async def _calls_today(console: Console) -> None:
    """A day's traffic so far: a call every 20 minutes over the last 8 hours."""
    now = console.clock.now
    async with console.runtime.sessions.begin() as db:
        for i in range(24):
            started = now - timedelta(minutes=20 * i + 5)
            outcome = ("abandoned", "short_abandon")[i % 2] if i % 5 == 0 else "answered"
            answered = outcome == "answered"
            db.add(Call(id=f"day-{i}", kind="hotline", direction="inbound", queue="general",
                        agent="agent_c1" if answered else None, started_at=started,
                        queued_at=started, answered_at=started + timedelta(seconds=8 + i)
                        if answered else None, ended_at=started + timedelta(minutes=3),
                        wait_seconds=8 + i if answered else (30 if i % 2 == 0 else 2),
                        talk_seconds=150 if answered else 0, wrapup_seconds=30 if answered else 0,
                        outcome=outcome))


async def test_the_live_view_updates_on_a_bus_message_and_draws_its_charts(
    served: Console, world: World, tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    console = served
    await _calls_today(console)
    async with chromium() as browser:
        errors: list[str] = []
        page = await _login(browser, console, "super_d1", errors, then="/wallboard")
        await page.wait_for_function("() => window.wallboard && window.wallboard.synced === true")
        row = page.locator('#wb-queues tr[data-queue="general"]')
        await expect(row.locator(".wb-offered")).to_have_text("24")
        assert await page.locator("#wb-chart svg rect.bar").count() > 10
        assert await page.locator("#wb-chart svg .sl").count() >= 1

        since = console.clock.now - timedelta(seconds=75)
        await console.runtime.bus.publish(BusMessage("hotline.queue.changed", {
            "queue": "general", "waiting": 3, "longest_wait_since": since.isoformat(),
            "callers": []}))
        await expect(row.locator(".wb-waiting")).to_have_text("3")
        await expect(page.locator("#wb-waiting")).to_have_text("3")
        await expect(row.locator(".wb-longest")).to_contain_text("1:")
        await console.runtime.bus.publish(BusMessage("hotline.agent.changed", {
            "agent": "agent_c1", "state": "in_call", "reason": "", "queues": ["general"],
            "since": console.clock.now.isoformat()}))
        await expect(page.locator('#wb-agents tr[data-agent="agent_c1"] .wb-state')).to_have_text(
            "通话中")

        # A call ends: the figures are read again, the chart is drawn again.
        charts = await page.evaluate("window.wallboard.charts")
        async with console.runtime.sessions.begin() as db:
            now = console.clock.now
            db.add(Call(id="day-new", kind="hotline", direction="inbound", queue="general",
                        agent="agent_street", started_at=now - timedelta(minutes=1),
                        queued_at=now - timedelta(minutes=1), answered_at=now,
                        ended_at=now, wait_seconds=5, talk_seconds=40, outcome="answered"))
        await console.runtime.bus.publish(BusMessage("hotline.call.ended", {
            "call_id": "day-new", "queue": "general", "agent": "agent_street",
            "outcome": "answered", "ended_at": now.isoformat()}))
        await expect(row.locator(".wb-offered")).to_have_text("25")
        await page.wait_for_function(f"() => window.wallboard.charts > {charts}", timeout=15000)
        assert await page.locator("#wb-chart svg rect.bar").count() > 10
        await page.screenshot(path=_shot(tmp_path, "wallboard.png"), full_page=True)
        assert errors == []
