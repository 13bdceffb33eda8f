"""Headless Chromium: the care page shows today's calls, the elders not reached, the
figures apart from inbound calls, and a supervisor pauses a campaign with one click."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ari_apps.care import broadcasts
from ari_apps.care.models import CareKind
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import ElderPhone
from tests.care.conftest import ELDER_PHONE, Elders, close_care
from tests.care.test_care_console import CareConsole, open_console
from tests.chromium import chromium
from tests.chromium import served as serve_app
from tests.factories import DEFAULT_PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(sim: PbxSimulator, settings: Settings, sessions: SessionFactory,
                 elders: Elders, tmp_path: Path, cipher: FieldCipher,
                 passwords: Passwords) -> AsyncIterator[tuple[CareConsole, str]]:
    console = await open_console(sim, settings, sessions, elders, tmp_path, cipher, passwords)
    try:
        async with serve_app(console.app) as url:
            yield console, url
    finally:
        await close_care(console.care)


async def _signed_in(browser: Any, url: str) -> tuple[Any, list[str]]:
    """A page of the console signed in as the district's supervisor, and its script errors."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1000},
                                        locale="zh-CN")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{url}/login")
    await page.fill("#username", "sup_nk")
    await page.fill("#password", DEFAULT_PASSWORD)
    await page.click("button[type=submit].primary")
    return page, errors


async def test_the_care_page_shows_results_and_pauses_a_campaign(
    served: tuple[CareConsole, str], tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    console, url = served
    care = console.care
    care.person(ELDER_PHONE, ring=3, dtmf="1", dtmf_after=2)
    well = await care.call_now()
    await care.until(lambda: care.done(well))
    other = next(iter(care.elders.ids))
    unreached = await care.call_now(other)  # then the elder's phone is struck off
    async with care.sessions.begin() as session:
        await session.execute(ElderPhone.__table__.delete().where(
            ElderPhone.elder_id == care.elders.ids[other]))
    await care.until(lambda: care.done(unreached))

    async with chromium() as browser:
        page, errors = await _signed_in(browser, url)
        await page.click("a[href='/care']")
        await expect(page.locator("h1")).to_have_text("关爱电话")
        today = page.locator("table.care-calls.today")
        await expect(today.locator(f"tr[data-task='{well}'] .care-result")).to_have_text(
            "平安（按1）")
        await expect(today.locator(f"tr[data-task='{unreached}'] .care-result")).to_have_text(
            "呼叫失败")
        await expect(page.locator(f"table.unreached tr[data-task='{unreached}']")).to_contain_text(
            "已通知家属/社工，请坐席回拨")
        await expect(page.locator("#care-today")).to_have_text("2")
        await expect(page.locator("#inbound-today")).to_have_text("0")
        row = page.locator("table.care-campaigns tr[data-kind='wellbeing']")
        await expect(row.locator(".campaign-state")).to_have_text("进行中")
        shot = tmp_path / "care.png"
        await page.screenshot(path=str(shot), full_page=True)
        if os.environ.get("SCREENSHOT_DIR"):  # to look at it
            (Path(os.environ["SCREENSHOT_DIR"]) / "care.png").write_bytes(shot.read_bytes())
        await row.locator("button.campaign-toggle").click()
        await expect(row.locator(".campaign-state")).to_have_text("已暂停")
        await expect(row.locator("button.campaign-toggle")).to_have_text("恢复")
        await care.advance(1)
        assert CareKind.WELLBEING in care.app.dialler.paused_kinds
        await page.reload()
        await expect(row.locator(".campaign-state")).to_have_text("已暂停")

        await page.click(f"table.unreached tr[data-task='{unreached}'] a")
        await expect(page.locator("h1")).to_have_text("李0的关爱记录")
        await expect(page.locator("ol.care-timeline")).to_contain_text(
            "多次未接通：已通知家属和社工，坐席回拨")
        assert errors == []


async def test_a_supervisor_issues_a_weather_warning_from_the_care_page(
    served: tuple[CareConsole, str],
) -> None:
    from playwright.async_api import expect

    console, url = served
    care = console.care
    for number in [ELDER_PHONE, *(f"1390000200{n}" for n in range(6))]:
        care.person(number, ring=3, dtmf="1", dtmf_after=3)
    async with chromium() as browser:
        page, errors = await _signed_in(browser, url)
        await page.goto(f"{url}/care")
        await expect(page.locator("#care-broadcasts-h")).to_have_text("天气预警")
        form = page.locator("#care-broadcast-form")
        options = await form.locator("select[name=area_code] option").all_inner_texts()
        assert "和平区（120101）" not in options, "only areas in my jurisdiction"
        await form.locator("select[name=area_code]").select_option("120104")
        await form.locator("textarea[name=message]").fill("今晚有大风降温，请关好门窗，注意保暖")
        await form.locator("input[name=until]").fill("2001-01-01T08:00")
        await form.locator("button[type=submit]").click()
        shown = form.locator(".broadcast-error")
        await expect(shown).to_be_visible()
        await expect(shown).to_contain_text("预警内容或有效期有误")
        await expect(shown).to_contain_text("is in the past")
        await expect(page.locator("table.care-broadcasts")).to_have_count(0)

        await form.locator("input[name=until]").fill("")
        await form.locator("button[type=submit]").click()
        row = page.locator("table.care-broadcasts tbody tr")
        await expect(row).to_have_count(1)
        await expect(row.locator(".broadcast-message")).to_have_text(
            "今晚有大风降温，请关好门窗，注意保暖")
        await expect(row.locator(".broadcast-state")).to_have_text("进行中")
        await expect(row.locator(".broadcast-counts")).to_contain_text("7位老人")
        ident = int(await row.get_attribute("data-broadcast") or "0")

        async def finished() -> bool:
            async with care.sessions() as session:
                tally = (await broadcasts.counts(session, [ident]))[ident]
            return tally["confirmed"] == 7

        await care.until(finished, limit=600, step=5)
        await page.reload()
        await expect(row.locator(".broadcast-state")).to_have_text("已完成")
        await expect(row.locator("[data-count=confirmed]")).to_have_text("已确认 7")
        await expect(row.locator("button.broadcast-cancel")).to_have_count(0)
        assert errors == []
