"""``callcenter dialplan``: render the Asterisk configuration files."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from callcenter.settings import SettingsError, load_settings
from dialplan.directory import example_directory, load_directory
from dialplan.exceptions import DialplanError
from dialplan.render import (
    ASTERISK_MONITOR_DIR,
    FALLBACK_RULES,
    check_interpreter,
    render_config,
    write_config,
    write_fallback_script,
)
from dialplan.sounds import render_sounds


@click.group()
def dialplan() -> None:
    """The Asterisk 22 configuration of the call centre."""


@dialplan.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the .conf files into (created if missing).",
)
@click.option(
    "--directory",
    "directory_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="TOML directory description (endpoints, trunk, numbers, queues). "
    "Without it, the loopback example centre is rendered (development only).",
)
@click.option(
    "--agi-python",
    "agi_python",
    metavar="PATH",
    default=None,
    help="The python the fallback AGI script runs on (its #! line), one that imports "
    "pyst2, e.g. a venv's bin/python. Default: /usr/bin/env python3 on Asterisk's PATH.",
)
def render(out_dir: Path, directory_file: Path | None, agi_python: str | None) -> None:
    """Render http, ari, manager, pjsip, extensions, queues, cdr and cdr_manager .conf files.

    Every problem is reported and nothing is written when any input is invalid. The
    files contain the ARI, AMI and SIP secrets (mode 0640); they are never printed.
    """
    try:
        settings = load_settings()
    except SettingsError as err:
        click.echo(f"callcenter dialplan: {err}", err=True)
        sys.exit(2)
    try:
        if directory_file is not None:
            directory = load_directory(directory_file)
        elif settings.env == "production":
            # The example's passwords are public: never on a production PBX.
            click.echo("callcenter dialplan: --directory is required in production", err=True)
            sys.exit(2)
        else:
            click.echo("callcenter dialplan: no --directory given, rendering the loopback example", err=True)
            directory = example_directory()
        files = render_config(settings, directory)
        if agi_python is not None:
            check_interpreter(agi_python)
    except DialplanError as err:
        click.echo(f"callcenter dialplan: {err}", err=True)
        sys.exit(2)
    for path in write_config(files, out_dir):
        click.echo(str(path))
    script = write_fallback_script(out_dir, agi_python)
    click.echo(str(out_dir / FALLBACK_RULES))
    click.echo(str(script))
    interpreter = agi_python or "the python3 first on Asterisk's PATH"
    click.echo(f"callcenter dialplan: copy {script.name} and {FALLBACK_RULES} into Asterisk's "
               "agi-bin directory (astagidir, e.g. /var/lib/asterisk/agi-bin), executable; "
               f"it runs on {interpreter}, which must import pyst2 (--agi-python names "
               "another, e.g. a venv's): [hotline-entry] runs it when FastAGI does not answer",
               err=True)
    if settings.recordings_spool is None:
        click.echo(f"callcenter dialplan: CALLCENTER_RECORDINGS_SPOOL is unset: calls are "
                   f"recorded into {ASTERISK_MONITOR_DIR}, which the product does not read; "
                   "set it to a folder Asterisk writes and the product reads (the same path "
                   "on both) and render again", err=True)


@dialplan.command()
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Asterisk's sounds directory (e.g. /var/lib/asterisk/sounds); prompts go to callcenter/.",
)
def sounds(out_dir: Path) -> None:
    """Speak the product's zh-CN prompts (SOS, announcement, one per alarm type) as 8 kHz WAV.

    Needs espeak-ng and sox. The files answer the default CALLCENTER_SOS_PROMPT_SOUND,
    CALLCENTER_SOS_ANNOUNCE_SOUND and CALLCENTER_ALARM_SOUND_PREFIX settings.
    """
    try:
        written = render_sounds(out_dir)
    except DialplanError as err:
        click.echo(f"callcenter dialplan: {err}", err=True)
        sys.exit(2)
    for path in written:
        click.echo(str(path))
