"""Retention in calendar months and years (B §5.10), and the refusal of a shorter setting."""

from __future__ import annotations

from datetime import date

import pytest

from callcenter.settings import SettingsError, load_settings
from recordings.exceptions import PolicyTooShort
from recordings.policy import RetentionPolicy, add_months, first_kept, kept_through


@pytest.mark.parametrize(("made", "months", "through"), [
    (date(2025, 7, 1), 3, date(2025, 10, 1)),  # the example: not 90 days
    (date(2025, 11, 30), 3, date(2026, 2, 28)),  # no 30 February: its month's last day
    (date(2023, 11, 30), 3, date(2024, 2, 29)),  # leap year
    (date(2024, 2, 29), 36, date(2027, 2, 28)),  # 29 February + 3 years
    (date(2024, 2, 29), 48, date(2028, 2, 29)),
    (date(2025, 1, 31), 3, date(2025, 4, 30)),
    (date(2025, 12, 31), 3, date(2026, 3, 31)),  # across the year end
])
def test_kept_through_counts_calendar_months(made: date, months: int, through: date) -> None:
    assert kept_through(made, months) == through


def test_a_fixed_90_days_would_delete_two_days_early() -> None:
    assert (kept_through(date(2025, 7, 1), 3) - date(2025, 7, 1)).days == 92


@pytest.mark.parametrize("as_of", [date(2025, 1, 1) + __import__("datetime").timedelta(days=d)
                                   for d in range(0, 1200, 17)])
@pytest.mark.parametrize("months", [3, 36])
def test_first_kept_is_exactly_the_boundary(as_of: date, months: int) -> None:
    first = first_kept(as_of, months)
    assert kept_through(first, months) >= as_of
    assert kept_through(first - __import__("datetime").timedelta(days=1), months) < as_of


def test_add_months_backwards() -> None:
    assert add_months(date(2025, 3, 31), -1) == date(2025, 2, 28)


def test_a_policy_shorter_than_the_law_is_refused() -> None:
    with pytest.raises(PolicyTooShort, match="at least 3 calendar months"):
        RetentionPolicy(audio_months=2)
    with pytest.raises(PolicyTooShort, match="at least 3 calendar years"):
        RetentionPolicy(records_years=2)
    assert RetentionPolicy(audio_months=6, records_years=5).audio_name == "audio-6m"


def test_the_product_refuses_to_start_with_a_shorter_setting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_RETENTION_AUDIO_MONTHS", "2")
    monkeypatch.setenv("CALLCENTER_RETENTION_RECORDS_YEARS", "1")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    text = str(caught.value)
    assert "CALLCENTER_RETENTION_AUDIO_MONTHS: 2 is shorter than the law allows" in text
    assert "at least 3 calendar months (B §5.10)" in text
    assert "CALLCENTER_RETENTION_RECORDS_YEARS: 1 is shorter than the law allows" in text


def test_longer_settings_are_taken(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CALLCENTER_RETENTION_AUDIO_MONTHS", "6")
    monkeypatch.setenv("CALLCENTER_RETENTION_RECORDS_YEARS", "5")
    settings = load_settings()
    policy = RetentionPolicy.from_settings(settings)
    assert (policy.audio_months, policy.records_years) == (6, 5)
