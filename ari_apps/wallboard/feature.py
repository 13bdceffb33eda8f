"""The supervisor's live view: every figure of the hotline's queues and agents from the
stored calls and agent events, kept live by the hotline's bus topics.

It needs nothing of the hotline's in-process objects (only the shared tables and the
topics ``hotline.queue.changed``, ``hotline.agent.changed``, ``hotline.callbacks.changed``
and ``hotline.call.*``), so any console process, a web-only one too, serves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.feature import Feature, Host

if TYPE_CHECKING:
    from aiohttp import web


async def load(host: Host) -> None:
    """Offer the hotline's answer rate to the workflow's evaluation (every process)."""
    from ari_apps.wallboard.callstats import HotlineCallStats
    from workflow.keys import CALL_STATS

    host.provide(CALL_STATS, HotlineCallStats(host.runtime.sessions))


def install_console(app: web.Application, host: Host) -> None:
    """The page, the chart, ``GET /api/queues`` and the live pushes."""
    from ari_apps.wallboard.http import install_web

    install_web(app)


FEATURE = Feature(name="wallboard", load=load, web=install_console)
