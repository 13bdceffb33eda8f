"""``callcenter calendar``: deadlines in working days, the year's days off and make-up days,
and the admin's overrides and imports."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import click
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.clitools import settings_or_exit
from callcenter.directory.cli import actor_option, default_actor
from callcenter.errors import DomainError
from callcenter.store.cli import open_store, store_failure
from workflow.calendar import SOURCE_NAMES, Deadline, load_calendar
from workflow.calendar_admin import import_year, remove_override, set_override

T = TypeVar("T")


def _on_store(work: Callable[[AsyncSession], Awaitable[T]], *, write: bool = False) -> T:
    settings = settings_or_exit()

    async def run() -> T:
        async with open_store(settings) as sessions:
            if write:
                async with sessions.begin() as session:
                    return await work(session)
            async with sessions() as session:
                return await work(session)

    try:
        return asyncio.run(run())
    except DomainError as err:
        click.echo(f"callcenter: {err.message}", err=True)
        for problem in err.details.get("problems", []):
            click.echo(f"  {problem}", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(1)


def _received(value: str, zone: ZoneInfo) -> datetime:
    try:
        when = datetime.fromisoformat(value)
    except ValueError as err:
        raise click.BadParameter(f"{value!r} is not a date or time (2026-09-30 or "
                                 "2026-09-30T17:20)") from err
    return when if when.tzinfo else when.replace(tzinfo=zone)


@click.group("calendar")
def calendar_group() -> None:
    """Working days on the Chinese calendar (deadlines of work orders and complaints)."""


@calendar_group.command("due")
@click.argument("received")
@click.option("--working-days", "n", type=click.IntRange(1, 365), required=True)
def calendar_due(received: str, n: int) -> None:
    """The deadline "within N working days" of a case received at RECEIVED."""
    zone = ZoneInfo(settings_or_exit().time_zone)
    when = _received(received, zone)
    deadline = _on_store(lambda s: _due(s, when, n, zone))
    local = deadline.due_at.astimezone(zone)
    flag = "  provisional (the year's arrangement is not published)" if deadline.provisional else ""
    click.echo(f"{deadline.last_day.isoformat()} 24:00 ({local.isoformat()}){flag}")


async def _due(session: AsyncSession, when: datetime, n: int, zone: ZoneInfo) -> Deadline:
    return (await load_calendar(session)).add_working_days(when, n, zone)


@calendar_group.command("show")
@click.argument("year", type=click.IntRange(1990, 2099))
def calendar_show(year: int) -> None:
    """YEAR's non-working weekdays and make-up working days, and where each comes from."""
    async def read(session: AsyncSession) -> list[str]:
        calendar = await load_calendar(session)
        lines = []
        for info in calendar.year(year):
            kind = "working (make-up)" if info.working else "day off"
            note = " provisional" if info.provisional else ""
            lines.append(f"{info.day.isoformat()} {info.day.strftime('%a')} {kind:<17} "
                         f"{info.name or '-':<6} {info.source} ({SOURCE_NAMES[info.source]}){note}")
        return lines

    for line in _on_store(read):
        click.echo(line)


@calendar_group.command("set")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
@click.argument("kind", type=click.Choice(["holiday", "workday"]))
@click.option("--name", default="", help="e.g. 春节")
@actor_option
def calendar_set(day: datetime, kind: str, name: str, actor: str | None) -> None:
    """Override DAY: a holiday or a working day (audited)."""
    _on_store(lambda s: set_override(s, day.date(), kind, name, actor=actor or default_actor()),
              write=True)
    click.echo(f"{day.date().isoformat()}: {kind}")


@calendar_group.command("unset")
@click.argument("day", type=click.DateTime(["%Y-%m-%d"]))
@actor_option
def calendar_unset(day: datetime, actor: str | None) -> None:
    """Remove DAY's override (audited)."""
    done = _on_store(lambda s: remove_override(s, day.date(), actor=actor or default_actor()),
                     write=True)
    click.echo(f"{day.date().isoformat()}: " + ("override removed" if done else "had no override"))


@calendar_group.command("import")
@click.argument("year", type=click.IntRange(1990, 2099))
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@actor_option
def calendar_import(year: int, file: Path, actor: str | None) -> None:
    """Import YEAR's published arrangement: lines ``YYYY-MM-DD,holiday|workday,name``."""
    lines = file.read_text(encoding="utf-8-sig").splitlines()
    count = _on_store(lambda s: import_year(s, year, lines, actor=actor or default_actor()),
                      write=True)
    click.echo(f"{year}: {count} days imported; its deadlines are no longer provisional")


def commands() -> list[click.Command]:
    return [calendar_group]

