"""Times as the centre reads them: every page shows them in ``CALLCENTER_TIME_ZONE``.

The store keeps UTC; the console's pages and scripts convert at the last moment, with
the same zone (``time_zone`` on ``<body data-tz>`` for the scripts), so a time reads the
same on every page whatever the browser's or the server's own zone.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jinja2

DATE_TIME = "%Y-%m-%d %H:%M:%S"
TIME = "%H:%M:%S"


def in_zone(value: datetime, zone: ZoneInfo) -> datetime:
    """``value`` in ``zone``; a naive time is taken as UTC (what the store means)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone)


def local_time(value: datetime | None, zone: ZoneInfo, fmt: str = DATE_TIME) -> str:
    """``value`` formatted in ``zone``; empty for no time."""
    return in_zone(value, zone).strftime(fmt) if value is not None else ""


def install_time_filters(env: jinja2.Environment, zone_name: str) -> None:
    """``{{ at | local_time }}`` (or ``local_time("%H:%M")``) and ``time_zone`` in templates."""
    zone = ZoneInfo(zone_name)

    def _filter(value: datetime | None, fmt: str = DATE_TIME) -> str:
        return local_time(value, zone, fmt)

    env.filters["local_time"] = _filter
    env.globals["time_zone"] = zone_name
