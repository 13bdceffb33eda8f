"""``callcenter device token|revoke DEVICE_ID``: the API tokens of SOS devices."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DBAPIError

from ari_apps.alarms.exceptions import DeviceNotRegistered
from ari_apps.alarms.tokens import issue_token, revoke_token
from callcenter.clitools import settings_or_exit
from callcenter.directory.cli import actor_option, default_actor
from callcenter.settings import Settings
from callcenter.store.cli import open_store, store_failure


@click.group("device")
def device_group() -> None:
    """SOS devices' tokens for alarms over HTTP (POST /api/alarms) and MQTT."""


T = TypeVar("T")


def _run_for_device(device_id: str, work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` on the store; an unknown device or a store failure exits with 1."""
    try:
        return asyncio.run(work)
    except DeviceNotRegistered:
        click.echo(f"callcenter: no device {device_id!r} in the directory", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(1)


async def _issue(settings: Settings, device_id: str, actor: str) -> str:
    key = settings.secret_key_bytes()
    async with open_store(settings) as sessions, sessions.begin() as session:
        return await issue_token(session, key, device_id, actor=actor)


async def _revoke(settings: Settings, device_id: str, actor: str) -> bool:
    async with open_store(settings) as sessions, sessions.begin() as session:
        return await revoke_token(session, device_id, actor=actor)


@device_group.command("token")
@click.argument("device_id")
@actor_option
def device_token(device_id: str, actor: str | None) -> None:
    """Issue a new token for DEVICE_ID (the old one stops working); printed once."""
    settings = settings_or_exit()
    token = _run_for_device(device_id, _issue(settings, device_id, actor or default_actor()))
    click.echo(f"new token for device {device_id} (shown only this once; "
               "put it in the device now):", err=True)
    click.echo(token)


@device_group.command("revoke")
@click.argument("device_id")
@actor_option
def device_revoke(device_id: str, actor: str | None) -> None:
    """Revoke DEVICE_ID's token: its alarms are refused until a new token is issued."""
    settings = settings_or_exit()
    had_token = _run_for_device(
        device_id, _revoke(settings, device_id, actor or default_actor())
    )
    click.echo(f"device {device_id}: token revoked" if had_token
               else f"device {device_id}: had no token")
