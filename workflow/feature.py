"""The workflow store: work orders (the SOS follow-up among them), consults and complaint
cases on one pure state machine each; deadlines in working days as durable timers;
supervision; evaluation; the console pages and the JSON API.

- every process: the casebook and the deadline timers' handler (``workflow.deadline``); a
  complaint holds its calls' recordings through the recordings feature (``holds.py``);
- the console: the pages (``console.py``), the API (``http.py``) and a menu entry per list.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.feature import Feature, Host, ServiceKey

if TYPE_CHECKING:
    import click
    from aiohttp import web

    from workflow.casebook import Casebook

CASEBOOK: ServiceKey[Casebook] = ServiceKey("workflow.casebook")
WEB_DIR = Path(__file__).parent / "web"


async def load(host: Host) -> None:
    from zoneinfo import ZoneInfo

    from callcenter.store.models import utcnow
    from workflow.casebook import Casebook
    from workflow.deadlines import DeadlineTimers

    runtime = host.runtime
    host.provide(CASEBOOK, Casebook(runtime.sessions, runtime.settings, runtime.bus, host.scheduler))
    DeadlineTimers(runtime.sessions, runtime.bus, utcnow, zone=ZoneInfo(runtime.settings.time_zone),
                   wake=host.outbox.wake).register(host.scheduler)


def install_console(app: web.Application, host: Host | None) -> None:
    """The workflow pages and API; ``host`` gives the casebook and, once the hotline runs,
    its calls for the answer rate."""
    from callcenter.store.models import Role
    from webui.keys import CLOCK, RUNTIME
    from webui.pages import ConsolePart, NavItem, add_nav, add_part, add_web_dir
    from workflow.calendar_console import install_calendar_page
    from workflow.casebook import Casebook
    from workflow.console import install_pages
    from workflow.http import CASEBOOK as APP_CASEBOOK
    from workflow.http import HOST, install_api

    runtime = app[RUNTIME] if host is None else host.runtime
    book = host.get(CASEBOOK) if host is not None else None
    app[APP_CASEBOOK] = book or Casebook(runtime.sessions, runtime.settings, runtime.bus,
                                         host.scheduler if host else None, app[CLOCK])
    if host is not None:
        app[HOST] = host
    add_web_dir(app, "workflow", WEB_DIR)
    add_part(app, ConsolePart(template="_wf_part.html", styles=("/assets/workflow/workflow.css",),
                              scripts=("/assets/workflow/workflow.js",)))
    staff = frozenset({Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})
    for plural in ("workorders", "consults", "complaints"):
        add_nav(app, NavItem(plural, f"nav.{plural}", staff))
    add_nav(app, NavItem("evaluation", "nav.evaluation",
                         frozenset({Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN})))
    add_nav(app, NavItem("wf_calendar", "nav.calendar", frozenset({Role.ADMIN})))
    install_pages(app)
    install_calendar_page(app)
    install_api(app)


def _commands() -> Sequence[click.Command]:
    from workflow.cli import commands

    return commands()


FEATURE = Feature(name="workflow", models=("workflow.models",), commands=_commands, load=load,
                  web=install_console)
