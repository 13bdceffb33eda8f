"""Bad input and faults: clear errors, correct results, nothing changed by a refusal."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ari_apps.care.exceptions import BadNumber, ElderNotFound, InvalidPlan, NoPhone
from ari_apps.care.imports import PlanInput, import_plans, save_plans
from ari_apps.care.models import CareKind, CarePlan, CareTask, PlanSource
from callcenter.directory.results import ImportFailed
from callcenter.store.models import ElderPhone
from tests.care.conftest import ELDER_PHONE, CareHarness


async def _tasks(care: CareHarness) -> int:
    async with care.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(CareTask)))
                   .scalar_one())


async def test_an_elder_with_no_phone_is_refused_and_nothing_is_stored(
    care: CareHarness,
) -> None:
    async with care.sessions.begin() as session:
        await session.execute(ElderPhone.__table__.delete().where(
            ElderPhone.elder_id == care.elders.wang[1]))
    with pytest.raises(NoPhone, match="has no phone number"):
        await care.call_now()
    assert await _tasks(care) == 0


async def test_a_number_in_the_wrong_format_is_refused(care: CareHarness) -> None:
    async with care.sessions.begin() as session:
        phone = (await session.execute(select(ElderPhone).where(
            ElderPhone.elder_id == care.elders.wang[1]))).scalar_one()
        phone.number = "12345"
    with pytest.raises(BadNumber, match="not a mainland mobile"):
        await care.call_now()
    assert await _tasks(care) == 0


async def test_a_planned_call_to_an_elder_without_a_phone_ends_failed_with_its_reason(
    care: CareHarness,
) -> None:
    task = await care.call_now()
    async with care.sessions.begin() as session:
        await session.execute(ElderPhone.__table__.delete().where(
            ElderPhone.elder_id == care.elders.wang[1]))
    await care.until(lambda: care.done(task))
    found = await care.task(task)
    assert (found.result, found.escalation) == ("failed", "alerted")
    assert "has no phone number" in found.reason
    assert care.originated(ELDER_PHONE) == []


async def test_unknown_elder_is_a_clear_error(care: CareHarness) -> None:
    with pytest.raises(ElderNotFound, match="no elder 'NOPE'"):
        await care.call_now("NOPE")


async def test_a_plan_in_the_past_is_refused(care: CareHarness) -> None:
    from ari_apps.care.imports import check_plan

    yesterday = (care.now() - timedelta(days=1)).date()
    item = PlanInput(code="ONCE-1", elder_code=care.elders.wang[0], kind=CareKind.BIRTHDAY,
                     repeat="once", at_time="10:00", on_date=yesterday)
    with pytest.raises(InvalidPlan, match="is in the past"):
        check_plan(item, care.settings, care.now())
    bad = PlanInput(code="MED-X", elder_code=care.elders.wang[0], kind=CareKind.MEDICATION,
                    repeat="weekly", at_time="25:00")
    with pytest.raises(InvalidPlan) as caught:
        check_plan(bad, care.settings, care.now())
    assert "at_time" in caught.value.details


async def test_asterisk_refusing_the_originate_is_a_failed_attempt_then_a_retry(
    care: CareHarness,
) -> None:
    care.sim.faults.fail("POST", "/ari/channels", status=500, message="Allocation failed")
    care.person(ELDER_PHONE, ring=3, dtmf="1", dtmf_after=2)
    task = await care.call_now()
    await care.until(lambda: _attempts(care, task, 1))
    [first] = await care.calls_of(task)
    await care.until(lambda: _outcome(care, first.id))
    [first] = await care.calls_of(task)
    assert (first.outcome, first.disposition) == ("failed", "failed")
    assert first.details["reason"].startswith("Asterisk refused the originate: 500")
    await care.until(lambda: care.done(task), limit=1200, step=20)
    found = await care.task(task)
    assert (found.result, found.attempts) == ("answered_well", 2)


async def _attempts(care: CareHarness, task: str, count: int) -> bool:
    return (await care.task(task)).attempts >= count


async def _outcome(care: CareHarness, call_id: str) -> bool:
    return any(c.outcome for c in await care.calls_of(call_id.split("-", 1)[1].rsplit("-", 1)[0])
               if c.id == call_id)


async def test_a_dtmf_storm_counts_once_or_ends_the_call_as_no_response(
    care: CareHarness,
) -> None:
    care.person(ELDER_PHONE, ring=3, dtmf="2121212121", dtmf_after=3)
    first = await care.call_now()
    await care.until(lambda: care.done(first))
    assert (await care.task(first)).result == "wants_to_talk"
    assert sum(1 for m in care.published if m.topic == "care.wants_to_talk") == 1

    care.person(ELDER_PHONE, ring=3, dtmf="9" * 40 + "1", dtmf_after=3)
    second = await care.call_now()
    await care.until(lambda: _attempts(care, second, 1))
    await care.until(lambda: _first_ended(care, second))
    [call] = await care.calls_of(second)
    assert call.disposition == "no_response"
    assert call.details["reason"].startswith("DTMF storm: 12 keys")


async def _first_ended(care: CareHarness, task: str) -> bool:
    calls = await care.calls_of(task)
    return bool(calls) and calls[0].outcome is not None


async def test_a_plans_file_with_bad_rows_reports_each_by_line_and_imports_nothing(
    care: CareHarness, tmp_path: Path,
) -> None:
    code = care.elders.wang[0]
    path = tmp_path / "plans.csv"
    path.write_text(
        "code,elder_code,kind,repeat,at_time,weekdays,on_date,medicine,report_to_kin\n"
        f"W-1,{code},问候,每天,09:30,,,,\n"
        f"M-1,{code},服药,daily,08:00,,,,yes\n"
        f"B-1,{code},birthday,once,10:00,,{date(2001, 1, 1)},,\n"
        "W-2,NOPE,wellbeing,weekly,09:00,,,,\n"
        f"W-1,{code},wellbeing,daily,10:00,,,,\n",
        encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        await import_plans(care.sessions, care.settings, path, actor="test", now=care.now())
    shown = [str(e) for e in caught.value.errors]
    assert "line 3: medicine: a medication reminder names the medicine" in shown
    assert any(s.startswith("line 4: on_date: 2001-01-01 10:00 is in the past") for s in shown)
    assert "line 5: weekdays: a weekly plan needs weekdays (1 = Monday … 7 = Sunday)" in shown
    assert "line 6: code: W-1 is already on line 2" in shown
    async with care.sessions() as session:
        assert (await session.execute(select(CarePlan))).first() is None

    path.write_text("code,elder_code,kind,repeat,at_time\nW-2,NOPE,wellbeing,daily,09:00\n",
                    encoding="utf-8")
    with pytest.raises(ImportFailed) as caught:
        await import_plans(care.sessions, care.settings, path, actor="test", now=care.now())
    assert [str(e) for e in caught.value.errors] == ["line 2: elder_code: no elder 'NOPE'"]


async def test_a_good_plans_file_imports_and_lays_out_today(care: CareHarness,
                                                            tmp_path: Path) -> None:
    code = care.elders.wang[0]
    later = (care.now() + timedelta(hours=1)).astimezone(
        __import__("zoneinfo").ZoneInfo(care.settings.time_zone))
    path = tmp_path / "plans.csv"
    path.write_text("code,elder_code,kind,repeat,at_time,medicine,report_to_kin,hours\n"
                    f"M-1,{code},medication,daily,{later:%H:%M},降压药,是,\n", encoding="utf-8")
    saved = await import_plans(care.sessions, care.settings, path, actor="test", now=care.now())
    assert (saved.inserted, saved.laid_out) == (1, 1)
    again = await save_plans(care.sessions, care.settings, [PlanInput(
        code="M-1", elder_code=code, kind=CareKind.MEDICATION, repeat="daily",
        at_time=f"{later:%H:%M}", medicine="阿司匹林")], actor="t", source=PlanSource.CONSOLE,
        now=care.now())
    assert (again.inserted, again.updated) == (0, 1)
    async with care.sessions() as session:
        plan = (await session.execute(select(CarePlan))).scalar_one()
    assert (plan.medicine, plan.report_to_kin) == ("阿司匹林", False)
