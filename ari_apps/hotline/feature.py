"""The hotline feature: what it brings to the product, declared in one place.

- every process: the call-record and agent-event journal kinds;
- ``calls``: the FastAGI ``hotline`` route, the routing snapshot for the classic-AGI
  fallback, AMI queue events into call rows, agent state and callbacks (scheduler kind
  ``hotline.callback``), transfers, click-to-dial and supervision (Stasis
  ``hotline-supervise``), and the ``hotline.*`` commands;
- the console: ``/api/agents``, ``/api/calls``, ``/api/callbacks`` and the call actions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from ari_apps.hotline.keys import HOTLINE
from callcenter.feature import Feature, Host

if TYPE_CHECKING:
    from aiohttp import web

    from callcenter.journal import Journal


def _now() -> datetime:
    return datetime.now(UTC)


async def load(host: Host) -> None:
    """Build the hotline's call control in a ``calls`` process."""
    if host.cluster is None:
        return
    from ari_apps.hotline.services import HotlineService

    runtime = host.runtime
    service = HotlineService(host.cluster, host.router, runtime.sessions, host.journal,
                             host.scheduler, host.outbox, runtime.bus, runtime.settings, _now)
    service.attach(host.commands)
    await service.start()
    host.stack.push_async_callback(service.close)
    host.provide(HOTLINE, service)


def journal_kinds(journal: Journal) -> None:
    """Call rows and agent events replay from the journal."""
    from ari_apps.hotline.store import register_journal_kinds

    register_journal_kinds(journal)


def install_console(app: web.Application, host: Host) -> None:
    """The hotline API."""
    from ari_apps.hotline.http import install_web

    install_web(app, host.commands)


FEATURE = Feature(
    name="hotline",
    models=("ari_apps.hotline.models",),
    journal_kinds=journal_kinds,
    load=load,
    web=install_console,
)
