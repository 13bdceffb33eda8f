"""Retention benchmark on PostgreSQL: 1 000 000 call records and 200 000 recordings.

Seeds an own database by SQL ``generate_series`` (bench/retention_seed.py) and one small
real WAV per recording, then measures:

1. **auditor search**: ``GET /api/recordings`` through the product (aiohttp, session cookie,
   scope, the search and its holds query, JSON) against a floor that sends the same SQL
   (compiled from the product's own statements) straight through asyncpg; requests one at
   a time, product and floor alternating per query; p50/p99 and the ratio. Goal: p99 ≤ 1 s.
2. **the sweep** in a process of its own (``--sweep-child``): recordings removed and call
   records anonymised per second, RSS sampled every 0.5 s (flat: batches, never the whole
   set) and the process's peak.

    python bench/retention.py                          # 1M calls, 200k recordings (~3 min seed)
    python bench/retention.py --calls 100000 --recordings 20000 --searches 100
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import web
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.retention_seed import recreate, seed  # noqa: E402
from callcenter.passwords import Passwords  # noqa: E402
from callcenter.runtime import open_runtime  # noqa: E402
from callcenter.settings import Settings  # noqa: E402
from callcenter.store.models import utcnow  # noqa: E402
from recordings.http import install_web  # noqa: E402
from recordings.schemas import RecordingSearch  # noqa: E402
from recordings.search import search_statement  # noqa: E402
from recordings.services import Recordings  # noqa: E402
from webui import create_app  # noqa: E402
from webui.keys import Principal  # noqa: E402

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-0123456789abcdef0123456789"
PASSWORD = "Bench-Auditor-2024!"
DIALECT = PGDialect_asyncpg()


def settings_for(dsn: str, workdir: Path) -> Settings:
    return Settings(database_url=dsn.replace("postgresql://", "postgresql+asyncpg://"),
                    data_dir=workdir, recordings_dir=workdir / "store", secret_key=SECRET,
                    log_level="WARNING", log_format="console")


def queries(rng: random.Random, calls: int, recordings: int, n: int) -> list[dict[str, str]]:
    """A mix of what auditors ask: number tails, names, weeks, an agent's month, serials…"""
    today = date.today()
    made: list[dict[str, str]] = []
    for k in range(n):
        i = rng.randrange(1, calls)
        phone = "138" + str(i * 7919 % 100000000).zfill(8)
        day = today - timedelta(days=rng.randrange(0, 1000))
        kind = k % 6
        if kind == 0:
            made.append({"phone": phone[-4:]})
        elif kind == 1:
            made.append({"phone": phone})
        elif kind == 2:
            made.append({"elder": rng.choice("张王李赵刘陈杨黄") + "老人" + str(rng.randrange(1, 999))})
        elif kind == 3:
            made.append({"date_from": str(day), "date_to": str(day + timedelta(days=7))})
        elif kind == 4:
            made.append({"agent": f"agent{rng.randrange(200)}", "date_from": str(day),
                         "date_to": str(day + timedelta(days=30))})
        else:
            made.append({"incident": f"inc{50 * rng.randrange(1, recordings // 50)}"})
    return made


def compiled(statement: Any) -> tuple[str, list[Any]]:
    done = statement.compile(dialect=DIALECT)
    return done.string, [done.params[name] for name in done.positiontup]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_search(dsn: str, workdir: Path, searches: int, calls: int,
                       recordings_count: int) -> dict[str, Any]:
    settings = settings_for(dsn, workdir)
    passwords = Passwords(time_cost=1, memory_cost=8192)
    conn = await asyncpg.connect(dsn)
    await conn.execute(
        "INSERT INTO users (username, display_name, password_hash, role, active, failed_logins,"
        " created_at) VALUES ('auditor', '审计员', $1, 'auditor', true, 0, now())"
        " ON CONFLICT (username) DO NOTHING", passwords.hash_sync(PASSWORD))
    async with open_runtime(settings) as runtime:
        recordings = Recordings.build(settings, runtime.sessions)
        app = create_app(runtime, features=[lambda a: install_web(a, recordings)])
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        principal = Principal(0, "auditor", "审计员", "auditor", None, "", "", utcnow())
        product: list[float] = []
        floor: list[float] = []
        found = 0
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(f"{base}/login") as page:
                token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
            async with http.post(f"{base}/login", data={
                    "username": "auditor", "password": PASSWORD, "csrf_token": token,
                    "next": ""}, allow_redirects=False) as response:
                assert response.status == 303, response.status
            for params in queries(random.Random(7), calls, recordings_count, searches):
                started = time.perf_counter()
                async with http.get(f"{base}/api/recordings", params=params) as response:
                    body = await response.json()
                    assert response.status == 200, body
                product.append(time.perf_counter() - started)
                found += len(body["recordings"])
                query = RecordingSearch.model_validate(params)
                sql, args = compiled(search_statement(principal, query, recordings.policy,
                                                      utcnow()))
                started = time.perf_counter()
                rows = await conn.fetch(sql, *args)
                ids = [r[0] for r in rows]
                if ids:
                    await conn.fetch(HOLDS_SQL, ids, utcnow())
                floor.append(time.perf_counter() - started)
        await runner.cleanup()
    await conn.close()
    return {"product": product, "floor": floor, "found": found}


HOLDS_SQL = """
SELECT r.id, h.* FROM recordings r JOIN recording_holds h ON
  h.recording_id = r.id OR (h.call_id IS NOT NULL AND h.call_id = r.call_id)
  OR (h.incident_id IS NOT NULL AND h.incident_id = r.incident_id)
WHERE r.id = ANY($1::int[]) AND h.released_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > $2)
"""


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def sweep_child(dsn: str, workdir: Path) -> None:
    """Run one sweep as of today; print its figures as JSON (run in a process of its own)."""
    settings = settings_for(dsn, workdir)
    samples: list[tuple[float, float, int]] = []
    done = 0

    async with open_runtime(settings) as runtime:
        recordings = Recordings.build(settings, runtime.sessions)
        total = await recordings.sweeper.candidates(recordings.sweeper.today())
        baseline = rss_mib()
        started = time.perf_counter()

        def progress(n: int) -> None:
            nonlocal done
            done += n

        async def sample() -> None:
            while True:
                samples.append((time.perf_counter() - started, rss_mib(), done))
                await asyncio.sleep(0.5)

        sampler = asyncio.create_task(sample())
        report = await recordings.sweeper.run(progress=progress)
        seconds = time.perf_counter() - started
        sampler.cancel()
    print(json.dumps({"seconds": seconds, "total": total, "baseline": baseline,
                      "peak": peak_mib(), "samples": samples, "report": report.to_dict()}))


def run_sweep(dsn: str, workdir: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--sweep-child", dsn, str(workdir)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)})
    return json.loads(out.stdout.strip().splitlines()[-1])


async def main(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-retention-"))
    dsn = await recreate(ADMIN, args.database)
    print(f"seeding {args.calls:,} call records, {args.recordings:,} recordings "
          f"(database {args.database}, files under {workdir})…", flush=True)
    timings = await seed(dsn, workdir / "store", calls=args.calls, recordings=args.recordings,
                         elders=args.elders)
    print("  " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
    if args.seed_only:
        return

    result = await bench_search(dsn, workdir, args.searches, args.calls, args.recordings)
    product, floor = result["product"], result["floor"]
    print(f"\nauditor search, {len(product)} queries one at a time "
          f"({result['found']:,} recordings listed)")
    print("  | | p50 | p99 | max |\n  |---|---|---|---|")
    for name, values in (("product (HTTP, scope, holds, JSON)", product),
                         ("floor (same SQL, asyncpg)", floor)):
        print(f"  | {name} | {percentile(values, .5) * 1000:.1f} ms | "
              f"{percentile(values, .99) * 1000:.1f} ms | {max(values) * 1000:.1f} ms |")
    print(f"  ratio p50 {percentile(product, .5) / percentile(floor, .5):.2f}×, "
          f"p99 {percentile(product, .99) / percentile(floor, .99):.2f}×  (goal: p99 ≤ 1 s)")

    sweep = run_sweep(dsn, workdir)
    report = sweep["report"]
    items = report["audio_deleted"] + report["records_anonymised"] + report["records_purged"]
    print(f"\nsweep as of {report['as_of']}: {report['audio_deleted']:,} recordings removed "
          f"({report['bytes_freed'] / 2**20:.1f} MiB), {report['records_anonymised']:,} call "
          f"records anonymised, held: {report['audio_held']}, in {sweep['seconds']:.1f} s")
    print(f"  {items / sweep['seconds']:,.0f} items/s; RSS before {sweep['baseline']:.0f} MiB, "
          f"peak {sweep['peak']:.0f} MiB")
    samples = sweep["samples"]
    marks = [samples[int(f * (len(samples) - 1))] for f in (0.1, 0.25, 0.5, 0.75, 0.95)]
    print("  RSS during the sweep: " + ", ".join(
        f"{s[2]:,} done {s[1]:.0f} MiB" for s in marks))


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--recordings", type=int, default=200_000)
    parser.add_argument("--elders", type=int, default=20_000)
    parser.add_argument("--searches", type=int, default=300)
    parser.add_argument("--database", default="callcenter_bench_retention")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--sweep-child", nargs=2, metavar=("DSN", "WORKDIR"))
    args = parser.parse_args()
    if args.sweep_child:
        asyncio.run(sweep_child(args.sweep_child[0], Path(args.sweep_child[1])))
    else:
        asyncio.run(main(args))


if __name__ == "__main__":
    cli()
