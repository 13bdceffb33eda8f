"""Working days on the Chinese calendar, and deadlines counted in them.

A day is decided, first match wins, by:
1. an admin's override or an imported year's arrangement (``calendar_days``);
2. for a year an admin imported (``calendar_years``): Monday–Friday (its holidays and
   make-up days are rows of step 1);
3. the ``chinesecalendar`` package, which knows the published arrangements (2004–2026 in
   version 1.11), with their 调休: a Saturday that is a working day, a weekday that is not;
4. otherwise (a year not yet published): Monday–Friday minus the statutory holidays the law
   fixes (``holidays.py``), and the answer is *provisional*.

"Within N working days" ends at the end (24:00, the centre's time) of the Nth working day
after the day of receipt. The deadline is computed once, when the case starts, and stored
with whether it is provisional: a later calendar change never moves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar.constants import Holiday
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from workflow.holidays import statutory_holidays
from workflow.models import CalendarDay, CalendarYear, DayKind

_CHINESE = {h.value: h.chinese for h in Holiday}
#: Where each answer came from (``calendar show``).
OVERRIDE, IMPORT, OFFICIAL, STATUTORY, WEEKEND = "override", "import", "official", "statutory", "weekend"
#: The sources in plain Mandarin (the CLI and the console's calendar page).
SOURCE_NAMES = {OFFICIAL: "国务院安排", STATUTORY: "法定节日（推算）", OVERRIDE: "管理员调整",
                IMPORT: "导入的安排", WEEKEND: "周末"}
#: A day's name (``calendar_days.name``).
NAME_LIMIT = 64


@dataclass(frozen=True)
class DayInfo:
    """One day: working or not, its name (a festival), where that came from, provisional."""

    day: date
    working: bool
    name: str
    source: str
    provisional: bool


@dataclass(frozen=True)
class Deadline:
    """A deadline: the end of a working day, in UTC, and whether any day counted was guessed."""

    due_at: datetime
    last_day: date
    provisional: bool


@dataclass
class WorkCalendar:
    """The calendar as the store knows it now (``overrides`` from ``calendar_days``)."""

    overrides: dict[date, tuple[bool, str, str]] = field(default_factory=dict)
    imported_years: frozenset[int] = frozenset()
    _statutory: dict[int, dict[date, str]] = field(default_factory=dict, repr=False)

    def info(self, day: date) -> DayInfo:
        """How ``day`` counts (see the module's docstring for the order)."""
        if day in self.overrides:
            working, name, source = self.overrides[day]
            return DayInfo(day, working, name, source, False)
        weekday = day.weekday() < 5
        if day.year in self.imported_years:
            return DayInfo(day, weekday, "", IMPORT if weekday else WEEKEND, False)
        try:
            on_holiday, name = chinese_calendar.get_holiday_detail(day)
        except NotImplementedError:
            return self._fallback(day, weekday)
        working = not on_holiday
        if name is None:
            return DayInfo(day, working, "", OFFICIAL if working != weekday else WEEKEND, False)
        return DayInfo(day, working, _CHINESE.get(name, str(name)), OFFICIAL, False)

    def _fallback(self, day: date, weekday: bool) -> DayInfo:
        statutory = self._statutory.setdefault(day.year, statutory_holidays(day.year))
        if day in statutory:
            return DayInfo(day, False, statutory[day], STATUTORY, True)
        return DayInfo(day, weekday, "", WEEKEND, True)

    def is_working_day(self, day: date) -> bool:
        return self.info(day).working

    def add_working_days(self, received: datetime, n: int, zone: ZoneInfo) -> Deadline:
        """The end of the ``n``-th working day after the day ``received`` falls on (local)."""
        if n < 1:
            raise ValueError("a deadline counts at least one working day")
        day = received.astimezone(zone).date()
        provisional, counted = False, 0
        while counted < n:
            day += timedelta(days=1)
            info = self.info(day)
            provisional = provisional or info.provisional
            counted += info.working
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return Deadline(end.astimezone(ZoneInfo("UTC")), day, provisional)

    def end_of_first_working_day(self, when: datetime, zone: ZoneInfo) -> Deadline:
        """The end of the day ``when`` falls on when it is a working day, else of the next one."""
        day = when.astimezone(zone).date()
        info = self.info(day)
        provisional = info.provisional
        while not info.working:
            day += timedelta(days=1)
            info = self.info(day)
            provisional = provisional or info.provisional
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        return Deadline(end.astimezone(ZoneInfo("UTC")), day, provisional)

    def working_days_between(self, start: datetime, end: datetime, zone: ZoneInfo) -> int:
        """Working days from the day after ``start`` through the day of ``end`` (local)."""
        first, last = start.astimezone(zone).date(), end.astimezone(zone).date()
        return sum(self.info(d).working for d in _days(first + timedelta(days=1), last))

    def year_source(self, year: int) -> str:
        """Where the year's arrangement comes from: IMPORT, OFFICIAL, or STATUTORY (guessed)."""
        if year in self.imported_years:
            return IMPORT
        try:
            chinese_calendar.is_holiday(date(year, 1, 1))
        except NotImplementedError:
            return STATUTORY
        return OFFICIAL

    def year(self, year: int) -> list[DayInfo]:
        """The year's days off that fall on weekdays, its make-up working days (weekends that
        are working days) and every day an override or an import names."""
        listed = []
        for day in _days(date(year, 1, 1), date(year, 12, 31)):
            info = self.info(day)
            weekday = day.weekday() < 5
            if info.working != weekday or info.source in (OVERRIDE, IMPORT) and info.name:
                listed.append(info)
        return listed


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def remaining_text(calendar: WorkCalendar, now: datetime, due_at: datetime, zone: ZoneInfo) -> tuple[str, int]:
    """"剩余 2 个工作日" (or "今天到期", "已超期 1 个工作日"), and the working days left."""
    if due_at <= now:
        late = calendar.working_days_between(due_at - timedelta(seconds=1), now, zone)
        return (f"已超期 {late} 个工作日" if late else "已超期"), -max(late, 0)
    left = calendar.working_days_between(now, due_at - timedelta(seconds=1), zone)
    if left == 0:
        return "今天到期", 0
    return f"剩余 {left} 个工作日", left


async def load_calendar(session: AsyncSession) -> WorkCalendar:
    """The calendar with the store's overrides and imported years."""
    rows = (await session.execute(select(CalendarDay))).scalars().all()
    years = (await session.execute(select(CalendarYear.year))).scalars().all()
    return WorkCalendar(
        {r.day: (r.kind == DayKind.WORKDAY.value, r.name, r.source) for r in rows},
        frozenset(years),
    )


@dataclass(frozen=True)
class Problem:
    """One problem of an arrangement file, by line (0: the file as a whole), in English for
    the command line and in plain Mandarin for the console."""

    line: int
    english: str
    mandarin: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.english}" if self.line else self.english

    def zh(self) -> str:
        return f"第 {self.line} 行：{self.mandarin}" if self.line else self.mandarin


def parse_arrangement(lines: Iterable[str], year: int) -> tuple[list[tuple[date, str, str]], list[Problem]]:
    """A year's arrangement as ``YYYY-MM-DD,holiday|workday,name`` lines (``#`` comments).

    Returns the days and every problem (by line); any problem means nothing is imported.
    """
    days: list[tuple[date, str, str]] = []
    problems: list[Problem] = []
    seen: set[date] = set()
    for number, raw in enumerate(lines, 1):
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 2:
            problems.append(Problem(number, "expected day,kind[,name]",
                                    "应为“日期,holiday或workday,名称”，用英文逗号分隔"))
            continue
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            problems.append(Problem(number, f"{parts[0]!r} is not a date (YYYY-MM-DD)",
                                    f"“{parts[0]}”不是日期，应写成 {year}-10-01 这样的格式"))
            continue
        if day.year != year:
            problems.append(Problem(number, f"{day} is not in {year}",
                                    f"{day} 不在 {year} 年内"))
        if parts[1] not in (DayKind.HOLIDAY.value, DayKind.WORKDAY.value):
            problems.append(Problem(
                number, f"kind must be holiday or workday, not {parts[1]!r}",
                f"第二列应为 holiday（放假）或 workday（调休上班），不能是“{parts[1]}”"))
        if len(parts) > 2 and len(parts[2]) > NAME_LIMIT:
            problems.append(Problem(number, f"the name is longer than {NAME_LIMIT} characters",
                                    f"名称不能超过 {NAME_LIMIT} 个字"))
        if day in seen:
            problems.append(Problem(number, f"{day} is listed twice", f"{day} 重复出现"))
        seen.add(day)
        days.append((day, parts[1], parts[2] if len(parts) > 2 else ""))
    if not days and not problems:
        problems.append(Problem(0, "no days listed", "文件中没有任何日期"))
    return days, problems
