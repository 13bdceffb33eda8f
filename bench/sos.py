"""SOS start latency under N concurrent incidents: StasisStart → every first-round leg dialled.

Latency is measured per incident from the moment the caller's StasisStart frame reaches
the product (AriClient.handle_frame) to the moment the last first-round originate
(120, the first doctor, the first kin, the social worker) has returned from ARI. This
differs from ``SosConference.first_round_seconds``, which starts later (when the
conference's task runs begin()) and ends later (it also waits for answer, bridge,
record and the prompt): both are printed.

The simulator runs in a subprocess (``callcenter pbxsim``, real-time clock, calls
injected through its control API), so the CPU figures are the product's alone;
``--inprocess`` runs it in the same process instead (CPU then includes the simulator).

Run (PostgreSQL database cc_bench_sos is dropped and re-created with demo elders):
    python bench/sos.py                        # 100 and 500 incidents, PostgreSQL
    python bench/sos.py --store sqlite --incidents 100 500 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import structlog
from sqlalchemy import select
from sqlalchemy.engine import make_url

from ari_apps.sos.actions import run_on
from ari_apps.sos.conference import SosConference
from ari_apps.sos.models import Disposition
from ari_apps.sos.notifier import SosNotifier
from ari_apps.sos.stasis import SosApp
from ari_apps.sos.store import IncidentRecorder, register_journal_kinds
from callcenter.asterisk import AriClient, StasisRouter
from callcenter.bus import MemoryBus
from callcenter.commands import CommandPath
from callcenter.journal import Journal, Resilient
from callcenter.notify.outbox import Outbox
from callcenter.scheduler import Scheduler
from callcenter.settings import load_settings
from callcenter.store import create_engine, session_factory
from callcenter.store.models import ElderPhone

sys.path.insert(0, str(Path(__file__).parent))
from sos_floor import BareSosApp, Fanout, FanoutClock, basic_auth, compare  # noqa: E402 - beside this file
from sos_probe import Probe, children_cpu, speech_settled  # noqa: E402
from sos_setup import SECRET, Simulator, prepare_store  # noqa: E402

# -- the product side --------------------------------------------------------------------------


@dataclass
class Result:
    incidents: int
    latencies: list[float]
    first_round: list[float]
    legs: int
    cpu_seconds: float
    speech_cpu_seconds: float
    spoken: int
    peak_traced: int
    maxrss_kb: int
    wall: float


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


@dataclass
class ProductApp:
    """The product's SOS app as a product start builds it, on one ARI node."""

    app: SosApp
    client: AriClient
    sessions: Any
    notifier: SosNotifier
    recorder: IncidentRecorder


@contextlib.asynccontextmanager
async def product_app(url: str, ari_url: str, data_dir: Path, *, user: str = "callcenter",
                      password: str = "callcenter", **overrides: Any) -> AsyncIterator[ProductApp]:
    """The SOS app, its recorder, notifier, scheduler and command path, connected."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    # Look-ups on a pool of their own, as a product process has them (runtime.read_sessions).
    read_engine = create_engine(url, read_only=True)
    settings = load_settings(data_dir=data_dir, database_url=url, secret_key=SECRET
                             ).model_copy(update={"ari_url": ari_url, **overrides})
    journal = Journal(settings.data_dir / "journal", sessions)
    register_journal_kinds(journal)
    recorder = IncidentRecorder(sessions, journal)
    recorder.start()
    bus = MemoryBus()
    notifier = SosNotifier(bus, Outbox(Resilient(journal, sessions), journal).submit_many)
    client = AriClient(ari_url, user, password, "callcenter")
    scheduler = Scheduler.from_settings(settings, sessions, journal, bus)
    commands = CommandPath(bus)
    app = SosApp({"default": client}, settings, session_factory(read_engine), recorder, notifier,
                 scheduler, commands)
    router = StasisRouter({"default": client})
    router.attach()
    app.attach(router)
    await commands.start()
    try:
        yield ProductApp(app, client, sessions, notifier, recorder)
    finally:
        await app.close()
        await commands.close()
        await scheduler.close()
        await notifier.close()
        await recorder.close()
        await client.close()
        await read_engine.dispose()
        await engine.dispose()


async def run(count: int, url: str, numbers: list[str], rate: float, inprocess: bool,
              workdir: Path, traced: bool) -> Result:
    sim = Simulator(inprocess)
    await sim.start()
    async with product_app(url, sim.ari_url, workdir / f"data-{count}") as product:
        try:
            return await _measure(product, sim, count, numbers, rate, traced)
        finally:
            await sim.close()


async def _measure(product: ProductApp, sim: Simulator, count: int, numbers: list[str],
                   rate: float, traced: bool) -> Result:
    app, client, sessions = product.app, product.client, product.sessions
    notifier, recorder = product.notifier, product.recorder
    probe = Probe()
    probe.attach(client)
    await client.connect(wait_seconds=10)
    async with asyncio.timeout(10):
        await app.roster.loaded.wait()
    # Warm up (the pool's connections, the first queries) outside the measurement.
    async def touch() -> None:
        async with sessions() as session:
            await session.execute(select(ElderPhone.number).limit(1))

    await asyncio.gather(*(touch() for _ in range(20)))
    await sim.press(numbers[-1])
    warm = await app.wait_for_conference(lambda c: True)
    await asyncio.wait_for(warm.first_round_done.wait(), 10)
    await notifier.drain()
    await recorder.flush()

    started: list[SosConference] = []
    all_arrived = asyncio.Event()
    start_incident = app.start_incident

    def counted(*args: Any, **kwargs: Any) -> SosConference:
        conference = start_incident(*args, **kwargs)
        if conference not in started:  # a double press joins, it starts nothing
            started.append(conference)
            if len(started) >= count:
                all_arrived.set()
        return conference

    app.start_incident = counted  # type: ignore[method-assign]
    if traced:
        tracemalloc.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    children0 = children_cpu()
    for n, number in enumerate(numbers[:count]):
        await sim.press(number)
        if rate > 0:
            delay = wall0 + (n + 1) / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)  # the arrival schedule, not a wait for a result
    async with asyncio.timeout(120):
        await all_arrived.wait()
    async with asyncio.timeout(120):
        for conference in started:
            await conference.first_round_done.wait()
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    peak = tracemalloc.get_traced_memory()[1] if traced else 0
    tracemalloc.stop()
    await speech_settled(started)
    # The speech workers' CPU (theirs and their espeak-ng and sox) counts once they are
    # gone; the simulator, a child too, is still running.
    await app.deps.speech.close()
    speech_cpu = children_cpu() - children0
    await notifier.drain()
    await recorder.flush()
    return Result(
        incidents=count,
        latencies=[probe.latency(c) for c in started],
        first_round=[c.first_round_seconds or 0.0 for c in started],
        legs=sum(1 for c in started for leg in c.legs.values() if leg.candidate),
        cpu_seconds=cpu,
        speech_cpu_seconds=speech_cpu,
        spoken=sum(1 for c in started if c.speech.ready("brief") is not None),
        peak_traced=peak,
        maxrss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        wall=wall,
    )


# -- fan-out against the floor ---------------------------------------------------------------


def _product_clock(product: ProductApp) -> FanoutClock:
    """Asterisk's event times as the product's client receives them."""

    def caller_of(leg_id: str) -> str | None:
        conference = product.app.conferences.get(leg_id.rpartition("-")[0])
        return next(iter(conference.legs)) if conference is not None else None

    clock = FanoutClock(caller_of)
    handle_frame = product.client.handle_frame

    def timed_frame(frame: str | bytes) -> Any:
        clock.take(orjson.loads(frame))
        return handle_frame(frame)

    product.client.handle_frame = timed_frame  # type: ignore[method-assign]
    return clock


async def fanout(url: str, numbers: list[str], args: argparse.Namespace, workdir: Path) -> Fanout:
    """The product and the bare app, pressed alternately, one at a time, on one Asterisk."""
    sim: Simulator | None = None
    ari_url, dial_template = args.ari_url, args.dial_template
    if not ari_url:
        sim = Simulator(inprocess=False)
        await sim.start()
        ari_url, dial_template = sim.ari_url, dial_template or "PJSIP/{number}@trunk"
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        async with product_app(url, ari_url, workdir / "data-fanout", user=args.ari_user,
                               password=args.ari_password,
                               dial_template=dial_template) as product:
            clock = _product_clock(product)
            await product.client.connect(wait_seconds=10)

            async def issued(caller: str) -> int:
                conference = await product.app.wait_for_conference(lambda c: caller in c.legs)
                await asyncio.wait_for(conference.first_round_done.wait(), 20)
                return sum(1 for leg in conference.legs.values() if leg.candidate)

            async def end(caller: str) -> None:
                conference = await product.app.wait_for_conference(lambda c: caller in c.legs)
                if not conference.done.is_set():
                    await run_on(conference, lambda: conference.end_by_staff(
                        Disposition.RESOLVED, "bench", "bench"))
                await asyncio.wait_for(conference.done.wait(), 20)

            ending = None if args.keep_calls else end
            async with BareSosApp(ari_url, args.ari_user, args.ari_password, "bare", dsn,
                                  dial_template) as floor:
                await compare(clock, issued, floor, numbers[-2:], 2, ari_url,  # warm-up
                              basic_auth(args.ari_user, args.ari_password),
                              args.caller_endpoint, wait_bridged=False)
                return await compare(clock, issued, floor, numbers, args.fanout_presses, ari_url,
                                     basic_auth(args.ari_user, args.ari_password),
                                     args.caller_endpoint, wait_bridged=True,
                                     product_end=ending)
    finally:
        if sim is not None:
            await sim.close()


def report_fanout(result: Fanout, args: argparse.Namespace) -> None:
    where = args.ari_url or "the simulator (subprocess)"
    kept = ("earlier incidents kept up" if args.keep_calls
            else "each incident ended before the next press")
    print(f"\nSOS fan-out on {where}: {len(result.product)} presses each, alternating, one at "
          f"a time, {kept} (Asterisk's own event times)")
    header = f"{'':>22} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    rows = {}
    for name, incidents in (("product", result.product), ("bare app (floor)", result.floor)):
        fan = [i.fanout for i in incidents]
        bridged = [i.answer_to_bridged for i in incidents if i.bridged]
        rows[name] = (fan, bridged)
        print(f"{name + ' fan-out':>22} {percentile(fan, 50) * 1000:>8.1f} "
              f"{percentile(fan, 99) * 1000:>8.1f} {max(fan) * 1000:>8.1f}")
        if bridged:
            print(f"{name + ' answer→bridged':>22} {percentile(bridged, 50) * 1000:>8.1f} "
                  f"{percentile(bridged, 99) * 1000:>8.1f} {max(bridged) * 1000:>8.1f}")
    (fan_p, bridged_p), (fan_f, bridged_f) = rows["product"], rows["bare app (floor)"]
    print(f"ratio product/floor: fan-out p50 {percentile(fan_p, 50) / percentile(fan_f, 50):.2f}×"
          f", p99 {percentile(fan_p, 99) / percentile(fan_f, 99):.2f}× (goal: ≤ 1.5×)")
    if bridged_p and bridged_f:
        print(f"first responder answer→bridged p50: product "
              f"{percentile(bridged_p, 50) * 1000:.0f} ms, floor "
              f"{percentile(bridged_f, 50) * 1000:.0f} ms (goal: ≤ 1 s)")
    print("fan-out: the caller's StasisStart → the last first-round leg created "
          "(Dial peer.creationtime); answer→bridged: the first bridged responder's "
          "StasisStart → its ChannelEnteredBridge.")


def report(results: list[Result], args: argparse.Namespace) -> None:
    where = "in-process" if args.inprocess else "subprocess"
    print(f"\nSOS start: store={args.store}, simulator={where}, arrival rate="
          f"{args.rate:g}/s{' (burst)' if args.rate <= 0 else ''}")
    header = (f"{'incidents':>9} {'legs':>5} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
              f"{'begin p99':>9} {'CPU ms/inc':>10} {'speech ms':>9} {'spoken':>6} "
              f"{'peak MiB':>9} {'RSS MiB':>8} {'wall s':>7}")
    print(header)
    print("-" * len(header))
    for r in results:
        peak = f"{r.peak_traced / 2**20:.1f}" if r.peak_traced else "-"
        print(f"{r.incidents:>9} {r.legs:>5} {percentile(r.latencies, 50) * 1000:>8.2f} "
              f"{percentile(r.latencies, 99) * 1000:>8.2f} {max(r.latencies) * 1000:>8.2f} "
              f"{percentile(r.first_round, 99) * 1000:>9.2f} "
              f"{r.cpu_seconds / r.incidents * 1000:>10.2f} "
              f"{r.speech_cpu_seconds / r.incidents * 1000:>9.1f} "
              f"{r.spoken / r.incidents:>6.0%} {peak:>9} "
              f"{r.maxrss_kb / 1024:>8.1f} {r.wall:>7.2f}")
    print("p50/p99/max: StasisStart received → last first-round originate returned; "
          "begin p99: SosConference.first_round_seconds;\nCPU: product process only "
          f"({'simulator included' if args.inprocess else 'simulator in its own process'}); "
          "speech ms: CPU per incident of the speech's own processes (the workers, espeak-ng, "
          "sox), until every incident's speech is made or dropped; spoken: incidents whose "
          "briefing was made;\npeak: tracemalloc during the run (--tracemalloc); RSS: ru_maxrss "
          "of the product process. Goal: p99 <= 10 ms.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, nargs="*", default=[100, 500])
    parser.add_argument("--store", choices=["postgres", "sqlite"], default="postgres")
    parser.add_argument("--database", default="cc_bench_sos", help="PostgreSQL database name")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="SOS presses per second (0: all at once)")
    parser.add_argument("--inprocess", action="store_true", help="simulator in this process")
    parser.add_argument("--fanout-presses", type=int, default=20,
                        help="presses of the fan-out comparison with the bare app (0: skip)")
    parser.add_argument("--ari-url", default="",
                        help="a real Asterisk's ARI for the fan-out comparison (default: the "
                             "simulator); it needs the traces README's [people] context")
    parser.add_argument("--ari-user", default="callcenter")
    parser.add_argument("--ari-password", default="callcenter")
    parser.add_argument("--dial-template", default="",
                        help="how responders are dialled (real Asterisk: e.g. "
                             "Local/answer2@people/n)")
    parser.add_argument("--caller-endpoint", default="Local/answer@people",
                        help="the elder's side of a press (enters Stasis(app,sos))")
    parser.add_argument("--keep-calls", action="store_true",
                        help="fan-out: leave each incident up after it is measured (the next "
                             "presses then run beside the earlier incidents' prompts and redials)")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="also trace Python allocations (peak MiB; slows every figure)")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    logging.disable(logging.CRITICAL)

    with tempfile.TemporaryDirectory(prefix="bench-sos-") as tmp:
        workdir = Path(tmp)
        url = prepare_store(args.store, args.database, max([*args.incidents, 50]) + 1, workdir)

        async def numbers() -> list[str]:
            engine = create_engine(url)
            try:
                async with session_factory(engine)() as session:
                    rows = await session.execute(
                        select(ElderPhone.elder_id, ElderPhone.number)
                        .order_by(ElderPhone.elder_id, ElderPhone.id)
                    )
                    # One phone per elder, each phone one elder's: one incident per press.
                    by_elder: dict[int, str] = {}
                    owners: dict[str, int] = {}
                    for elder_id, number in rows:
                        owners[number] = owners.get(number, 0) + 1
                        by_elder.setdefault(elder_id, number)
            finally:
                await engine.dispose()
            return [n for n in by_elder.values() if owners[n] == 1]

        phones = asyncio.run(numbers())
        results = [asyncio.run(run(count, url, phones, args.rate, args.inprocess, workdir,
                                   args.tracemalloc))
                   for count in args.incidents]
        spread = None
        if args.fanout_presses > 0 and args.store == "postgres":
            spread = asyncio.run(fanout(url, phones, args, workdir))
    if results:
        report(results, args)
    if spread is not None:
        report_fanout(spread, args)


if __name__ == "__main__":
    main()
