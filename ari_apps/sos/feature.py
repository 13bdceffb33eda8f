"""The SOS feature: what it brings to the product, declared in one place.

- every process: the incident recorder (rows through the write journal) and the notifier
  (console pops, SMS and email through the outbox);
- ``calls``: the SOS Stasis app on the router (``sos`` and ``leg`` StasisStarts, ``sos-``
  bridges and recordings, legs named after their incident), and the ``sos.join`` command
  that any console process may send;
- the console: the incidents pages and the SOS API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ari_apps.sos.keys import NOTIFIER, RECORDER, SOS
from callcenter.feature import Feature, Host

if TYPE_CHECKING:
    from aiohttp import web

    from callcenter.journal import Journal


async def load(host: Host) -> None:
    """Build the SOS objects this process runs."""
    from ari_apps.sos.notifier import SosNotifier
    from ari_apps.sos.stasis import SosApp
    from ari_apps.sos.store import IncidentRecorder

    runtime = host.runtime
    recorder = IncidentRecorder(runtime.sessions, host.journal)
    recorder.start()
    host.stack.push_async_callback(recorder.close)
    notifier = SosNotifier(runtime.bus, host.outbox.submit_many)
    host.stack.push_async_callback(notifier.close)  # drains first, for a bounded time
    host.provide(RECORDER, recorder)
    host.provide(NOTIFIER, notifier)
    if host.cluster is None or host.router is None:
        return
    sos = SosApp(host.cluster.ari, runtime.settings, runtime.read_sessions, recorder, notifier,
                 host.scheduler, host.commands)
    sos.attach(host.router)
    host.stack.push_async_callback(sos.close)
    host.provide(SOS, sos)


def journal_kinds(journal: Journal) -> None:
    """Incident rows, legs, timeline entries and work orders replay from the journal."""
    from ari_apps.sos.store import register_journal_kinds

    register_journal_kinds(journal)


def install_console(app: web.Application, host: Host) -> None:
    """The incidents pages and the SOS API."""
    from ari_apps.sos.http import install_web
    from ari_apps.sos.media_http import install_media

    install_web(app, host.get(SOS), host.commands)
    install_media(app, host.commands)  # Asterisk fetches responders' spoken prompts here


FEATURE = Feature(
    name="sos",
    models=("ari_apps.sos.models",),
    journal_kinds=journal_kinds,
    load=load,
    web=install_console,
)
