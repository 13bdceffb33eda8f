"""``callcenter retention sweep [--dry-run] [--as-of DATE]`` and ``callcenter recordings verify``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from callcenter.clitools import settings_or_exit
from callcenter.settings import Settings
from callcenter.store.cli import open_store, store_failure
from recordings.exceptions import StoreUnavailable
from recordings.services import Recordings
from recordings.sweep import SweepReport
from recordings.verify import VerifyReport, to_verify, verify

T = TypeVar("T")


def _run(settings: Settings, work: Callable[[Recordings], Awaitable[T]]) -> T:
    async def main() -> T:
        async with open_store(settings) as sessions:
            return await work(Recordings.build(settings, sessions))

    try:
        return asyncio.run(main())
    except StoreUnavailable as err:
        click.echo(f"callcenter: {err.message} ({settings.recordings_dir}); nothing was changed "
                   "since; run again once it is back", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(1)


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{count} B"
        value /= 1024
    return f"{count} B"


def print_sweep(report: SweepReport, echo: Callable[[str], Any] = click.echo) -> None:
    verb = "would be" if report.dry_run else "were"
    echo(f"retention sweep as of {report.as_of}{' (dry run: nothing changed)' if report.dry_run else ''}")
    if report.interrupted_finished:
        echo(f"  finished an interrupted sweep: {report.interrupted_finished} recording(s)")
    echo(f"  recordings {verb} removed: {report.audio_deleted} ({_size(report.bytes_freed)})")
    echo(f"  call records {verb} anonymised: {report.records_anonymised}, "
         f"purged: {report.records_purged}")
    held = ", ".join(f"{kind} {n}" for kind, n in sorted(report.audio_held.items())) or "none"
    echo(f"  kept past retention because of a hold: {held}; "
         f"call records held: {report.records_held}")
    for example in report.held_examples:
        echo(f"    {example['serial']}: {example['hold']} hold"
             f"{' case ' + example['case'] if example['case'] else ''}"
             f"{' until ' + example['until'] if example['until'] else ' (until released)'}")
    echo(f"  orphan files{' removed' if not report.dry_run else ''}: {report.orphans} "
         f"({_size(report.orphan_bytes)}); recordings whose file is missing: {report.missing}")
    if not report.complete:
        echo("  stopped at its time limit: run it again to carry on")


@click.group("retention")
def retention_group() -> None:
    """Retention by law (B §5.10): recordings and call records past their period."""


@retention_group.command("sweep")
@click.option("--dry-run", is_flag=True, help="report what would be removed; change nothing")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="the local date to sweep as of (a later date only with --dry-run)")
def sweep_command(dry_run: bool, as_of: Any) -> None:
    """Remove expired audio (a tombstone stays), anonymise or purge expired call records."""
    settings = settings_or_exit()
    day: date | None = as_of.date() if as_of is not None else None

    async def work(recordings: Recordings) -> SweepReport:
        target = day or recordings.sweeper.today()
        if target > recordings.sweeper.today() and not dry_run:
            raise click.UsageError("--as-of a later date only previews: add --dry-run")
        total = await recordings.sweeper.candidates(target)
        with click.progressbar(length=total, label="sweeping", file=sys.stderr) as bar:
            return await recordings.sweeper.run(target, dry_run=dry_run, progress=bar.update)

    print_sweep(_run(settings, work))


@click.group("recordings")
def recordings_group() -> None:
    """The recordings store."""


@recordings_group.command("verify")
def verify_command() -> None:
    """Check every stored recording's checksum; exit 1 listing corrupted or missing ones."""
    settings = settings_or_exit()

    async def work(recordings: Recordings) -> VerifyReport:
        total = await to_verify(recordings.sessions)
        with click.progressbar(length=total, label="verifying", file=sys.stderr) as bar:
            return await verify(recordings.sessions, recordings.store, progress=bar.update)

    report = _run(settings, work)
    click.echo(f"{report.checked} recording(s) checked")
    for serial in report.corrupted:
        click.echo(f"  corrupted: {serial}")
    for serial in report.missing:
        click.echo(f"  missing: {serial}")
    if not report.ok:
        sys.exit(1)
