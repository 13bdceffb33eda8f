"""The ``callcenter`` command line: the operator interface of DESIGN.md."""

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


@click.group()
@click.version_option(package_name="callcenter")
def main() -> None:
    """Eldercare hotline and social-alarm call centre on Asterisk."""


# Feature command groups register below, one line each.
