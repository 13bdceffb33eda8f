"""Headless Chromium: the pop shows how to speak with the elder (hearing, dialect) above
all else and why a care call's elder calls, and the answered call's transfer panel follows
its consultation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import update

from callcenter.store.models import Elder
from tests.chromium import chromium
from tests.factories import DEFAULT_PASSWORD
from tests.wallboard.conftest import CALL_ID, Console, seed_history
from tests.webui.conftest import World

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = pytest.mark.browser


async def _agent_page(browser: object, console: Console, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
    page: Page = await context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{console.url}/login?next=/elders")
    await page.fill("#username", "agent_c1")
    await page.fill("#password", DEFAULT_PASSWORD)
    await page.click("button[type=submit].primary")
    await page.wait_for_url(f"{console.url}/elders*")
    await page.wait_for_function("() => window.screenPop && window.screenPop.synced === true")
    return page


async def test_the_pop_shows_hearing_and_dialect_and_the_panel_follows_a_consultation(
    served: Console, world: World,
) -> None:
    from playwright.async_api import expect

    console = served
    await seed_history(console.runtime, world, console.clock)
    async with console.runtime.sessions.begin() as db:
        await db.execute(update(Elder).where(Elder.id == world.elder_c1).values(
            language="cantonese", hearing="hard_of_hearing"))
    async with chromium() as browser:
        errors: list[str] = []
        page = await _agent_page(browser, console, errors)
        await console.hotline("hotline.call.ringing", console.ringing(
            "agent_c1", elder_id=world.elder_c1, reason="care", care_call="care-1",
            care_reason="关爱电话：张秀英按2想找人说说话"))
        card = page.locator(f'.pop-card[data-call="{CALL_ID}"]')
        await expect(card.locator(".pop-why li").first).to_have_text("关爱电话：张秀英按2想找人说说话")
        await expect(card.locator(".pop-hearing")).to_have_text("重听：请放慢语速、大声说话")
        await expect(card.locator(".pop-language")).to_have_text("粤语")
        # Before the name and the rest of the card: read before the first word is said.
        assert await card.locator(".pop-speak").evaluate(
            "n => n.compareDocumentPosition(n.parentNode.querySelector('.pop-grid')) & 4") == 4
        await expect(card.locator(".pop-transfer")).to_be_hidden()  # still ringing

        await console.hotline("hotline.call.answered", {
            "call_id": CALL_ID, "agent": "agent_c1", "queue": "general",
            "answered_at": console.clock.now.isoformat()})
        panel = card.locator(".pop-transfer")
        await expect(panel).to_be_visible()
        await expect(panel.get_by_role("button", name="先咨询")).to_be_enabled()
        await expect(panel.get_by_role("button", name="完成转接")).to_be_disabled()
        consult = {"call_id": CALL_ID, "consult_call_id": f"{CALL_ID}-a1", "agent": "agent_c1",
                   "to": "agent", "target": "agent_street", "error": ""}
        await console.hotline("hotline.call.consult", {**consult, "state": "calling"})
        await expect(panel.locator(".transfer-status")).to_have_text(
            "正在呼叫 agent_street，来电方保持中")
        await expect(panel.get_by_role("button", name="完成转接")).to_be_disabled()
        await expect(panel.get_by_role("button", name="取消")).to_be_enabled()
        await console.hotline("hotline.call.consult", {**consult, "state": "talking"})
        await expect(panel.get_by_role("button", name="完成转接")).to_be_enabled()
        await expect(panel.get_by_role("button", name="先咨询")).to_be_disabled()
        await console.hotline("hotline.call.consult", {**consult, "state": "failed",
                                                       "error": "the target hung up"})
        await expect(panel.locator(".transfer-status")).to_have_text(
            "已回到来电方：the target hung up")
        await expect(panel.get_by_role("button", name="完成转接")).to_be_disabled()
        await expect(panel.get_by_role("button", name="先咨询")).to_be_enabled()
        assert errors == []
