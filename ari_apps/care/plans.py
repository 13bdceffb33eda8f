"""When care calls may ring: plans due on a date, quiet hours, the elder's own hours.

Pure logic, no store and no clock of its own: the layout of a day, retries and
``call-now`` all ask :func:`place` for the first moment a call may ring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ari_apps.care.exceptions import InvalidPlan
from ari_apps.care.models import CareKind, Repeat

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
#: How far ahead :func:`place` looks for an allowed moment (a week covers every window).
_HORIZON = timedelta(days=8)


def parse_time(value: str, field: str = "at_time") -> time:
    """``HH:MM`` (00:00 to 23:59) as a time; a clear error otherwise."""
    found = _HHMM.match(value.strip())
    if found is None:
        raise InvalidPlan(f"{field}: {value!r} is not a time HH:MM (00:00-23:59)",
                          {field: value})
    return time(int(found.group(1)), int(found.group(2)))


@dataclass(frozen=True)
class Window:
    """Local hours ``start``–``end``; ``end`` before ``start`` crosses midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str, field: str) -> Window | None:
        """``HH:MM-HH:MM``, or None for an empty text (24:00 is written 00:00)."""
        if not text.strip():
            return None
        first, sep, second = text.partition("-")
        if not sep:
            raise InvalidPlan(f"{field}: {text!r} is not HH:MM-HH:MM", {field: text})
        return cls(parse_time(first, field), parse_time(second, field))

    def holds(self, moment: time) -> bool:
        if self.start == self.end:
            return True  # all day
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


@dataclass(frozen=True)
class Hours:
    """When calls may ring: not in the centre's quiet hours, within the elder's own."""

    zone: ZoneInfo
    quiet: Window | None
    own: Window | None = None

    def allows(self, local: datetime) -> bool:
        moment = local.time()
        if self.quiet is not None and self.quiet.start != self.quiet.end \
                and self.quiet.holds(moment):
            return False
        return self.own is None or self.own.holds(moment)

    def place(self, wanted: datetime) -> datetime:
        """The first moment at or after ``wanted`` (aware) a call may ring, in UTC."""
        local = wanted.astimezone(self.zone)
        if self.allows(local):
            return wanted.astimezone(ZoneInfo("UTC"))
        # The next window opening: quiet hours' end, or the elder's own start, whichever
        # comes first and is allowed; checked minute by minute boundaries only.
        openings = [w for w in (self.quiet.end if self.quiet else None,
                                self.own.start if self.own else None) if w is not None]
        day = local.date()
        best: datetime | None = None
        while best is None and datetime.combine(day, time(0), self.zone) - local < _HORIZON:
            for opening in sorted(openings):
                candidate = datetime.combine(day, opening, tzinfo=self.zone)
                if candidate > local and self.allows(candidate):
                    best = candidate
                    break
            day += timedelta(days=1)
        if best is None:
            raise InvalidPlan("the elder's own hours lie entirely in the quiet hours",
                              {"hours": f"{self.own}"})
        return best.astimezone(ZoneInfo("UTC"))


@dataclass(frozen=True)
class PlanSpec:
    """A plan's schedule as checked input (from the console, the API or a CSV row)."""

    kind: CareKind
    repeat: Repeat
    at_time: time
    weekdays: tuple[int, ...] = ()
    on_date: date | None = None
    medicine: str = ""
    message: str = ""

    def check(self, today: date, now_local: datetime) -> None:
        """Every problem of the schedule at once: a clear error, nothing stored."""
        problems: dict[str, str] = {}
        if self.repeat is Repeat.WEEKLY and not self.weekdays:
            problems["weekdays"] = "a weekly plan needs weekdays (1 = Monday … 7 = Sunday)"
        if any(d < 1 or d > 7 for d in self.weekdays):
            problems["weekdays"] = "weekdays are 1 (Monday) to 7 (Sunday)"
        if self.repeat is Repeat.ONCE:
            if self.on_date is None:
                problems["on_date"] = "a one-off plan needs its date"
            elif datetime.combine(self.on_date, self.at_time, now_local.tzinfo) <= now_local:
                problems["on_date"] = (f"{self.on_date.isoformat()} {self.at_time:%H:%M} "
                                       "is in the past")
        if self.kind is CareKind.MEDICATION and not self.medicine.strip():
            problems["medicine"] = "a medication reminder names the medicine"
        if self.kind is CareKind.WEATHER and not self.message.strip():
            problems["message"] = "a weather warning needs its message"
        if problems:
            raise InvalidPlan("; ".join(f"{k}: {v}" for k, v in problems.items()), problems)

    def due_on(self, day: date) -> bool:
        if self.repeat is Repeat.DAILY:
            return True
        if self.repeat is Repeat.WEEKLY:
            return day.isoweekday() in self.weekdays
        return self.on_date == day


def parse_weekdays(text: str) -> tuple[int, ...]:
    """``1,3,5`` (also ``1;3;5``) as ISO weekdays."""
    parts = [p.strip() for p in re.split(r"[,;；，]", text) if p.strip()]
    try:
        days = tuple(sorted({int(p) for p in parts}))
    except ValueError:
        raise InvalidPlan(f"weekdays: {text!r} is not a list of 1-7", {"weekdays": text}) from None
    if any(d < 1 or d > 7 for d in days):
        raise InvalidPlan(f"weekdays: {text!r} is not a list of 1-7", {"weekdays": text})
    return days


def task_id(plan_id: int, day: date) -> str:
    """The id of a plan's care call on ``day`` (one per plan and local date)."""
    return f"p{plan_id}-{day:%Y%m%d}"


def call_id(task: str, attempt: int) -> str:
    """The channel id (and calls row id) of one attempt: never dialled twice."""
    return f"care-{task}-{attempt}"


def parse_call_id(ident: str) -> tuple[str, int] | None:
    """``care-<task>-<attempt>`` back into its task and attempt."""
    if not ident.startswith("care-"):
        return None
    task, _, attempt = ident[5:].rpartition("-")
    if not task or not attempt.isdigit():
        return None
    return task, int(attempt)
