"""A wait for the elder stops the clock: on resuming, a case gets back the working days it
had left, counted from the resume day on the Chinese calendar (National Day, the Spring
Festival and their make-up days; a year not yet published stays provisional)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.workflow.conftest import Clock, Directory
from workflow.calendar import WorkCalendar
from workflow.casebook import Casebook
from workflow.deadlines import FORWARDED, resumed_deadline
from workflow.kinds import COMPLAINTS, CONSULTS, WORKORDERS, CaseKind
from workflow.machines import Actor
from workflow.models import CalendarDay, Complaint, Consult, WorkOrder
from workflow.schemas import CaseCreate

SHANGHAI = ZoneInfo("Asia/Shanghai")


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def _end_of(day: str) -> datetime:
    return (datetime.combine(date.fromisoformat(day), datetime.min.time(), SHANGHAI)
            + timedelta(days=1)).astimezone(UTC)


@pytest.mark.parametrize(("paused", "due_day", "resumed", "new_day"), [
    # The rule's own example: paused Friday 17:00 with 2 working days left (Mon, Tue),
    # resumed next Wednesday → the 2nd working day after Wednesday: Friday.
    ("2026-03-06T17:00", "2026-03-10", "2026-03-11T10:00", "2026-03-13"),
    # National Day 2026: 8 and 9 October left; resumed on the 9th → Saturday 10 October
    # (a make-up working day), then Monday 12.
    ("2026-09-30T10:00", "2026-10-09", "2026-10-09T15:00", "2026-10-12"),
    # Left: Sunday 20 September (make-up), Monday 21, Tuesday 22; resumed the day before the
    # holiday → 8, 9 and Saturday 10 October.
    ("2026-09-18T11:00", "2026-09-22", "2026-09-30T09:00", "2026-10-10"),
    # Spring Festival 2026: Saturday 14 February (make-up) and Tuesday 24 left; the elder
    # calls back on the 16th, in the holiday → Tuesday 24 and Wednesday 25.
    ("2026-02-13T16:00", "2026-02-24", "2026-02-16T10:00", "2026-02-25"),
    # …and resumed on the last working day before it: Saturday 14, then Tuesday 24.
    ("2026-02-10T16:00", "2026-02-12", "2026-02-13T16:00", "2026-02-24"),
    # Paused on its last day (nothing left): the end of the resume day if it is worked…
    ("2026-03-06T17:00", "2026-03-06", "2026-03-11T10:00", "2026-03-11"),
    # …or of the next working day (resumed on the Spring Festival's first day off).
    ("2026-02-13T17:00", "2026-02-13", "2026-02-15T10:00", "2026-02-24"),
])
def test_resuming_gives_back_the_working_days_left(paused: str, due_day: str, resumed: str,
                                                   new_day: str) -> None:
    row = WorkOrder(due_at=_end_of(due_day), paused_at=_at(paused), due_provisional=False,
                    details={})
    deadline = resumed_deadline(WORKORDERS, row, WorkCalendar(), SHANGHAI, _at(resumed))
    assert deadline.last_day == date.fromisoformat(new_day)
    assert deadline.due_at == _end_of(new_day) and not deadline.provisional


def test_a_case_paused_when_already_overdue_stays_overdue() -> None:
    row = WorkOrder(due_at=_end_of("2026-03-06"), paused_at=_at("2026-03-09T10:00"),
                    due_provisional=False, details={})
    deadline = resumed_deadline(WORKORDERS, row, WorkCalendar(), SHANGHAI, _at("2026-03-12T10:00"))
    assert deadline.due_at == _end_of("2026-03-06")


def test_a_resumed_deadline_in_an_unpublished_year_is_provisional_until_it_is_imported() -> None:
    # Paused 30 December 2026 with 31 December left; resumed that day: 1 January 2027 is
    # New Year's Day by law (2027 is not published), so Monday 4 January, provisional.
    row = Complaint(due_at=_end_of("2026-12-31"), paused_at=_at("2026-12-30T10:00"),
                    due_provisional=False, details={})
    guessed = resumed_deadline(COMPLAINTS, row, WorkCalendar(), SHANGHAI, _at("2026-12-31T15:00"))
    assert (guessed.last_day, guessed.provisional) == (date(2027, 1, 4), True)
    published = WorkCalendar({date(2027, 1, 1): (False, "元旦", "import")}, frozenset({2027}))
    known = resumed_deadline(COMPLAINTS, row, published, SHANGHAI, _at("2026-12-31T15:00"))
    assert (known.last_day, known.provisional) == (date(2027, 1, 4), False)


@pytest.mark.parametrize(("kind", "row"), [
    (CONSULTS, Consult(details={})),  # 48 clock hours (B §6.1.2)
    (COMPLAINTS, Complaint(details={FORWARDED: "2026-10-09T18:00:00+08:00"})),  # the forwarder's time
])
def test_clock_deadlines_move_by_the_time_spent_waiting(kind: CaseKind, row: Consult | Complaint) -> None:
    row.due_at, row.paused_at, row.due_provisional = _at("2026-09-30T18:00"), _at("2026-09-29T10:00"), False
    deadline = resumed_deadline(kind, row, WorkCalendar(), SHANGHAI, _at("2026-10-02T10:00"))
    assert deadline.due_at == _at("2026-10-03T18:00")


async def test_a_complaint_resumed_across_the_year_end_says_provisional_on_the_case(
    casebook: Casebook, directory: Directory, agent: Actor, supervisor: Actor, clock: Clock,
) -> None:
    clock.now = _at("2026-12-23T10:00").astimezone(UTC)  # Wednesday: 5 working days → 30 Dec
    complaint = await casebook.create(COMPLAINTS, CaseCreate(title="服务态度", elder_id=directory.elder_id), agent)
    assert complaint.due_at == _end_of("2026-12-30") and not complaint.due_provisional
    await casebook.move(COMPLAINTS, complaint.id, "investigate", 1, {}, agent)
    clock.now = _at("2026-12-29T10:00").astimezone(UTC)  # left: Wednesday 30
    await casebook.move(COMPLAINTS, complaint.id, "ask_complainant", 2, {"reason": "等投诉人提供收据"}, agent)
    clock.now = _at("2026-12-31T09:00").astimezone(UTC)
    complaint = await casebook.move(COMPLAINTS, complaint.id, "resume", 3, {}, agent)
    # One working day after 31 December: 1 January is New Year's Day (by law), so Monday 4.
    assert complaint.due_at == _end_of("2027-01-04") and complaint.due_provisional
    view = await casebook.view(COMPLAINTS, complaint.id, supervisor)
    assert view.timeline[-1].detail == {"due_at": _end_of("2027-01-04").isoformat(), "provisional": True}
    assert view.due_provisional


async def test_an_admins_calendar_change_counts_for_a_resume_after_it(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock,
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="维修", elder_id=directory.elder_id), agent)
    await casebook.move(WORKORDERS, order.id, "reject_review", 1, {"reason": "地址不全"}, agent)
    # Tuesday 8 September: Wednesday 9, Thursday 10, Friday 11 left.
    async with casebook.sessions.begin() as db:  # the centre closes on Monday 14 (an override)
        db.add(CalendarDay(day=date(2026, 9, 14), kind="holiday", name="停电", source="override",
                           created_by="admin"))
    casebook.forget_calendar()
    clock.now = _at("2026-09-10T10:00").astimezone(UTC)
    order = await casebook.move(WORKORDERS, order.id, "amend", 2, {"description": "厨房水管漏水"}, agent)
    assert order.due_at == _end_of("2026-09-16")  # Friday 11, (Monday 14 off,) Tuesday 15, Wednesday 16
