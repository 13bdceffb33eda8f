"""Headless Chromium: an auditor finds a recording by the caller's number, gives a reason,
plays it and seeks (HTTP Range through the product), beside its waveform and talk segments."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from sqlalchemy import select

from callcenter.runtime import Runtime
from callcenter.store.models import AuditEntry
from tests.chromium import chromium, served
from tests.factories import DEFAULT_PASSWORD
from tests.recordings.support import Recorded

pytestmark = [pytest.mark.browser,
              pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture
async def console_url(app: web.Application, recorded: Recorded) -> AsyncIterator[str]:
    async with served(app) as url:
        yield url


def _shots(tmp_path: Path) -> Path:
    # CALLCENTER_TEST_SCREENSHOTS keeps them where a person can look at them.
    folder = Path(os.environ.get("CALLCENTER_TEST_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def test_an_auditor_finds_gives_a_reason_plays_and_seeks(
    console_url: str, recorded: Recorded, runtime: Runtime, tmp_path: Path,
) -> None:
    from playwright.async_api import expect

    shots = _shots(tmp_path)
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        ranges: list[tuple[int, str]] = []
        page.on("response", lambda r: ranges.append((r.status, r.headers.get("content-range", "")))
                if "/audio?" in r.url else None)
        await page.goto(f"{console_url}/recordings")
        await page.fill("#username", "auditor")
        await page.fill("#password", DEFAULT_PASSWORD)
        await page.click("button[type=submit].primary")
        await expect(page.locator("h1")).to_have_text("录音调阅")

        await page.fill("input[name=phone]", "8001")
        await page.click("#rec-search button[type=submit]")
        rows = page.locator("#rec-rows tr")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text(recorded.c1)
        await expect(rows.first).to_contain_text("138****8001")
        await rows.first.locator("button").click()
        await expect(page.locator("#rec-d-serial")).to_have_text(recorded.c1)
        await expect(page.locator("#rec-d-duration")).to_have_text("0:04")
        await expect(page.locator("#rec-segments li")).to_have_count(2)
        await expect(page.locator("#rec-d-kept")).to_have_text("2025-06-01")

        await page.click("#rec-play")  # no reason yet: refused, nothing plays
        await expect(page.locator("#rec-d-error")).to_contain_text("原因")
        assert await page.eval_on_selector("#rec-audio", "a => a.getAttribute('src')") is None
        await page.screenshot(path=str(shots / "recordings-1-reason-required.png"), full_page=True)

        await page.fill("#rec-reason", "核实老人投诉的通话内容")
        await page.click("#rec-play")
        await page.wait_for_function(
            "() => { const a = document.getElementById('rec-audio');"
            " return a.src && a.readyState >= 1 && a.duration > 3.9 }", timeout=15000)
        await expect(page.locator("#rec-d-error")).to_be_hidden()
        # Seek to the second talk segment (2.0 s) by its button.
        await page.evaluate("""() => {
            const a = document.getElementById('rec-audio');
            window.seekedAt = null;
            a.addEventListener('seeked', () => { window.seekedAt = a.currentTime; }, {once: true});
        }""")
        await page.click("#rec-segments li:nth-child(2) button")
        await page.wait_for_function("() => window.seekedAt !== null", timeout=15000)
        position = await page.evaluate("() => window.seekedAt")
        assert 1.9 <= position <= 2.3
        await page.wait_for_timeout(300)  # let the cursor line move on the canvas
        await page.screenshot(path=str(shots / "recordings-2-playing.png"), full_page=True)
        assert errors == []

    assert any(status == 206 and header.startswith("bytes ") for status, header in ranges), ranges
    async with runtime.sessions() as session:
        plays = (await session.execute(select(AuditEntry).where(
            AuditEntry.action == "recording.play"))).scalars().all()
    assert [(p.actor, p.entity_id, p.reason) for p in plays] == [
        ("auditor", recorded.c1, "核实老人投诉的通话内容")]
