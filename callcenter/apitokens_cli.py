"""``callcenter api-token create|list|revoke``: bearer tokens for other systems and scripts."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from callcenter.apitokens import (
    NAME_PATTERN,
    ApiClientRow,
    create_client,
    hashing_key,
    list_clients,
    revoke_client,
)
from callcenter.clitools import settings_or_exit
from callcenter.directory.cli import actor_option, default_actor
from callcenter.errors import DomainError
from callcenter.settings import Settings
from callcenter.store.cli import open_store, store_failure
from callcenter.store.models import Role

T = TypeVar("T")


@click.group("api-token")
def api_token_group() -> None:
    """Bearer tokens for /api calls by other systems and scripts (no browser session)."""


def _run(work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the store; a domain refusal or a store failure exits with 1."""
    try:
        return asyncio.run(work)
    except DomainError as err:
        click.echo(f"callcenter: {err.message} {err.details}", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(1)


async def _create(settings: Settings, name: str, role: Role, area: str | None, actor: str) -> str:
    async with open_store(settings) as sessions, sessions.begin() as session:
        return await create_client(session, hashing_key(settings.secret_key_bytes()), name, role,
                                   area, actor=actor)


async def _list(settings: Settings) -> list[ApiClientRow]:
    async with open_store(settings) as sessions, sessions() as session:
        return await list_clients(session)


async def _revoke(settings: Settings, name: str, actor: str) -> bool:
    async with open_store(settings) as sessions, sessions.begin() as session:
        return await revoke_client(session, name, actor=actor)


@api_token_group.command("create")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]),
              help="What the token may do, exactly like a console user of this role.")
@click.option("--area", "area", default=None, metavar="CODE",
              help="Limit the token to this area and below (default: the whole service).")
@actor_option
def create(name: str, role: str, area: str | None, actor: str | None) -> None:
    """Create API client NAME and print its token (shown only this once)."""
    if not re.match(NAME_PATTERN, name):
        raise click.BadParameter("letters, digits, '.', '_' or '-', at most 64", param_hint="NAME")
    settings = settings_or_exit()
    token = _run(_create(settings, name, Role(role), area, actor or default_actor()))
    click.echo(f"token for API client {name} (shown only this once; send it as "
               "'Authorization: Bearer <token>'):", err=True)
    click.echo(token)


@api_token_group.command("list")
def list_command() -> None:
    """Every API client with its role, area and state (never the token)."""
    settings = settings_or_exit()
    for row in _run(_list(settings)):
        state = f"revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else "active"
        click.echo(f"{row.name}\t{row.role}\t{row.area_code or '*'}\t"
                   f"created {row.created_at:%Y-%m-%d %H:%M}\t{state}")


@api_token_group.command("revoke")
@click.argument("name")
@actor_option
def revoke(name: str, actor: str | None) -> None:
    """Revoke NAME's token: its calls are refused (401) from now on."""
    settings = settings_or_exit()
    revoked = _run(_revoke(settings, name, actor or default_actor()))
    click.echo(f"API client {name}: token revoked" if revoked
               else f"API client {name}: was already revoked")
