"""Care calls at scale: 10 000 elders' plans for a day, scheduled and paced on the simulator.

Prints, on PostgreSQL and the PBX simulator (a subprocess, real time):
1. scheduling cost: laying out the day (a task and an attempt timer per plan) — seconds,
   rows per second, and the store's growth;
2. the campaign: every call placed through the durable scheduler and the paced dialler
   (``--per-trunk`` at once, ``--rate`` per second), answered, the greeting played, key 1,
   the goodbye, hung up, the result stored — calls/s sustained, CPU per call, peak RSS;
3. the floor: the same originates, prompts and keys by a bare ARI script
   (``bench/carecalls_floor.py``, a subprocess) on the same simulator, and the ratio.

The greeting is the recorded fallback (``--speech`` speaks each with espeak-ng instead).

    .venv/bin/python bench/carecalls.py            # --elders 10000 --per-trunk 200 --rate 100
                                                   # --calls N: the campaign's first N calls
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import structlog
from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sos_setup import Simulator, prepare_store  # noqa: E402

from ari_apps.care.app import CareApp  # noqa: E402
from ari_apps.care.models import CarePlan, CareTask  # noqa: E402
from ari_apps.care.services import layout_day, local_day  # noqa: E402
from ari_apps.care.speech import espeak_slow  # noqa: E402
from ari_apps.care.timers import register_layout  # noqa: E402
from callcenter.asterisk import AriClient, StasisRouter  # noqa: E402
from callcenter.bus import MemoryBus  # noqa: E402
from callcenter.commands import CommandPath  # noqa: E402
from callcenter.journal import Journal, Resilient  # noqa: E402
from callcenter.notify.outbox import Outbox  # noqa: E402
from callcenter.scheduler import Scheduler  # noqa: E402
from callcenter.settings import Settings  # noqa: E402
from callcenter.store import create_engine, session_factory  # noqa: E402
from callcenter.store.models import ElderPhone, utcnow  # noqa: E402


def rss_mib() -> tuple[float, float]:
    """Current and peak resident memory of this process."""
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def script_people(sim: Simulator, numbers: list[str]) -> None:
    """Every elder answers after a second and presses 1 a second later."""
    person = {"behaviour": "answer", "ring_seconds": 1, "dtmf": "1", "dtmf_after": 1}
    async with aiohttp.ClientSession() as http:
        limit = asyncio.Semaphore(50)

        async def one(number: str) -> None:
            async with limit, http.put(f"{sim.control_url}/control/people/{number}",
                                       json=person) as response:
                response.raise_for_status()

        await asyncio.gather(*(one(n) for n in numbers))


async def plans_and_layout(url: str, settings: Settings
                           ) -> tuple[list[str], list[str], dict[str, Any]]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    zone = ZoneInfo(settings.time_zone)
    at = utcnow().astimezone(zone)  # due now: the campaign starts as soon as it runs
    try:
        async with sessions.begin() as session:
            phones = (await session.execute(
                select(ElderPhone.elder_id, ElderPhone.number).order_by(ElderPhone.id))).all()
            elders = list(dict.fromkeys(elder for elder, _ in phones))
            rows = [{"code": f"B-{elder}", "elder_id": elder, "kind": "wellbeing",
                     "repeat": "daily", "at_time": f"{at:%H:%M}", "weekdays": "",
                     "medicine": "", "message": "", "report_to_kin": False, "active": True,
                     "source": "import", "created_by": "bench", "created_at": utcnow(),
                     "updated_at": utcnow()} for elder in elders]
            for start in range(0, len(rows), 1000):
                await session.execute(insert(CarePlan), rows[start:start + 1000])
        before = rss_mib()[0]
        started, cpu = time.perf_counter(), time.process_time()
        laid = await layout_day(sessions, settings, local_day(settings, utcnow()))
        figures = {"plans": len(rows), "laid_out": laid,
                   "seconds": time.perf_counter() - started,
                   "cpu_seconds": time.process_time() - cpu,
                   "rss_growth_mib": rss_mib()[0] - before}
        first = list({elder: number for elder, number in reversed(phones)}.values())
        return [number for _, number in phones], first, figures
    finally:
        await engine.dispose()


async def campaign(url: str, settings: Settings, sim: Simulator, calls: int,
                   workdir: Path, speech: bool) -> dict[str, Any]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    bus = MemoryBus()
    journal = Journal(workdir / "journal", sessions)
    outbox = Outbox(Resilient(journal, sessions), journal)
    client = AriClient(sim.ari_url, "callcenter", "callcenter", "callcenter")
    scheduler = Scheduler(sessions, journal, bus, poll_seconds=0.5)
    app = CareApp({"default": client}, settings, sessions, scheduler, bus, outbox.submit_many,
                  speaker=espeak_slow if speech else None)
    router = StasisRouter({"default": client})
    router.attach()
    app.attach(router, CommandPath(bus))
    register_layout(scheduler, sessions, settings)
    await client.connect(wait_seconds=10)
    await app.start()
    scheduler.start()
    first: float | None = None
    cpu = time.process_time()
    try:
        while True:
            async with sessions() as session:
                finished = (await session.execute(select(func.count()).select_from(CareTask)
                                                  .where(CareTask.state == "done"))).scalar_one()
            if first is None and app.dialler.started:
                first, cpu = time.perf_counter(), time.process_time()
            if finished >= calls:
                break
            await asyncio.sleep(0.5)
        assert first is not None
        seconds = time.perf_counter() - first
        async with sessions() as session:
            results = dict((await session.execute(
                select(CareTask.result, func.count()).group_by(CareTask.result))).all())
        return {"calls": finished, "seconds": seconds, "calls_per_second": finished / seconds,
                "cpu_ms_per_call": (time.process_time() - cpu) * 1000 / finished,
                "peak_rss_mib": rss_mib()[1], "results": results,
                "most_at_once": settings.care_max_per_trunk}
    finally:
        await scheduler.close()
        await app.close()
        await client.close()
        await engine.dispose()


async def floor(sim: Simulator, numbers: list[str], per_trunk: int, rate: float,
                workdir: Path) -> dict[str, Any]:
    listing = workdir / "numbers.txt"
    listing.write_text("\n".join(numbers))
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).with_name("carecalls_floor.py")), sim.ari_url,
        str(listing), str(per_trunk), str(rate), stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    return dict(orjson.loads(out.splitlines()[-1]))


async def main(args: argparse.Namespace) -> None:
    if not args.verbose:
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
        logging.disable(logging.CRITICAL)
    workdir = Path(tempfile.mkdtemp(prefix="carecalls-"))
    url = await asyncio.to_thread(prepare_store, "postgres", "bench_care", args.elders, workdir)
    sim = Simulator(inprocess=False)
    await sim.start()
    try:
        settings = Settings(database_url=url, ari_url=sim.ari_url, care_quiet_hours="",
                            care_max_per_trunk=args.per_trunk,
                            care_calls_per_second=args.rate, care_speech=args.speech,
                            care_key_seconds=8.0, care_watch_seconds=600.0,
                            secret_key="bench-secret-key-0123456789abcdef0123456789")
        numbers, first, layout = await plans_and_layout(url, settings)
        print(f"scheduling: {layout['plans']} plans → {layout['laid_out']} calls laid out in "
              f"{layout['seconds']:.2f} s ({layout['laid_out'] / layout['seconds']:.0f}/s, "
              f"{layout['cpu_seconds']:.2f} s CPU, RSS +{layout['rss_growth_mib']:.0f} MiB)",
              flush=True)
        await script_people(sim, numbers)
        calls = min(layout["laid_out"], args.calls or layout["laid_out"])
        product = await campaign(url, settings, sim, calls, workdir, args.speech)
        print(f"product: {product['calls']} calls in {product['seconds']:.1f} s = "
              f"{product['calls_per_second']:.1f} calls/s sustained, "
              f"{product['cpu_ms_per_call']:.1f} ms CPU per call, peak RSS "
              f"{product['peak_rss_mib']:.0f} MiB, results {product['results']}", flush=True)
        bare = await floor(sim, first[:calls], args.per_trunk, args.rate, workdir)
        print(f"floor:   {bare['calls']} calls in {bare['seconds']:.1f} s = "
              f"{bare['calls_per_second']:.1f} calls/s, peak RSS {bare['peak_rss_mib']:.0f} MiB")
        print(f"ratio (product / floor calls/s): "
              f"{product['calls_per_second'] / bare['calls_per_second']:.2f}")
    finally:
        await sim.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elders", type=int, default=10_000)
    parser.add_argument("--per-trunk", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--calls", type=int, default=0,
                        help="measure the campaign over its first N calls (0: all of them)")
    parser.add_argument("--speech", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="keep the product's log")
    asyncio.run(main(parser.parse_args()))
