"""The ``callcenter`` command line: the operator interface of DESIGN.md."""

from __future__ import annotations

import sys

import click

from callcenter.server import ROLES
from callcenter.server import serve as run_server
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


@main.command()
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(sorted(ROLES)),
    help="Run only these roles (repeatable); default: all of them.",
)
def serve(roles: tuple[str, ...]) -> None:
    """Run the product against the configured Asterisk until stopped."""
    settings = settings_or_exit()
    run_server(settings, list(roles) or sorted(ROLES))


# Feature command groups register below, one line each.

from callcenter.pbxsim.cli import pbxsim  # noqa: E402

main.add_command(pbxsim)

from dialplan.cli import dialplan  # noqa: E402

main.add_command(dialplan)

from callcenter.directory.cli import import_group, user_group  # noqa: E402
from callcenter.store.cli import db  # noqa: E402
from callcenter.audit_cli import audit_group  # noqa: E402

main.add_command(import_group)
main.add_command(user_group)
main.add_command(db)
main.add_command(audit_group)

from callcenter.demo_data import demo_data  # noqa: E402

main.add_command(demo_data)
