"""Retention by law (B §5.10), counted in calendar months and years in the centre's time zone.

A recording made on 1 July (local date) with 3 months is kept *through* 1 October and may
go from 2 October: a fixed 90 days would delete it two days early. A date that does not
exist in the target month falls to that month's last day (30 November + 3 months is kept
through 28 or 29 February; 29 February + 3 years through 28 February), so nothing is ever
kept for less than the calendar period.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from callcenter.settings import LAW_MIN_AUDIO_MONTHS, LAW_MIN_RECORDS_YEARS, Settings
from recordings.exceptions import PolicyTooShort


def add_months(day: date, months: int) -> date:
    """``day`` plus calendar months, clamped to the target month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def kept_through(day: date, months: int) -> date:
    """The last local date on which something made on ``day`` must still exist."""
    return add_months(day, months)


def first_kept(as_of: date, months: int) -> date:
    """The earliest local date whose items are still kept on ``as_of``.

    Items of an earlier day expire: ``kept_through(day) < as_of``. ``add_months`` is
    monotonic, so the expired days are exactly those before this one.
    """
    day = add_months(as_of, -months) - timedelta(days=4)
    while kept_through(day, months) < as_of:
        day += timedelta(days=1)
    return day


@dataclass(frozen=True)
class RetentionPolicy:
    """The periods in force; refuses anything shorter than the law."""

    audio_months: int = LAW_MIN_AUDIO_MONTHS
    records_years: int = LAW_MIN_RECORDS_YEARS
    incident_months: int = 24
    records_action: str = "anonymise"
    time_zone: str = "Asia/Shanghai"

    def __post_init__(self) -> None:
        problems = []
        if self.audio_months < LAW_MIN_AUDIO_MONTHS:
            problems.append(f"audio kept {self.audio_months} months: the law requires at least "
                            f"{LAW_MIN_AUDIO_MONTHS} calendar months (B §5.10)")
        if self.records_years < LAW_MIN_RECORDS_YEARS:
            problems.append(f"call records kept {self.records_years} years: the law requires at "
                            f"least {LAW_MIN_RECORDS_YEARS} calendar years (B §5.10)")
        if self.incident_months < self.audio_months:
            problems.append("an SOS incident's hold is shorter than the audio's retention")
        if problems:
            raise PolicyTooShort("retention policy refused: " + "; ".join(problems),
                                 {"problems": problems})

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(settings.retention_audio_months, settings.retention_records_years,
                   settings.retention_incident_months, settings.retention_records_action,
                   settings.time_zone)

    @property
    def audio_name(self) -> str:
        """How a tombstone names the policy it was removed under."""
        return f"audio-{self.audio_months}m"

    @property
    def records_name(self) -> str:
        return f"records-{self.records_years}y-{self.records_action}"

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.time_zone)).date()

    def midnight(self, day: date) -> datetime:
        """The UTC instant a local date begins."""
        return datetime.combine(day, time(), ZoneInfo(self.time_zone)).astimezone(UTC)

    def audio_kept_through(self, started_at: datetime) -> date:
        return kept_through(self.local_date(started_at), self.audio_months)

    def record_kept_through(self, started_at: datetime) -> date:
        return kept_through(self.local_date(started_at), self.records_years * 12)

    def incident_hold_until(self, started_at: datetime) -> datetime:
        """When an SOS incident's hold lapses (the start of the day after it is kept through)."""
        last = kept_through(self.local_date(started_at), self.incident_months)
        return self.midnight(last + timedelta(days=1))

    def audio_cutoff(self, as_of: date) -> datetime:
        """Audio of calls begun before this instant has expired on ``as_of``."""
        return self.midnight(first_kept(as_of, self.audio_months))

    def records_cutoff(self, as_of: date) -> datetime:
        """Call records begun before this instant have expired on ``as_of``."""
        return self.midnight(first_kept(as_of, self.records_years * 12))
