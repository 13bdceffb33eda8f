"""Headless Chromium: the pop as an agent lives it. Escape closes it (focus returns), the
tab title says SOS while an incident is unacknowledged, an acknowledgement holds in every
browser of the user, the pop never covers the incident page it links to, and live times
show in the centre's time zone whatever the browser's.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest

import tests.sos.test_console_browser as browser_tests
from callcenter.pbxsim.server import PbxSimulator
from tests.chromium import chromium
from tests.sos.conftest import KIN
from tests.sos.test_console import UNKNOWN_CALLER, SosConsole

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.browser
served = browser_tests.served
#: Where the screenshots go for a person to look at (CALLCENTER_TEST_SHOTS), else tmp_path.
SHOTS = os.environ.get("CALLCENTER_TEST_SHOTS")


_agent = browser_tests._logged_in


def _shot(tmp_path: Path, name: str) -> Path:
    return Path(SHOTS or tmp_path) / name


async def test_escape_closes_the_pop_the_title_says_sos_and_the_ack_holds_everywhere(
    served: tuple[SosConsole, str], tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    console, url = served
    async with chromium() as browser:
        errors: list[str] = []
        page = await _agent(browser, url, errors)
        title = await page.title()
        search = page.get_by_role("textbox")
        await search.focus()

        conference = await console.sos.incident(console.sos.press())
        pop = page.get_by_role("alertdialog")
        await expect(pop.locator(".sos-name")).to_have_text("王秀英")
        await expect(page).to_have_title(f"【SOS】 {title}")
        await page.wait_for_function("() => window.sosAlarm.playing === true")
        await page.screenshot(path=_shot(tmp_path, "pop-modal.png"))

        await page.keyboard.press("Escape")
        await expect(pop).to_be_hidden()
        await expect(search).to_be_focused()
        await expect(page).to_have_title(title)
        assert await page.evaluate("window.sosAlarm.playing") is False

        # Acknowledged on the server: a reload and another browser of the same user stay
        # quiet; the timeline says who acknowledged it.
        await page.reload()
        await page.wait_for_function("() => window.sosAlarm && window.sosAlarm.synced === true")
        await expect(pop).to_be_hidden()
        other = await _agent(browser, url, errors)
        await expect(other.get_by_role("alertdialog")).to_be_hidden()
        await expect(other).to_have_title(title)
        assert "acknowledged" in await console.sos.timeline(conference.id)
        assert errors == []


async def test_the_pop_never_covers_the_incident_page_and_times_are_the_centres(
    served: tuple[SosConsole, str], sim: PbxSimulator, tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    console, url = served
    async with chromium() as browser:
        errors: list[str] = []
        # The browser thinks it is in Los Angeles; the centre is in Shanghai.
        page = await _agent(browser, url, errors, zone="America/Los_Angeles")
        conference = await console.sos.incident(console.sos.press())
        pop = page.get_by_role("alertdialog")
        await expect(pop.locator(".sos-open")).to_be_visible()
        await pop.locator(".sos-open").click()

        # On the incident's own page: no pop for it (opening it acknowledged it).
        await expect(page.locator("article.incident")).to_have_attribute(
            "data-incident", conference.id)
        await page.wait_for_function("() => window.sosAlarm && window.sosAlarm.synced === true")
        await expect(pop).to_be_hidden()
        await expect(page.locator("#join")).to_be_enabled()

        # Another incident pops docked beside the page, which stays usable.
        other = await console.sos.incident(console.sos.press(UNKNOWN_CALLER))
        await expect(pop.locator(f'.sos-card[data-incident="{other.id}"]')).to_be_visible()
        await expect(page.locator("#sos-pop")).to_have_class("sos-overlay docked")
        assert await page.evaluate("document.querySelector('main').hasAttribute('inert')") is False
        await page.locator("#join").click(trial=True)  # not covered: it takes a click
        await page.screenshot(path=_shot(tmp_path, "pop-docked.png"))
        await expect(page).to_have_title(re.compile(r"^【SOS】 紧急事件：王秀英"))

        # Live steps arrive in words and in Shanghai time.
        await console.sos.advance(1)
        await console.sos.advance(2)
        await conference.wait_for(lambda c: len(c.parties) >= 2)
        joined = page.locator('#timeline li[data-kind="joined"]').last
        await expect(joined).to_contain_text("加入通话")
        at = await joined.locator("time").get_attribute("datetime")
        assert at is not None
        shown = datetime.fromisoformat(at).astimezone(ZoneInfo("Asia/Shanghai"))
        await expect(joined.locator("time")).to_have_text(shown.strftime("%H:%M:%S"))
        await page.keyboard.press("Escape")
        await expect(pop).to_be_hidden()
        await page.screenshot(path=_shot(tmp_path, "incident-page.png"), full_page=True)
        # The notifications card (drawn with the page, not live) lists the kin's texts and
        # e-mail within its own width: the page opened at the pop, maybe before they were
        # queued, so it is drawn again now.
        await page.reload()
        await expect(page.locator(".notifications-card")).to_contain_text(f"+86{KIN[0]}")
        assert await page.evaluate("""() => {
            const card = document.querySelector('.notifications-card');
            return card.scrollWidth <= card.clientWidth;
        }""")
        assert errors == []
