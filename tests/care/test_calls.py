"""The care call end to end on the simulator: press 1, press 2, nothing, a reminder."""

from __future__ import annotations

from sqlalchemy import select

from ari_apps.care.models import CareKind
from callcenter.notify.models import Notification
from tests.care.conftest import ELDER_PHONE, KIN, SOCIAL_WORKER, CareHarness
from workflow.models import WorkOrder


async def test_press_1_is_answered_well_and_kept_on_the_record(care: CareHarness) -> None:
    care.person(ELDER_PHONE, ring=20, dtmf="1", dtmf_after=4)
    task = await care.call_now()
    await care.until(lambda: care.done(task))

    found = await care.task(task)
    assert (found.result, found.attempts) == ("answered_well", 1)
    [call] = await care.calls_of(task)
    assert call.kind == "care" and call.outcome == "answered"
    assert call.disposition == "answered_well" and call.called_number == ELDER_PHONE
    assert call.answered_at is not None and call.ended_at is not None
    assert care.originated(ELDER_PHONE) == [f"care-{task}-1"]
    timeline = await care.timeline(care.elders.wang[1])
    assert timeline[-2:] == ["call.dialling", "call.answered_well"]
