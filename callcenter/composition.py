"""The composition root: the kernel's long-lived objects, then every feature, for a process's roles.

Roles (``callcenter serve --role``):
- ``calls``: the Asterisk adapters on every node, the Stasis router and the features' call
  handling (SOS, alarms);
- ``notify``: the outbox dispatcher that sends SMS and email;
- ``web``: the console and its JSON API (``callcenter.server``).
Every role shares the store, the bus, the write journal and the command path. A process
without ``calls`` sends call commands (e.g. "join") over the bus to one that has it.
Features are listed in ``callcenter/registry.py``; this module never names one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from time import perf_counter
from typing import TYPE_CHECKING

from callcenter.asterisk import AmiClient, AriClient, AsteriskCluster, StasisRouter
from callcenter.bus import Bus
from callcenter.commands import CommandPath
from callcenter.feature import ROLES, Feature, Host
from callcenter.journal import Journal, Resilient
from callcenter.logs import get_logger
from callcenter.notify.outbox import Outbox
from callcenter.notify.services import open_notifications
from callcenter.registry import FEATURES
from callcenter.runtime import open_runtime
from callcenter.scheduler import Scheduler
from callcenter.scheduler.recurring import prune_every_day
from callcenter.settings import Settings

if TYPE_CHECKING:
    from webui.health import HealthCheck, HealthChecks

log = get_logger(__name__)

ALL_ROLES = ROLES


@asynccontextmanager
async def open_product(
    settings: Settings, roles: frozenset[str], *, bus: Bus | None = None,
    cluster: AsteriskCluster | None = None, features: Sequence[Feature] = FEATURES,
) -> AsyncIterator[Host]:
    """Open the kernel and ``features`` for ``roles``; close everything in reverse order."""
    async with AsyncExitStack() as stack:
        runtime = await stack.enter_async_context(open_runtime(settings, bus))
        journal = Journal(settings.data_dir / "journal", runtime.sessions)
        # Its journal kinds are registered before the journal replays (every process).
        scheduler = Scheduler.from_settings(settings, runtime.sessions, journal, runtime.bus)
        for feature in features:
            if feature.journal_kinds is not None:
                feature.journal_kinds(journal)
        if "notify" in roles:  # the worker role also keeps the timers table small
            prune_every_day(scheduler, settings)
            notifications = await stack.enter_async_context(
                open_notifications(settings, runtime.sessions, journal)
            )
            outbox = notifications.outbox
        else:
            outbox = Outbox(Resilient(journal, runtime.sessions), journal)
        journal.start()  # replays whatever a previous run journaled, then every 30 s
        stack.push_async_callback(journal.close)
        commands = CommandPath(runtime.bus)
        call_control = (
            (cluster or AsteriskCluster.from_settings(settings)) if "calls" in roles else None
        )
        if call_control is not None:
            stack.push_async_callback(call_control.close)  # after every feature has stopped
        features_stack = await stack.enter_async_context(AsyncExitStack())
        host = Host(runtime, roles, journal, outbox, commands, scheduler, features_stack)
        if call_control is not None:
            host.cluster = call_control
            host.router = StasisRouter(call_control.ari)
            host.router.attach()
        for feature in features:
            if feature.load is not None:
                await feature.load(host)
        await commands.start()
        features_stack.push_async_callback(commands.close)
        if scheduler.kinds:  # a process runs the timers of the features it loaded
            scheduler.start()
        features_stack.push_async_callback(scheduler.close)  # stops before the features
        if call_control is not None:
            # Features registered their routes and hooks first: no event arrives unrouted.
            await call_control.start()
        log.info("features loaded", features=[f.name for f in features], roles=sorted(roles))
        yield host


def health_checks(host: Host) -> HealthChecks:
    """The /healthz checks of a process: the store, Redis, and with call control every
    node's ARI WebSocket (``asterisk``) and AMI connection (``ami``)."""
    from webui.health import default_checks

    checks = default_checks(host.runtime)
    cluster = host.cluster
    if cluster is not None:
        checks.register("asterisk", _connections_check("ARI", cluster.ari))
        checks.register("ami", _connections_check("AMI", cluster.ami))
    return checks


def _connections_check(label: str, clients: Mapping[str, AriClient | AmiClient]) -> HealthCheck:
    from webui.health import CheckResult

    async def check() -> CheckResult:
        started = perf_counter()
        down = sorted(name for name, client in clients.items() if not client.connected)
        latency = round((perf_counter() - started) * 1000, 3)
        if down:
            return CheckResult(status="error", latency_ms=latency,
                               detail=f"{label} not connected: {', '.join(down)}")
        return CheckResult(status="ok", latency_ms=latency)

    return check
