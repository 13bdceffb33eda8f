"""The statutory holidays the law fixes in advance, for a year the State Council has not yet
published (the ``chinesecalendar`` package raises for it).

《全国年节及纪念日放假办法》 as revised in 2024 (in force from 2025): New Year's Day 1 day;
the Spring Festival 4 days from New Year's Eve (除夕 to 初三); Qingming 1 day; Labour Day
2 days (1–2 May); the Dragon Boat Festival 1 day (五月初五); Mid-Autumn 1 day (八月十五);
National Day 3 days (1–3 October). The lunar dates come from ``lunardate`` (its own table,
1900–2099, offline); Qingming is the solar term, by the 21st-century formula
(floor(Y·0.2422 + 4.81) − floor(Y/4), Y the last two digits of the year), which gives 4 or 5
April for every year from 2001 to 2099. Weekends that the official arrangement would swap
(调休) are unknown until it is published: that is why such a year is provisional.
"""

from __future__ import annotations

from datetime import date, timedelta

from lunardate import LunarDate


def _lunar(year: int, month: int, day: int) -> date:
    solar: date = LunarDate(year, month, day).to_solar_date()
    return solar


def qingming(year: int) -> date:
    """The day of the Qingming solar term (4 or 5 April in this century)."""
    y = year % 100
    return date(year, 4, int(y * 0.2422 + 4.81) - y // 4)


def statutory_holidays(year: int) -> dict[date, str]:
    """The days off the law itself fixes in ``year`` (before any 调休)."""
    days: dict[date, str] = {date(year, 1, 1): "元旦"}
    new_year = _lunar(year, 1, 1)
    for offset in range(-1, 3):  # 除夕, 初一, 初二, 初三
        days[new_year + timedelta(days=offset)] = "春节"
    days[qingming(year)] = "清明节"
    days[date(year, 5, 1)] = days[date(year, 5, 2)] = "劳动节"
    days[_lunar(year, 5, 5)] = "端午节"
    days[_lunar(year, 8, 15)] = "中秋节"
    for day in (1, 2, 3):
        days[date(year, 10, day)] = "国庆节"
    return days
