"""The ``callcenter`` command line: the operator interface of DESIGN.md."""

from __future__ import annotations

import click

from callcenter.apitokens_cli import api_token_group
from callcenter.audit_cli import audit_group
from callcenter.clitools import settings_or_exit
from callcenter.demo import demo
from callcenter.demo_data import demo_data
from callcenter.directory.cli import import_group, user_group
from callcenter.feature import ROLES as ALL_ROLES
from callcenter.pbxsim.cli import pbxsim
from callcenter.registry import FEATURES
from callcenter.store.cli import db
from dialplan.cli import dialplan


@click.group()
@click.version_option(package_name="callcenter")
def main() -> None:
    """Eldercare hotline and social-alarm call centre on Asterisk."""


@main.command()
@click.option(
    "--role",
    "roles",
    multiple=True,
    type=click.Choice(ALL_ROLES),
    help="Run only these roles (repeatable): calls, notify, web. Default: all of them.",
)
def serve(roles: tuple[str, ...]) -> None:
    """Run the product against the configured Asterisk until stopped."""
    from callcenter.server import serve as run_server

    settings = settings_or_exit()
    run_server(settings, frozenset(roles or ALL_ROLES))


for command in (db, import_group, user_group, audit_group, dialplan, pbxsim, demo, demo_data,
                api_token_group):
    main.add_command(command)
for feature in FEATURES:
    for command in feature.commands() if feature.commands is not None else ():
        main.add_command(command)
