"""Helpers shared by every ``callcenter`` command."""

from __future__ import annotations

import sys

import click

from callcenter.settings import Settings, SettingsError, load_settings


def settings_or_exit() -> Settings:
    """Load the settings, or print every problem and exit with status 2."""
    try:
        return load_settings()
    except SettingsError as err:
        click.echo(f"callcenter: {err}", err=True)
        sys.exit(2)
