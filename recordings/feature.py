"""The recordings feature: capture, call records reconciled with Asterisk, retention with
holds, integrity checks and the auditors' console, declared in one place.

- every process: the store, the retention policy (refused below the law at start), the
  hold service other features call (``recordings.holds``: the complaint workflow);
- ``calls``: capture on the bus event ``recording.ready`` and on the AMI events
  ``VarSet`` (``MIXMONITOR_FILENAME``), ``MixMonitorStop``/``Hangup`` (the spool), live
  ``Cdr`` events (kept in ``cdr_events`` until applied), the daily job on the
  scheduler (``retention.sweep``: capture reconciled, CDRs imported, the sweep);
- the console: the auditors' page and ``/api/recordings``.
"""

from __future__ import annotations

import asyncio
import time as wall
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from callcenter.bus import BusMessage
from callcenter.feature import Feature, Host
from callcenter.logs import get_logger
from recordings.keys import CAPTURE, HOLDS, RECORDINGS

if TYPE_CHECKING:
    import click
    from aiohttp import web

    from callcenter.asterisk import AmiEvent, AriClient
    from callcenter.scheduler import Timer
    from recordings.capture import CaptureRequest
    from recordings.services import Recordings

log = get_logger(__name__)
CDR_FLUSH_SECONDS = 60.0
#: Calls whose MixMonitor was announced and that have not hung up yet, remembered at most.
MAX_ANNOUNCED = 20_000


async def load(host: Host) -> None:
    """Build the recordings objects this process runs."""
    from recordings.services import Recordings

    cluster = host.cluster

    def ari(node: str) -> AriClient | None:
        return cluster.ari.get(node) if cluster is not None else None

    recordings = Recordings.build(host.runtime.settings, host.runtime.sessions, ari=ari,
                                  publish=host.runtime.bus.publish)
    host.provide(HOLDS, recordings.holds)
    host.provide(CAPTURE, recordings.capture)
    host.provide(RECORDINGS, recordings)
    if "calls" not in host.roles:
        return
    await _attach_calls(host, recordings)


async def _attach_calls(host: Host, recordings: Recordings) -> None:
    from recordings.capture import CaptureRequest
    from recordings.exceptions import RecordingNotComplete, StoreFull
    from recordings.services import RETRY_DELAYS, SWEEP_KEY, SWEEP_KIND

    tasks: set[asyncio.Task[object]] = set()

    def spawn(work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        tasks.add(task)  # owned here, awaited when the feature stops
        task.add_done_callback(tasks.discard)

    async def take_with_retries(request: CaptureRequest) -> None:
        for delay in (*RETRY_DELAYS, None):
            try:
                row = await recordings.capture.take(request)
            except StoreFull:
                return  # logged; the file stays with Asterisk, the daily pass tries again
            except RecordingNotComplete:
                if delay is None:
                    return  # the daily pass takes it once it has settled
                await asyncio.sleep(delay)
                continue
            except Exception:  # noqa: BLE001 - task boundary: the daily pass tries again
                log.exception("recording capture failed", name=request.name)
                return
            if row.problem != "never-arrived" or delay is None:
                return
            await asyncio.sleep(delay)  # announced but not there yet: Asterisk may be closing it

    async def ready(message: BusMessage) -> None:
        try:
            request = CaptureRequest.from_event(dict(message.payload))
        except ValueError as err:
            log.error("recording.ready refused", error=str(err))
            return
        spawn(take_with_retries(request))  # the bus pump never waits on a download

    await host.subscribe("recording.ready", ready)
    if host.cluster is not None:
        _watch_spool(host, recordings, spawn, take_with_retries)

        async def cdr_event(event: AmiEvent) -> None:
            await recordings.cdr.on_cdr(event.headers, event.node)

        host.cluster.on_ami("Cdr", cdr_event)

    async def flush_cdrs() -> None:
        while True:
            await asyncio.sleep(CDR_FLUSH_SECONDS)
            try:
                await recordings.cdr.flush()
            except Exception:  # noqa: BLE001 - the store may be down: the CSV catches up
                log.exception("CDR reconciliation failed")

    flusher = asyncio.get_running_loop().create_task(flush_cdrs(), name="recordings-cdr")

    async def stop_flusher() -> None:
        flusher.cancel()
        for task in tasks:
            task.cancel()  # a capture cut off here is taken again by the daily pass
        await asyncio.gather(flusher, *tasks, return_exceptions=True)

    host.stack.push_async_callback(stop_flusher)
    budget = host.runtime.settings.scheduler_lease_seconds / 2 - 5

    async def sweep(timer: Timer) -> None:
        report = await recordings.daily(budget_seconds=max(5.0, budget))
        now = recordings.clock()
        due = recordings.next_sweep(now) if report.complete else now
        await host.scheduler.schedule(SWEEP_KIND, SWEEP_KEY, due)

    host.scheduler.register(SWEEP_KIND, sweep)
    pending = await host.scheduler.timers(kind=SWEEP_KIND, state="pending", limit=1)
    if not pending:  # an overdue one is left as it is: it runs now
        await host.scheduler.schedule(SWEEP_KIND, SWEEP_KEY,
                                      recordings.next_sweep(recordings.clock()))
    started = wall.monotonic()
    try:
        added = await recordings.cdr.import_csv()
        # CDR events a stopped or killed process received and never applied.
        kept = await recordings.cdr.flush(everything=True)
    except Exception:  # noqa: BLE001 - the store or the file may be away: the daily job retries
        log.exception("CDRs not reconciled at start")
        added = kept = 0
    log.info("recordings ready", calls_from_cdr_file=added, calls_from_cdr_events=kept,
             seconds=round(wall.monotonic() - started, 3))


def _watch_spool(host: Host, recordings: Recordings,
                 spawn: Callable[[Coroutine[Any, Any, object]], None],
                 take: Callable[[CaptureRequest], Coroutine[Any, Any, None]]) -> None:
    """The dialplan's MixMonitor files: announced by the ``VarSet`` of
    ``MIXMONITOR_FILENAME`` (Asterisk 22 sends it as MixMonitor starts), taken at the
    ``Hangup`` of the call's first channel, even when the file is not there (then flagged
    ``never-arrived`` on the call, not silently missing)."""
    from recordings.capture import CaptureRequest
    from recordings.models import RecordingSource

    assert host.cluster is not None
    announced: OrderedDict[str, str] = OrderedDict()  # linkedid → spool file name

    def started(event: AmiEvent) -> None:
        if event.get("Variable") != "MIXMONITOR_FILENAME":
            return
        name = recordings.capture.spool_name(str(event.get("Value") or ""))
        linkedid = str(event.get("Linkedid") or "")
        if name is None or not linkedid:
            return
        announced[linkedid] = name
        while len(announced) > MAX_ANNOUNCED:
            announced.popitem(last=False)  # a call that never hung up here: the daily pass
        spawn(_logged(recordings.expect(linkedid, name), "recording not noted on its call"))

    def ended(event: AmiEvent) -> None:
        linkedid = str(event.get("Linkedid"))
        if event.name == "Hangup" and event.get("Uniqueid") != linkedid:
            return  # only the call's first channel ends the call
        name = announced.pop(linkedid, None)
        if name is None:
            path = recordings.capture.spool_path(linkedid)
            if path is None or not path.exists():
                return  # nothing recorded through the spool
            name = path.name
        else:
            spawn(_logged(recordings.expect(linkedid, name), "recording not noted on its call"))
        spawn(take(CaptureRequest(name, RecordingSource.SPOOL, event.node, call_id=linkedid)))

    host.cluster.on_ami("VarSet", started)
    host.cluster.on_ami("MixMonitorStop", ended)
    host.cluster.on_ami("Hangup", ended)


async def _logged(work: Awaitable[None], message: str) -> None:
    try:
        await work
    except Exception:  # noqa: BLE001 - task boundary: the daily pass covers what this missed
        log.exception(message)


def commands() -> Sequence[click.Command]:
    from recordings.cli import recordings_group, retention_group

    return [retention_group, recordings_group]


def install_console(app: web.Application, host: Host) -> None:
    """The auditors' console page and the recordings API."""
    from recordings.http import install_web

    recordings = host.get(RECORDINGS)
    if recordings is not None:
        install_web(app, recordings)


FEATURE = Feature(
    name="recordings",
    models=("recordings.models",),
    commands=commands,
    load=load,
    web=install_console,
)
