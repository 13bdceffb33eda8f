"""``callcenter care call-now ELDER_CODE [--kind …]``, ``callcenter care import FILE.csv``,
``callcenter care broadcast AREA_CODE --message TEXT [--urgent] [--until ISO]`` and
``callcenter care cancel-broadcast ID``.

``call-now`` stores the call and arms its timer due now: the running product's process
with call control places it within a scheduler pass, ahead of the campaigns (no bus is
needed between the shell and the product, only the store). It then waits for the
result (``--wait`` seconds) and prints it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.exc import DBAPIError

from ari_apps.care import broadcasts
from ari_apps.care.exceptions import InvalidPlan
from ari_apps.care.imports import import_plans
from ari_apps.care.models import CareKind, CareTask
from ari_apps.care.services import call_now
from callcenter.clitools import settings_or_exit
from callcenter.directory.cli import actor_option, default_actor
from callcenter.directory.csvfile import CsvFileError
from callcenter.directory.results import ImportFailed
from callcenter.errors import DomainError
from callcenter.settings import Settings
from callcenter.store.cli import open_store, store_failure
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow


@click.group("care")
def care_group() -> None:
    """Care calls: place one now, import care plans, weather warnings for an area."""


async def _call_now(settings: Settings, code: str, kind: CareKind, actor: str,
                    ignore_quiet: bool, wait: float) -> tuple[str, CareTask | None]:
    async with open_store(settings) as sessions:
        task_id = await call_now(sessions, settings, code, kind, actor=actor, now=utcnow(),
                                 ignore_quiet_hours=ignore_quiet)
        click.echo(f"care call {task_id} queued for elder {code} ({kind.value})", err=True)
        for _ in range(int(wait)):
            async with sessions() as session:
                task = await session.get(CareTask, task_id)
            if task is not None and task.state == "done":
                return task_id, task
            await asyncio.sleep(1.0)
        return task_id, None


@care_group.command("call-now")
@click.argument("elder_code")
@click.option("--kind", type=click.Choice([k.value for k in CareKind]), default="wellbeing",
              show_default=True)
@click.option("--ignore-quiet-hours", is_flag=True,
              help="Call even in the quiet hours or outside the elder's own hours.")
@click.option("--wait", type=float, default=180.0, show_default=True,
              help="Seconds to wait for the result (0: do not wait).")
@actor_option
def call_now_command(elder_code: str, kind: str, ignore_quiet_hours: bool, wait: float,
                     actor: str | None) -> None:
    """Place one care call to ELDER_CODE at once (to test the elder's line)."""
    settings = settings_or_exit()
    try:
        task_id, task = asyncio.run(_call_now(settings, elder_code, CareKind(kind),
                                              actor or default_actor(), ignore_quiet_hours,
                                              wait))
    except DomainError as err:
        click.echo(f"callcenter: {err.error_id}: {err.message}; nothing was called", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}; nothing was called", err=True)
        sys.exit(1)
    if task is None:
        click.echo(f"care call {task_id}: no result yet (is `callcenter serve` running with "
                   "the calls role?); see GET /api/care/calls", err=True)
        sys.exit(2 if wait else 0)
    click.echo(f"care call {task_id}: {task.result} ({task.reason}) after "
               f"{task.attempts} attempt(s)")
    sys.exit(0 if task.result in ("answered_well", "wants_to_talk", "confirmed") else 3)


@care_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@actor_option
def import_command(file: Path, actor: str | None) -> None:
    """Import care plans from FILE.csv (all or nothing; every bad row reported by line)."""
    settings = settings_or_exit()

    async def run() -> object:
        async with open_store(settings) as sessions:
            return await import_plans(sessions, settings, file, actor=actor or default_actor(),
                                      now=utcnow())

    try:
        saved = asyncio.run(run())
    except CsvFileError as err:
        click.echo(f"{file}: {err}; nothing imported", err=True)
        sys.exit(1)
    except ImportFailed as err:
        for error in err.errors:
            click.echo(f"{file}: {error}", err=True)
        click.echo(f"{file}: {len(err.errors)} problem(s); nothing imported", err=True)
        sys.exit(1)
    except InvalidPlan as err:
        click.echo(f"{file}: {err.message}; nothing imported", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}; nothing imported", err=True)
        sys.exit(1)
    click.echo(f"{file}: {saved}")


T = TypeVar("T")


def _in_store(settings: Settings, work: Callable[[SessionFactory], Awaitable[T]],
              after_error: str) -> T:
    """Run ``work`` on the store; a domain error or the store away: said, exit 1."""

    async def run() -> T:
        async with open_store(settings) as sessions:
            return await work(sessions)

    try:
        return asyncio.run(run())
    except DomainError as err:
        click.echo(f"callcenter: {err.error_id}: {err.message}{after_error}", err=True)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}{after_error}", err=True)
    sys.exit(1)


def _until(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO date-time "
                                 "(e.g. 2026-12-01T18:00, local time)") from None


@care_group.command("broadcast")
@click.argument("area_code")
@click.option("--message", required=True, help="The warning, spoken to every elder.")
@click.option("--urgent", is_flag=True,
              help="Ring in the quiet hours and outside the elders' own hours too.")
@click.option("--until", callback=_until, metavar="ISO",
              help="No call is placed after this moment (local time unless it carries "
                   "an offset; default: 12 hours from now).")
@actor_option
def broadcast_command(area_code: str, message: str, urgent: bool, until: datetime | None,
                      actor: str | None) -> None:
    """A weather warning for AREA_CODE and its sub-areas: a care call to every elder."""
    settings = settings_or_exit()
    issued = _in_store(settings, lambda sessions: broadcasts.issue(
        sessions, settings, area_code, message, urgent=urgent, until=until,
        actor=actor or default_actor(), now=utcnow()), "; nothing was sent")
    click.echo(f"broadcast {issued.id}: {issued.elders} elder(s) in area {issued.area_code} "
               f"to call ({issued.without_phone} without a phone), valid until "
               f"{issued.valid_until.isoformat()}; see GET /api/care/broadcasts/{issued.id}")


@care_group.command("cancel-broadcast")
@click.argument("broadcast_id", type=int)
@actor_option
def cancel_broadcast_command(broadcast_id: int, actor: str | None) -> None:
    """Stop a broadcast's calls not yet placed (calls on the line go on)."""
    settings = settings_or_exit()
    stopped = _in_store(settings, lambda sessions: broadcasts.cancel(
        sessions, broadcast_id, actor=actor or default_actor(), now=utcnow()), "")
    click.echo(f"broadcast {broadcast_id} cancelled: {stopped} call(s) not placed")
