"""``callcenter audit verify``: walk the audit chain and report every break."""

from __future__ import annotations

import asyncio
import sys

import click
from sqlalchemy.exc import DBAPIError

from callcenter import audit
from callcenter.clitools import settings_or_exit
from callcenter.settings import Settings
from callcenter.store.cli import open_store, store_failure


async def _verify(settings: Settings) -> audit.ChainReport:
    async with open_store(settings) as sessions, sessions() as session:
        return await audit.verify_chain(session)


@click.group("audit")
def audit_group() -> None:
    """Inspect the append-only audit trail."""


@audit_group.command("verify")
def verify() -> None:
    """Check every entry chains to the one before; exit 1 when the chain is broken."""

    settings = settings_or_exit()
    try:
        report = asyncio.run(_verify(settings))
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(2)
    click.echo(f"{report.entries} audit entries checked")
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    if not report.ok:
        click.echo(f"the audit chain is BROKEN ({len(report.problems)} problem(s))", err=True)
        sys.exit(1)
    click.echo("the audit chain is intact")
