"""``callcenter care call-now`` and ``callcenter care import`` as an operator runs them."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result

from callcenter.cli import main
from callcenter.store.models import utcnow
from tests.care.conftest import ELDER_PHONE, CareHarness


async def _cli(care: CareHarness, *args: str, **env: str) -> Result:
    settings = care.settings
    assert settings.secret_key is not None
    environment = {"CALLCENTER_DATABASE_URL": settings.database_url,
                   "CALLCENTER_SECRET_KEY": settings.secret_key.get_secret_value(),
                   "CALLCENTER_DATA_DIR": str(settings.data_dir),
                   "CALLCENTER_CARE_QUIET_HOURS": "", **env}
    return await asyncio.to_thread(
        lambda: CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False))


async def test_call_now_places_the_call_in_the_running_product_and_prints_its_result(
    care: CareHarness,
) -> None:
    care.person(ELDER_PHONE, ring=3, dtmf="1", dtmf_after=2)
    running = asyncio.ensure_future(_cli(care, "care", "call-now", care.elders.wang[0],
                                         "--wait", "60"))
    # The shell stamps the call with the wall clock; the simulator's clock starts earlier.
    await care.sim.advance((utcnow() - care.now()).total_seconds() + 2)
    await care.until(lambda: _finished(running), limit=300)
    result = await running
    assert result.exit_code == 0, result.output
    assert "answered_well (pressed 1) after 1 attempt(s)" in result.stdout
    # (the days jumped over also laid out the elder's default daily call: not this one)
    assert len([c for c in care.originated(ELDER_PHONE) if c.startswith("care-now-")]) == 1


async def _finished(running: asyncio.Future[Result]) -> bool:
    await asyncio.sleep(0.05)  # the shell's poll runs in its own thread on real time
    return running.done()


async def test_call_now_refusals_are_clear_and_store_nothing(care: CareHarness) -> None:
    result = await _cli(care, "care", "call-now", "NOPE")
    assert result.exit_code == 1
    assert "elder-not-found: no elder 'NOPE'; nothing was called" in result.stderr
    result = await _cli(care, "care", "call-now", care.elders.wang[0],
                        CALLCENTER_CARE_QUIET_HOURS="00:00-23:59")
    assert result.exit_code == 1
    assert "quiet-hours:" in result.stderr and "nothing was called" in result.stderr
    assert care.originated(ELDER_PHONE) == []


async def test_import_reports_every_bad_line(care: CareHarness, tmp_path: Path) -> None:
    path = tmp_path / "plans.csv"
    path.write_text("code,elder_code,kind,repeat,at_time\n"
                    f"W-1,{care.elders.wang[0]},wellbeing,daily,9:30\n"
                    "W-2,NOPE,sometimes,daily,09:30\n", encoding="utf-8")
    result = await _cli(care, "care", "import", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert any("line 2: at_time:" in line for line in lines)
    assert any("line 3: kind:" in line for line in lines)
    assert lines[-1].endswith("problem(s); nothing imported")


async def test_broadcast_stores_a_warning_for_the_area_or_refuses_it_clearly(
    care: CareHarness,
) -> None:
    from sqlalchemy import func, select

    from ari_apps.care.models import CareBroadcast, CareTask

    async def stored() -> tuple[int, int]:
        async with care.sessions() as session:
            return ((await session.execute(select(func.count()).select_from(CareBroadcast))
                     ).scalar_one(),
                    (await session.execute(select(func.count()).select_from(CareTask))
                     ).scalar_one())

    for args, expected in [
        (["NOPE", "--message", "寒潮"], "area-not-found: no area 'NOPE'; nothing was sent"),
        (["120104", "--message", ""], "invalid-care-broadcast: message:"),
        (["120104", "--message", "寒潮", "--until", "2001-01-01T08:00"], "is in the past"),
        (["120104", "--message", "寒潮", "--until", "tomorrow"], "not an ISO date-time"),
    ]:
        result = await _cli(care, "care", "broadcast", *args)
        assert result.exit_code != 0
        assert expected in result.stderr, result.stderr
    assert await stored() == (0, 0)

    until = (utcnow() + timedelta(hours=6)).isoformat()
    result = await _cli(care, "care", "broadcast", "120104", "--message", "明天有暴雨，请勿外出",
                        "--urgent", "--until", until)
    assert result.exit_code == 0, result.output
    assert "7 elder(s) in area 120104 to call (0 without a phone)" in result.stdout
    assert await stored() == (1, 7)
    async with care.sessions() as session:
        broadcast = (await session.execute(select(CareBroadcast))).scalar_one()
    assert broadcast.urgent and broadcast.message == "明天有暴雨，请勿外出"
    result = await _cli(care, "care", "cancel-broadcast", str(broadcast.id))
    assert result.exit_code == 0 and "7 call(s) not placed" in result.stdout
