"""The workflow store: work orders (the SOS follow-up among them), consults and complaint
cases on one pure state machine each; deadlines in working days as durable timers;
supervision; evaluation; the console pages and the JSON API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from callcenter.feature import Feature

if TYPE_CHECKING:
    import click


def _commands() -> Sequence[click.Command]:
    from workflow.cli import commands

    return commands()


FEATURE = Feature(name="workflow", models=("workflow.models",), commands=_commands)
