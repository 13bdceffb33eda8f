"""Headless Chromium: an agent takes a work order through its whole loop from the keyboard,
and a complaint runs to closure by a supervisor; screenshots of each page go to tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from callcenter.bus import BusMessage
from callcenter.runtime import Runtime
from tests.chromium import chromium, served
from tests.factories import DEFAULT_PASSWORD
from tests.webui.conftest import FakeClock, World
from webui import create_app
from workflow.feature import install_console

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.browser


@pytest.fixture
async def console_url(runtime: Runtime, clock: FakeClock, world: World,
                      server: object) -> AsyncIterator[str]:
    """The console with the workflow pages on a free loopback port (``server`` set P1's area)."""
    app = create_app(runtime, clock=clock, features=[lambda a: install_console(a, None)])
    async with served(app) as url:
        yield url


async def _login(browser: Browser, url: str, username: str, errors: list[str]) -> Page:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{url}/login")
    await page.fill("#username", username)
    await page.fill("#password", DEFAULT_PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{url}/elders")
    return page


async def _act(page: Page, action: str, fields: dict[str, str], shots: Path, step: int) -> None:
    """Fill the move's form from the keyboard and submit it with Enter or its button."""
    from playwright.async_api import expect

    form = page.locator(f"form.wf-action[data-action={action}]")
    await expect(form).to_be_visible()
    for name, value in fields.items():
        field = form.locator(f"[name={name}]")
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.fill(value)
    await page.screenshot(path=str(shots / f"{step:02d}-{action}.png"), full_page=True)
    await form.locator("button[type=submit]").press("Enter")
    await expect(page.locator(f"table.wf-timeline tr[data-action={action}]")).to_have_count(1)


async def test_a_work_order_through_its_whole_loop_in_the_browser(
    console_url: str, world: World, tmp_path: Path, runtime: Runtime,
) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    async with chromium() as browser:
        page = await _login(browser, console_url, "agent_street", errors)
        await page.click("header nav >> text=工单")
        await expect(page.locator("h1")).to_have_text("工单")
        await page.get_by_role("link", name="新建工单").press("Enter")
        await expect(page.locator("h1")).to_have_text("新建工单")
        # The title has the focus; an empty form is refused in plain Mandarin.
        await page.keyboard.press("Enter")
        await expect(page.locator("#form-error")).to_contain_text("请检查并填写： 事由")
        await page.screenshot(path=str(tmp_path / "00-new-invalid.png"), full_page=True)
        await page.keyboard.type("助浴服务")
        await page.fill("#description", "老人行动不便，需要每周助浴一次")
        await page.fill("#elder_id", str(world.elder_c1))
        await page.press("#elder_id", "Enter")
        await expect(page.locator("#case-status")).to_have_text("已受理")
        await expect(page.locator("#case-deadline")).to_contain_text("剩余 3 个工作日")
        number = (await page.locator("h1").inner_text()).split()[1]
        # Only what an agent may do now: review, or send it back.
        await expect(page.locator("form.wf-action")).to_have_count(2)
        await page.screenshot(path=str(tmp_path / "01-accepted.png"), full_page=True)
        # Dispatching without a reason to someone else, or a missing field, says what is wrong.
        await _act(page, "review", {"service_type": "home_care"}, tmp_path, 2)
        await _act(page, "dispatch", {}, tmp_path, 3)  # the recommended (designated) provider
        await expect(page.locator("#case-provider")).to_contain_text("乐康居家养老服务中心")
        await expect(page.locator("#case-provider")).to_contain_text("老人指定的服务商")
        form = page.locator("form.wf-action[data-action=take]")
        await form.locator("button").press("Enter")
        await expect(page.locator("#form-error")).to_have_text("请填写： 服务人员")
        await _act(page, "take", {"staff_name": "刘阿姨"}, tmp_path, 4)
        form = page.locator("form.wf-action[data-action=check_in]")
        await form.locator("[name=number]").fill("WO-00000000-000000")
        await form.locator("button").press("Enter")
        await expect(page.locator("#form-error")).to_contain_text("填写的内容不正确")
        await _act(page, "check_in", {"number": number}, tmp_path, 5)
        await _act(page, "return_slip", {"result": "已完成助浴，老人情况良好", "satisfaction": "5"}, tmp_path, 6)
        await _act(page, "return_visit", {"opinion": "服务周到", "satisfaction": "5"}, tmp_path, 7)
        await _act(page, "close", {}, tmp_path, 8)
        await expect(page.locator("#case-status")).to_have_text("已办结")
        await expect(page.locator("#no-actions")).to_be_visible()
        await expect(page.locator("table.wf-timeline tbody tr")).to_have_count(8)
        await page.screenshot(path=str(tmp_path / "09-closed.png"), full_page=True)
        await page.goto(f"{console_url}/workorders?status=closed")
        await expect(page.locator("table.wf-cases tbody tr")).to_have_count(1)
        await page.screenshot(path=str(tmp_path / "10-list.png"), full_page=True)
        # A deadline warning the timers publish pops on the console of the case's area.
        await page.wait_for_function("() => window.consoleReady === true")
        await runtime.bus.publish(BusMessage("workflow.deadline_warning", {
            "kind": "workorder", "id": 1, "number": number, "due_at": ""},
            {"roles": ["agent", "supervisor"], "area_path": world.path_c1}))
        await expect(page.locator("#live a")).to_have_text(f"{number} 即将到期，请尽快办理")
    assert errors == []


async def test_a_complaint_to_closure_in_the_browser(
    console_url: str, world: World, tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    errors: list[str] = []
    async with chromium() as browser:
        agent = await _login(browser, console_url, "agent_street", errors)
        await agent.goto(f"{console_url}/complaints/new")
        await agent.fill("#title", "服务人员迟到两小时")
        await agent.fill("#elder_id", str(world.elder_c1))
        await agent.fill("#calls", "call-501 hotline/call-501.wav")
        await agent.select_option("#provider_id", label="乐康居家养老服务中心")
        await agent.click("button[type=submit].primary")
        await expect(agent.locator("#case-deadline")).to_contain_text("剩余 5 个工作日")
        await expect(agent.locator("main")).to_contain_text("录音保全中：hotline/call-501.wav")
        await _act(agent, "investigate", {}, tmp_path, 11)
        await _act(agent, "propose", {"proposal": "向老人道歉，减免当次服务费"}, tmp_path, 12)
        await _act(agent, "reply", {"reply": "老人接受道歉和减免", "satisfaction": "4"}, tmp_path, 13)
        await expect(agent.locator("#no-actions")).to_be_visible()  # closing is a supervisor's
        url = agent.url
        supervisor = await _login(browser, console_url, "super_d1", errors)
        await supervisor.goto(url)
        await _act(supervisor, "close", {"valid": "yes"}, tmp_path, 14)
        await expect(supervisor.locator("#case-status")).to_have_text("已办结")
        await expect(supervisor.locator("main")).to_contain_text("有效办结（投诉人认可）")
        await supervisor.screenshot(path=str(tmp_path / "15-complaint-closed.png"), full_page=True)
        await supervisor.goto(f"{console_url}/evaluation")
        await expect(supervisor.locator("#answer-rate")).to_contain_text("尚未接入")
        row = supervisor.locator("table.wf-evaluation tbody tr")
        await expect(row).to_contain_text("乐康居家养老服务中心")
        await expect(row).to_contain_text("被投诉 1 件")
        await expect(supervisor.locator("figure.wf-chart svg rect")).to_have_count(2)
        await supervisor.screenshot(path=str(tmp_path / "16-evaluation.png"), full_page=True)
    assert errors == []
