"""Working days and deadlines: National Day and the Spring Festival with their 调休, a year
the State Council has not published (provisional), overrides and an imported arrangement."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from callcenter.cli import main
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from workflow.calendar import WorkCalendar, load_calendar, remaining_text
from workflow.calendar_admin import import_year, set_override
from workflow.exceptions import CalendarImportError
from workflow.holidays import qingming, statutory_holidays

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICIAL = WorkCalendar()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@pytest.mark.parametrize(("received", "n", "last_day"), [
    # 2026: 1–7 October off, Sunday 20 September and Saturday 10 October are working days.
    ("2026-09-30T17:30", 1, "2026-10-08"),
    ("2026-09-30T09:00", 3, "2026-10-10"),  # the make-up Saturday counts
    ("2026-09-19T10:00", 1, "2026-09-20"),  # a make-up Sunday counts too
    ("2026-10-01T08:00", 5, "2026-10-13"),  # received on a holiday: 8, 9, 10 (Sat), 12, 13
    # 2026 Spring Festival: 15–23 February off; Saturday 14 and Saturday 28 February worked.
    ("2026-02-13T16:00", 1, "2026-02-14"),
    ("2026-02-13T16:00", 2, "2026-02-24"),
    ("2026-02-13T16:00", 5, "2026-02-27"),
    ("2026-02-13T16:00", 6, "2026-02-28"),
    # A plain week: Friday → the next Friday.
    ("2026-03-06T10:00", 5, "2026-03-13"),
])
def test_deadlines_across_national_day_and_the_spring_festival(received: str, n: int, last_day: str) -> None:
    deadline = OFFICIAL.add_working_days(_at(received), n, SHANGHAI)
    assert deadline.last_day == date.fromisoformat(last_day)
    # The end of that day, the centre's time, stored in UTC.
    assert deadline.due_at == datetime.combine(
        date.fromisoformat(last_day), datetime.min.time(), SHANGHAI
    ).astimezone(UTC) + (datetime(2000, 1, 2) - datetime(2000, 1, 1))
    assert not deadline.provisional


def test_receipt_late_in_the_evening_utc_counts_by_the_centres_day() -> None:
    # 2026-09-30 20:00 UTC is already 1 October in Shanghai (a holiday).
    deadline = OFFICIAL.add_working_days(datetime(2026, 9, 30, 20, 0, tzinfo=UTC), 1, SHANGHAI)
    assert deadline.last_day == date(2026, 10, 8)


def test_a_year_without_a_published_arrangement_is_provisional() -> None:
    # 2027: the package raises; the law's holidays are known: 除夕 5 February … 初三 8 February.
    holidays = statutory_holidays(2027)
    assert [d for d, name in holidays.items() if name == "春节"] == [
        date(2027, 2, 5), date(2027, 2, 6), date(2027, 2, 7), date(2027, 2, 8)]
    assert date(2027, 5, 2) in holidays and date(2027, 10, 3) in holidays
    assert qingming(2027) == date(2027, 4, 5)
    deadline = OFFICIAL.add_working_days(_at("2027-02-03T10:00"), 3, SHANGHAI)
    assert deadline.last_day == date(2027, 2, 10)  # Thu 4, (Fri 5 … Mon 8 off), Tue 9, Wed 10
    assert deadline.provisional
    # A deadline in 2026 reaching into 2027 is provisional as well.
    assert OFFICIAL.add_working_days(_at("2026-12-30T10:00"), 3, SHANGHAI).provisional
    assert not OFFICIAL.add_working_days(_at("2026-12-21T10:00"), 3, SHANGHAI).provisional


def test_the_fallback_matches_the_published_years_statutory_days() -> None:
    for year in (2025, 2026):
        for day in statutory_holidays(year):
            assert not OFFICIAL.info(day).working, day


def test_remaining_working_days_as_the_console_shows_them() -> None:
    due = OFFICIAL.add_working_days(_at("2026-09-30T09:00"), 3, SHANGHAI).due_at
    assert remaining_text(OFFICIAL, _at("2026-10-08T09:00"), due, SHANGHAI) == ("剩余 2 个工作日", 2)
    assert remaining_text(OFFICIAL, _at("2026-10-10T09:00"), due, SHANGHAI) == ("今天到期", 0)
    assert remaining_text(OFFICIAL, _at("2026-10-13T09:00"), due, SHANGHAI) == ("已超期 2 个工作日", -2)


async def test_overrides_and_an_imported_year_change_later_deadlines_only(sessions: SessionFactory) -> None:
    async with sessions.begin() as session:
        before = (await load_calendar(session)).add_working_days(_at("2027-09-29T10:00"), 3, SHANGHAI)
        assert before.provisional and before.last_day == date(2027, 10, 5)  # 30 Sep, 4, 5 Oct
        # The arrangement is published: 1–7 October off, Saturday 9 October worked.
        lines = ["# 2027 国庆", *[f"2027-10-0{d},holiday,国庆节" for d in range(1, 8)],
                 "2027-10-09,workday,国庆节"]
        assert await import_year(session, 2027, lines, actor="admin") == 8
        await set_override(session, date(2027, 9, 30), "holiday", "台风停工", actor="admin")
    async with sessions() as session:
        after = (await load_calendar(session)).add_working_days(_at("2027-09-29T10:00"), 3, SHANGHAI)
    assert after.last_day == date(2027, 10, 11)  # 8 Fri, 9 Sat (make-up), 11 Mon
    assert not after.provisional
    assert before.due_at != after.due_at  # the earlier deadline was its own value, kept by its case


async def test_a_bad_arrangement_imports_nothing(sessions: SessionFactory) -> None:
    async with sessions.begin() as session:
        with pytest.raises(CalendarImportError) as raised:
            await import_year(session, 2027, ["2027-10-01,holiday,国庆节", "2027-13-01,holiday",
                                              "2028-01-01,holiday", "2027-10-02,party"],
                              actor="admin")
    assert [p.split(":")[0] for p in raised.value.details["problems"]] == ["line 2", "line 3", "line 4"]
    async with sessions() as session:
        assert (await load_calendar(session)).overrides == {}


def test_cli_due_and_show(settings: Settings) -> None:
    assert settings.secret_key is not None
    runner = CliRunner(env={"CALLCENTER_DATABASE_URL": settings.database_url,
                            "CALLCENTER_DATA_DIR": str(settings.data_dir),
                            "CALLCENTER_SECRET_KEY": settings.secret_key.get_secret_value()})
    due = runner.invoke(main, ["calendar", "due", "2026-09-30T09:00", "--working-days", "3"])
    assert due.exit_code == 0, due.output
    assert due.output.startswith("2026-10-10 24:00") and "provisional" not in due.output
    later = runner.invoke(main, ["calendar", "due", "2027-02-03", "--working-days", "3"])
    assert later.output.startswith("2027-02-10 24:00") and "provisional" in later.output
    shown = runner.invoke(main, ["calendar", "show", "2026"])
    assert "2026-10-10 Sat working (make-up) 国庆节" in shown.output
    assert "2026-10-01 Thu day off" in shown.output and "official" in shown.output
    shown = runner.invoke(main, ["calendar", "show", "2027"]).output
    assert "2027-02-05 Fri day off           春节" in shown and "provisional" in shown
    bad = runner.invoke(main, ["calendar", "due", "yesterday", "--working-days", "3"])
    assert bad.exit_code == 2 and "is not a date" in bad.output
