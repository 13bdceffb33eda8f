"""Headless Chromium: an SOS pops on an agent's console with its alarm tone; one click joins.

The SOS app runs over ARI against the PBX simulator; the console is served on a free
loopback port in the test's own loop, over the same store and the same MemoryBus, so
the pop travels the product's real path: conference → notifier → bus → /ws → sos.js.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from ari_apps.sos.models import LegRole, LegState
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from tests.chromium import chromium
from tests.factories import DEFAULT_PASSWORD
from tests.sos.conftest import close_harness
from tests.sos.test_console import AGENT_NK_ENDPOINT, UNKNOWN_CALLER, SosConsole, open_console

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(
    sim: PbxSimulator, settings: Settings, sessions: SessionFactory, seeded: int,
    tmp_path: Path, cipher: FieldCipher, passwords: Passwords,
) -> AsyncIterator[tuple[SosConsole, str]]:
    """The SOS app and the console on a free loopback port, sharing store and bus."""
    console = await open_console(sim, settings, sessions, seeded, tmp_path, cipher, passwords)
    runner = web.AppRunner(console.app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield console, f"http://{host}:{port}"
    finally:
        await runner.cleanup()
        await close_harness(console.sos)


async def _logged_in(
    browser: Browser, url: str, errors: list[str], zone: str | None = None
) -> Page:
    """The in-area agent's console, listening for SOS pops (in a browser set to ``zone``)."""
    from playwright.async_api import expect

    context = await browser.new_context(timezone_id=zone, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.on("pageerror", lambda err: errors.append(str(err)))
    await page.goto(f"{url}/login")
    await page.fill("#username", "agent_nk")
    await page.fill("#password", DEFAULT_PASSWORD)
    await page.click("button[type=submit].primary")
    await expect(page.locator("h1")).to_have_text("查询老人")
    # Listening: the socket is up and the active incidents were read (none yet).
    await page.wait_for_function("() => window.sosAlarm && window.sosAlarm.synced === true")
    await expect(page.get_by_role("alertdialog")).to_be_hidden()
    # The agent is at work on the page: browsers let a page sound after a gesture.
    await page.click("h1")
    return page


async def test_an_sos_pops_with_sound_and_one_click_joins_the_agent(
    served: tuple[SosConsole, str],
) -> None:
    from playwright.async_api import expect

    console, url = served
    async with chromium() as browser:
        errors: list[str] = []
        page = await _logged_in(browser, url, errors)

        conference = await console.sos.incident(console.sos.press())

        pop = page.get_by_role("alertdialog")
        await expect(pop).to_be_visible()
        card = pop.locator(f'.sos-card[data-incident="{conference.id}"]')
        await expect(card.locator(".sos-name")).to_have_text("王秀英")
        await expect(card.locator(".sos-health")).to_have_text("高血压")
        await expect(card.locator(".sos-flags")).to_contain_text("独居")
        await expect(card.locator(".sos-area")).to_contain_text("鹏欣社区")
        await expect(card.locator('.sos-leg[data-state="dialing"], '
                                  '.sos-leg[data-state="ringing"]').first).to_be_visible()
        await page.wait_for_function("() => window.sosAlarm.playing === true")
        assert await page.evaluate("window.sosAlarm.state") == "running"
        join = card.get_by_role("button", name="从我的软电话加入")
        await expect(join).to_be_focused()  # the alertdialog takes the focus

        await join.click()
        await conference.wait_for(
            lambda c: any(leg.role is LegRole.AGENT for leg in c.legs.values())
        )
        leg_id = next(leg.id for leg in conference.legs.values() if leg.role is LegRole.AGENT)
        assert conference.legs[leg_id].candidate.number == AGENT_NK_ENDPOINT  # type: ignore[union-attr]
        await expect(card.locator(".sos-join-status")).to_contain_text(AGENT_NK_ENDPOINT)
        assert await page.evaluate("window.sosAlarm.playing") is False  # joining silences

        await console.sos.advance(1)  # the softphone rings and is answered
        await conference.wait_for(lambda c: c.legs[leg_id].state is LegState.ANSWERED
                                  or c.legs[leg_id].state is LegState.JOINED)
        await console.sos.advance(2)  # the announcement, then into the bridge
        await conference.wait_for(lambda c: c.legs[leg_id].state is LegState.JOINED)
        bridge = console.sos.sim.model.bridges[conference.bridge_id]
        assert leg_id in {channel.id for channel in bridge.channels}

        mine = card.locator(f'.sos-leg[data-leg="{leg_id}"]')
        await expect(mine).to_have_attribute("data-state", "joined")
        await expect(mine).to_contain_text("（我）")
        await expect(card.locator(".sos-join-status")).to_have_text("您已加入通话。")
        assert errors == []


async def test_an_unidentified_caller_pops_as_such_and_the_pop_closes_when_the_call_ends(
    served: tuple[SosConsole, str],
) -> None:
    from playwright.async_api import expect

    console, url = served
    async with chromium() as browser:
        errors: list[str] = []
        page = await _logged_in(browser, url, errors)
        channel = console.sos.press(UNKNOWN_CALLER)
        conference = await console.sos.incident(channel)

        pop = page.get_by_role("alertdialog")
        card = pop.locator(f'.sos-card[data-incident="{conference.id}"]')
        await expect(card.locator(".sos-name")).to_have_text(f"未识别来电 {UNKNOWN_CALLER}")
        # Nobody to call for kin, doctor, social worker: said in the legs and as alerts.
        await expect(card.locator('.sos-exhausted[data-role="kin"]')).to_have_text(
            "家属：已无人可联系")
        await expect(card.locator(".sos-alerts")).to_contain_text("已无人可联系")
        await page.wait_for_function("() => window.sosAlarm.playing === true")

        await console.sos.advance(1)  # 120 answers, hears the announcement, joins
        await console.sos.advance(2)
        await conference.wait_for(lambda c: len(c.parties) == 2)
        await expect(card.locator('.sos-leg[data-state="joined"]')).to_have_count(2)

        console.sos.sim.calls.hangup(console.sos.sim.model.channels[channel], 16)
        await conference.wait_for(lambda c: c.done.is_set())
        await expect(pop).to_be_hidden()
        assert await page.evaluate("window.sosAlarm.playing") is False
        assert errors == []


async def test_acknowledging_silences_and_a_reload_does_not_pop_it_again(
    served: tuple[SosConsole, str],
) -> None:
    from playwright.async_api import expect

    console, url = served
    async with chromium() as browser:
        errors: list[str] = []
        page = await _logged_in(browser, url, errors)
        conference = await console.sos.incident(console.sos.press())
        pop = page.get_by_role("alertdialog")
        await expect(pop.locator(".sos-name")).to_have_text("王秀英")
        await page.wait_for_function("() => window.sosAlarm.playing === true")

        await pop.get_by_role("button", name="已知晓（停止提示音）").click()
        await expect(pop).to_be_hidden()
        assert await page.evaluate("window.sosAlarm.playing") is False

        # Another page of the console: still active, but this agent has seen it.
        await page.goto(f"{url}/incidents")
        await page.wait_for_function("() => window.sosAlarm && window.sosAlarm.synced === true")
        await expect(page.locator(f'tr[data-incident="{conference.id}"]')).to_be_visible()
        await expect(pop).to_be_hidden()
        assert errors == []
