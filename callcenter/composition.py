"""The composition root: every long-lived object of a product process, built once, in order.

Roles (``callcenter serve --role``):
- ``calls``: the Asterisk adapters on every node and the Stasis applications (SOS);
- ``notify``: the outbox dispatcher that sends SMS and email;
- ``web``: the console and its JSON API.
Every role shares the store, the bus and the write journal. A process without
``calls`` has no call control: the console's "join" and device alarms over HTTP answer
503 there. The ``calls`` role also takes device alarms on MQTT when ``mqtt_url`` is set.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import TYPE_CHECKING

from ari_apps.alarms.mqtt import MqttAlarms
from ari_apps.alarms.services import AlarmIntake
from ari_apps.sos.notifier import SosNotifier
from ari_apps.sos.stasis import SosApp
from ari_apps.sos.store import IncidentRecorder, register_journal_kinds
from callcenter.asterisk import AsteriskCluster
from callcenter.bus import Bus
from callcenter.journal import Journal, Resilient
from callcenter.logs import get_logger
from callcenter.notify.outbox import Outbox
from callcenter.notify.services import open_notifications
from callcenter.runtime import Runtime, open_runtime
from callcenter.settings import Settings

if TYPE_CHECKING:
    from webui.health import HealthCheck

log = get_logger(__name__)

ALL_ROLES = ("calls", "notify", "web")


@dataclass
class Product:
    """Everything a product process runs."""

    runtime: Runtime
    roles: frozenset[str]
    journal: Journal
    outbox: Outbox
    recorder: IncidentRecorder
    notifier: SosNotifier
    cluster: AsteriskCluster | None = None
    sos: SosApp | None = None
    alarms: AlarmIntake | None = None
    mqtt: MqttAlarms | None = None


@asynccontextmanager
async def open_product(
    settings: Settings, roles: frozenset[str], *, bus: Bus | None = None,
    cluster: AsteriskCluster | None = None,
) -> AsyncIterator[Product]:
    """Open the product's parts for ``roles``; close them in reverse order on exit."""
    async with AsyncExitStack() as stack:
        runtime = await stack.enter_async_context(open_runtime(settings, bus))
        journal = Journal(settings.data_dir / "journal", runtime.sessions)
        register_journal_kinds(journal)
        if "notify" in roles:
            notifications = await stack.enter_async_context(
                open_notifications(settings, runtime.sessions, journal)
            )
            outbox = notifications.outbox
        else:
            outbox = Outbox(Resilient(journal, runtime.sessions), journal)
        journal.start()  # replays whatever a previous run journaled, then every 30 s
        stack.push_async_callback(journal.close)
        recorder = IncidentRecorder(runtime.sessions, journal)
        recorder.start()
        stack.push_async_callback(recorder.close)
        notifier = SosNotifier(runtime.bus, outbox.submit_many)
        stack.push_async_callback(notifier.close)  # drains first, for a bounded time
        product = Product(runtime, roles, journal, outbox, recorder, notifier)
        if "calls" in roles:
            product.cluster = cluster or AsteriskCluster.from_settings(settings)
            product.sos = SosApp(
                product.cluster.ari, settings, runtime.read_sessions, recorder, notifier
            )
            product.sos.attach()
            await product.cluster.start()
            stack.push_async_callback(product.cluster.close)
            stack.push_async_callback(product.sos.close)
            product.alarms = AlarmIntake(product.sos, runtime.sessions, settings)
            if settings.mqtt_url:
                product.mqtt = MqttAlarms.from_settings(settings, product.alarms)
                product.mqtt.start()
                stack.push_async_callback(product.mqtt.close)
        yield product


def asterisk_check(product: Product) -> HealthCheck | None:
    """A /healthz check: every node's ARI WebSocket is up (None without call control)."""
    from webui.health import CheckResult

    cluster = product.cluster
    if cluster is None:
        return None

    async def check() -> CheckResult:
        started = perf_counter()
        down = [name for name, client in cluster.ari.items() if not client.connected]
        latency = round((perf_counter() - started) * 1000, 3)
        if down:
            return CheckResult(status="error", latency_ms=latency,
                               detail=f"ARI not connected: {', '.join(sorted(down))}")
        return CheckResult(status="ok", latency_ms=latency)

    return check
