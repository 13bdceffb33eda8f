"""Changing the calendar: an admin's one-day override, and a year's published arrangement
imported (its holidays and make-up working days). Each change is audited. Deadlines already
fixed do not move (they are stored on their cases)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import audit
from workflow.calendar import NAME_LIMIT, parse_arrangement
from workflow.exceptions import CalendarImportError, InvalidField
from workflow.models import CalendarDay, CalendarYear, DayKind


async def set_override(session: AsyncSession, day: date, kind: str, name: str, *, actor: str) -> None:
    """Make ``day`` a holiday or a working day, whatever the package or the law says."""
    if kind not in (DayKind.HOLIDAY.value, DayKind.WORKDAY.value):
        raise InvalidField("kind must be holiday or workday", {"kind": kind})
    if len(name) > NAME_LIMIT:
        raise InvalidField(f"the name is longer than {NAME_LIMIT} characters", {"field": "name"})
    row = await session.get(CalendarDay, day)
    before = None if row is None else {"kind": row.kind, "name": row.name, "source": row.source}
    if row is None:
        session.add(CalendarDay(day=day, kind=kind, name=name, source="override", created_by=actor))
    else:
        row.kind, row.name, row.source, row.created_by = kind, name, "override", actor
    await audit.record(session, actor=actor, action="calendar.override", entity="calendar_day",
                       entity_id=day.isoformat(), before=before,
                       after={"kind": kind, "name": name}, reason="admin override")


async def remove_override(session: AsyncSession, day: date, *, actor: str) -> bool:
    """Forget ``day``'s override (True when there was one; an imported year's day is changed
    by importing the year again, or overridden)."""
    row = await session.get(CalendarDay, day)
    if row is None or row.source != "override":
        return False
    await session.delete(row)
    await audit.record(session, actor=actor, action="calendar.unset", entity="calendar_day",
                       entity_id=day.isoformat(), before={"kind": row.kind, "name": row.name},
                       reason="admin removed the override")
    return True


async def import_year(session: AsyncSession, year: int, lines: Iterable[str], *, actor: str) -> int:
    """Replace ``year``'s imported days with the arrangement (all or nothing); from now on
    the year is no longer provisional. Returns the number of days listed."""
    days, problems = parse_arrangement(lines, year)
    if problems:
        raise CalendarImportError("the arrangement has problems",
                                  {"problems": [str(p) for p in problems],
                                   "problems_zh": [p.zh() for p in problems]})
    await session.execute(delete(CalendarDay).where(
        CalendarDay.source == "import", CalendarDay.day >= date(year, 1, 1),
        CalendarDay.day <= date(year, 12, 31)))
    overridden = set((await session.execute(select(CalendarDay.day).where(
        CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)))).scalars())
    for day, kind, name in days:
        if day not in overridden:  # an admin's own override of a day stays
            session.add(CalendarDay(day=day, kind=kind, name=name, source="import", created_by=actor))
    if await session.get(CalendarYear, year) is None:
        session.add(CalendarYear(year=year, imported_by=actor))
    await audit.record(session, actor=actor, action="calendar.import", entity="calendar_year",
                       entity_id=str(year), after={"days": len(days)},
                       reason="published arrangement imported")
    return len(days)
