"""Headless Chromium against a real console server: an agent finds an elder, how to speak
with them, and their contacts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import update

from callcenter.runtime import Runtime
from callcenter.store.models import Elder, ElderLanguage, Hearing
from tests.chromium import chromium, served
from tests.factories import DEFAULT_PASSWORD
from tests.webui.conftest import FakeClock, World
from webui import create_app

pytestmark = pytest.mark.browser


@pytest.fixture
async def console_url(runtime: Runtime, clock: FakeClock, world: World) -> AsyncIterator[str]:
    """The console served on a free loopback port, in the test's own event loop."""
    async with served(create_app(runtime, clock=clock)) as url:
        yield url


async def test_agent_logs_in_searches_and_sees_the_elders_contacts(
    console_url: str, world: World, runtime: Runtime
) -> None:
    from playwright.async_api import expect

    async with runtime.sessions.begin() as db:  # speaks Cantonese, hard of hearing
        await db.execute(update(Elder).where(Elder.id == world.elder_c1).values(
            language=ElderLanguage.CANTONESE.value, hearing=Hearing.HARD_OF_HEARING.value))
    async with chromium() as browser:
        page = await browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        await page.goto(f"{console_url}/elders")
        assert "/login" in page.url  # not logged in yet

        await page.fill("#username", "agent_street")
        await page.fill("#password", DEFAULT_PASSWORD)
        await page.click("button[type=submit].primary")
        await expect(page.locator("h1")).to_have_text("查询老人")

        await page.fill("#q", "张秀")
        await page.press("#q", "Enter")
        await page.click("text=张秀英")
        await expect(page.locator("h1")).to_contain_text("张秀英")
        # How to speak with her, right under her name, before anything else.
        speak = page.locator("h1 + p.speak")
        await expect(speak.locator("#elder-hearing")).to_have_text("重听：请放慢语速、大声说话")
        await expect(speak.locator("#elder-language")).to_have_text("讲粤语")
        await expect(speak.locator("#elder-hearing")).to_be_visible()
        await expect(page.locator("dl")).to_contain_text("粤语")

        contacts = page.locator("table.contacts tbody tr")
        await expect(contacts).to_have_count(4)
        await expect(contacts.nth(1)).to_contain_text("张伟")
        await expect(contacts.nth(1)).to_contain_text("13911110001")
        await expect(page.locator("#id-number")).to_have_text("120104***********4")
        # The agent role has no reveal button; CSP allowed our own script to run cleanly.
        assert await page.locator("form.reveal").count() == 0
        assert errors == []
