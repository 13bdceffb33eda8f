"""The calendar's admin page: an admin imports a year's published arrangement by upload
(a bad file is refused line by line in plain Mandarin and imports nothing), overrides a day
and removes it, every change audited; other roles are refused, reading and writing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from callcenter.runtime import Runtime
from callcenter.store.models import AuditEntry
from tests.chromium import chromium, served
from tests.factories import DEFAULT_PASSWORD
from tests.webui.conftest import FakeClock, Login, World, csrf_of
from webui import create_app
from workflow.feature import install_console
from workflow.models import CalendarDay, CalendarYear

if TYPE_CHECKING:
    from playwright.async_api import Page

ARRANGEMENT_2027 = """# 国务院办公厅关于2027年部分节假日安排的通知（测试用）
2027-02-05,holiday,春节
2027-02-06,holiday,春节
2027-02-07,holiday,春节
2027-02-08,holiday,春节
2027-02-09,holiday,春节
2027-02-10,holiday,春节
2027-02-11,holiday,春节
2027-02-20,workday,春节
"""
BAD_2027 = "2027-02-05,holiday,春节\n2027-02-30,holiday\n2028-01-01,holiday,元旦\n2027-02-20,shift\n"


async def _admin_page(console_url: str, errors: list[str], browser: object, username: str) -> Page:
    from playwright.async_api import Browser

    assert isinstance(browser, Browser)
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{console_url}/login")
    await page.fill("#username", username)
    await page.fill("#password", DEFAULT_PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{console_url}/**")
    return page


@pytest.fixture
async def console_url(runtime: Runtime, clock: FakeClock, world: World) -> AsyncIterator[str]:
    app = create_app(runtime, clock=clock, features=[lambda a: install_console(a, None)])
    async with served(app) as url:
        yield url


@pytest.mark.browser
async def test_an_admin_imports_a_year_overrides_a_day_and_sees_it(
    console_url: str, runtime: Runtime, tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    bad, good = tmp_path / "bad-2027.csv", tmp_path / "2027.csv"
    bad.write_text(BAD_2027, encoding="utf-8")
    good.write_text(ARRANGEMENT_2027, encoding="utf-8-sig")  # with the BOM Excel writes
    errors: list[str] = []
    async with chromium() as browser:
        page = await _admin_page(console_url, errors, browser, "admin")
        await page.click("header nav >> text=工作日历")
        await expect(page.locator("h1")).to_have_text("工作日历（放假与调休）")
        await page.fill("#cal-year", "2027")
        await page.press("#cal-year", "Enter")
        await expect(page.locator("#cal-source")).to_contain_text("尚未公布")
        await expect(page.locator("tr[data-day='2027-02-05']")).to_contain_text("法定节日（推算）")
        await page.screenshot(path=str(tmp_path / "01-provisional.png"), full_page=True)

        await page.set_input_files("#im-file", str(bad))
        await page.click("#cal-import button[type=submit]")
        await expect(page.locator("#cal-error")).to_contain_text("2027 年的放假安排有错误，没有导入任何内容")
        problems = page.locator("#cal-error li")
        await expect(problems).to_have_text([
            "第 2 行：“2027-02-30”不是日期，应写成 2027-10-01 这样的格式",
            "第 3 行：2028-01-01 不在 2027 年内",
            "第 4 行：第二列应为 holiday（放假）或 workday（调休上班），不能是“shift”",
        ])
        await expect(page.locator("#cal-source")).to_contain_text("尚未公布")  # nothing imported
        await page.screenshot(path=str(tmp_path / "02-refused.png"), full_page=True)

        await page.set_input_files("#im-file", str(good))
        await page.click("#cal-import button[type=submit]")
        await expect(page.locator("#cal-done")).to_contain_text("已导入 2027 年的放假安排")
        await expect(page.locator("#cal-source")).to_contain_text("已由管理员导入（admin")
        makeup = page.locator("tr[data-day='2027-02-20']")
        await expect(makeup).to_contain_text("周六")
        await expect(makeup).to_contain_text("上班（调休）")
        await expect(makeup).to_contain_text("导入的安排")
        await expect(page.locator("tr[data-day='2027-02-11']")).to_contain_text("春节")
        await expect(page.locator("#cal-days")).not_to_contain_text("暂定")
        await page.screenshot(path=str(tmp_path / "03-imported.png"), full_page=True)

        await page.fill("#ov-day", "2027-13-01")
        await page.press("#ov-day", "Enter")
        await expect(page.locator("#cal-error")).to_have_text("“2027-13-01”不是日期，请按 2027-10-01 的格式填写")
        await page.fill("#ov-day", "2027-05-06")
        await page.fill("#ov-name", "停电检修")
        await page.press("#ov-name", "Enter")
        await expect(page.locator("#cal-done")).to_have_text("调整已保存。")
        closed = page.locator("tr[data-day='2027-05-06']")
        await expect(closed).to_contain_text("停电检修")
        await expect(closed).to_contain_text("管理员调整")
        await closed.locator("button").press("Enter")
        await expect(page.locator("#cal-done")).to_have_text("调整已删除。")
        await expect(page.locator("tr[data-day='2027-05-06']")).to_have_count(0)
    assert errors == []
    async with runtime.sessions() as db:
        audited = (await db.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.entity_id)
                                    .where(AuditEntry.action.startswith("calendar."))
                                    .order_by(AuditEntry.seq))).all()
        assert [tuple(a) for a in audited] == [("admin", "calendar.import", "2027"),
                                               ("admin", "calendar.override", "2027-05-06"),
                                               ("admin", "calendar.unset", "2027-05-06")]
        assert (await db.get(CalendarYear, 2027)) is not None


async def test_other_roles_may_neither_see_nor_change_the_calendar(
    server: TestServer, login: Login, runtime: Runtime,
) -> None:
    for username in ("agent_street", "super_d1", "auditor"):
        http = await login(username)
        async with http.get("/calendar", allow_redirects=False) as page:
            assert page.status == 403
        async with http.get("/elders") as home:
            assert 'href="/calendar"' not in await home.text()
        csrf = await csrf_of(http)
        form = aiohttp.FormData({"csrf_token": csrf, "year": "2027"})
        form.add_field("file", ARRANGEMENT_2027.encode(), filename="2027.csv", content_type="text/csv")
        async with http.post("/calendar/import", data=form, allow_redirects=False) as refused:
            assert refused.status == 403
        async with http.post("/calendar/overrides", data={
                "csrf_token": csrf, "day": "2027-05-06", "kind": "holiday"}, allow_redirects=False) as refused:
            assert refused.status == 403
    async with runtime.sessions() as db:
        assert (await db.execute(select(CalendarDay))).first() is None
        assert (await db.get(CalendarYear, 2027)) is None
    admin = await login("admin")
    async with admin.get("/elders") as home:
        assert 'href="/calendar"' in await home.text()
