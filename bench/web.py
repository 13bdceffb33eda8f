"""Load benchmark of the web console's elder search and profile (D §4.1.4: ≥ 1000 users
online, ≥ 500 concurrent operations, response ≤ 3 s; our own aim: p99 ≤ 300 ms).

Seeds a dedicated PostgreSQL database with the demo generator, starts
``callcenter serve --role web`` as a separate process, logs in N console sessions,
then fires rounds of C concurrent requests at ``GET /api/elders?q=`` and
``GET /api/elders/{id}``, and prints p50/p99 latency, throughput and the server's RSS
(summed over its web worker processes).

    python bench/web.py                       # 100 000 elders, 1000 sessions, 500 at a time
    python bench/web.py --elders 20000 --rounds 5 --fresh
    python bench/web.py --workers 2 --rounds 6   # two web processes on one port
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from callcenter.crypto import FieldCipher
from callcenter.demo_data import generate
from callcenter.passwords import Passwords
from callcenter.store import create_engine, migrate, session_factory
from callcenter.store.models import Elder, ElderPhone

REPO = Path(__file__).resolve().parent.parent
BENCH_SECRET = "bench-secret-key-0123456789abcdef0123456789"
LOGIN_COOKIE = "cc_login_csrf"
SESSION_COOKIE = "cc_session"


@dataclass
class Samples:
    """Latencies (seconds) and status counts of one endpoint."""

    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    wall: float = 0.0

    def line(self, name: str) -> str:
        """p50/p99/max and throughput as one printable line."""
        ordered = sorted(self.latencies)
        p50 = statistics.median(ordered) * 1000
        p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
        rate = len(ordered) / self.wall if self.wall else 0.0
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(self.statuses.items()))
        return (f"{name:<8} n={len(ordered):<6} p50={p50:7.1f} ms  p99={p99:7.1f} ms  "
                f"max={ordered[-1] * 1000:7.1f} ms  {rate:7.0f} req/s  [{codes}]")


async def prepare_database(admin_url: str, name: str, fresh: bool) -> str:
    """Create (or with ``fresh`` recreate) the bench database; its URL."""
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            exists = await conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            if exists and fresh:
                await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
                exists = None
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def seed(url: str, elders: int) -> tuple[float, list[str], list[str]]:
    """Seed unless already seeded; seconds taken, sample names and phone numbers for queries."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as session:
            present = await session.scalar(select(func.count()).select_from(Elder)) or 0
        took = 0.0
        if present < elders:
            started = time.perf_counter()
            await generate(sessions, FieldCipher(BENCH_SECRET.encode()), Passwords(), elders=elders)
            took = time.perf_counter() - started
            async with engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        async with sessions() as session:
            names = list((await session.execute(
                select(Elder.name).order_by(func.random()).limit(500))).scalars())
            phones = list((await session.execute(
                select(ElderPhone.number).order_by(func.random()).limit(500))).scalars())
        return took, names, phones
    finally:
        await engine.dispose()


def start_server(url: str, port: int, profile: str | None, workers: int) -> subprocess.Popen[bytes]:
    """``callcenter serve --role web`` in its own process (``workers`` processes under it)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update(
        CALLCENTER_DATABASE_URL=url,
        CALLCENTER_SECRET_KEY=BENCH_SECRET,
        CALLCENTER_WEB_BIND=f"127.0.0.1:{port}",
        CALLCENTER_DATA_DIR=str(REPO / "var" / "bench"),
        CALLCENTER_LOG_LEVEL="WARNING",
        CALLCENTER_LOGIN_MAX_FAILURES="1000",
        CALLCENTER_WEB_WORKERS=str(workers),
    )
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    return subprocess.Popen(
        [sys.executable, *profiler, "-m", "callcenter", "serve", "--role", "web"], cwd=REPO, env=env
    )


async def wait_ready(http: aiohttp.ClientSession, base: str, server: subprocess.Popen[bytes]) -> None:
    """Poll GET /login until the server answers (60 s at most)."""
    async with asyncio.timeout(60):
        while True:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with status {server.returncode}")
            try:
                async with http.get(f"{base}/login") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)  # polling a starting process: there is no event to wait on


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> str:
    """One console login through the form, double-submit CSRF included; the session token."""
    async with http.get(f"{base}/login") as page:
        csrf = page.cookies[LOGIN_COOKIE].value
    form = {"username": username, "password": password, "csrf_token": csrf, "next": "/"}
    async with http.post(f"{base}/login", data=form, allow_redirects=False,
                         headers={"Cookie": f"{LOGIN_COOKIE}={csrf}"}) as response:
        if response.status != 303 or SESSION_COOKIE not in response.cookies:
            raise SystemExit(f"login of {username} failed: HTTP {response.status}")
        return response.cookies[SESSION_COOKIE].value


async def fire(
    http: aiohttp.ClientSession, base: str, tokens: list[str],
    make: Callable[[random.Random], tuple[str, str]], rounds: int, concurrency: int, rng: random.Random,
) -> Samples:
    """``rounds`` rounds of ``concurrency`` simultaneous GETs, each as a random session."""
    samples = Samples()

    async def one(path: str, kind: str, token: str) -> None:
        started = time.perf_counter()
        async with http.get(f"{base}{path}", headers={"Cookie": f"{SESSION_COOKIE}={token}"}) as response:
            await response.read()
        took = time.perf_counter() - started
        samples.latencies.append(took)
        samples.by_kind[kind].append(took)
        samples.statuses[response.status] += 1

    started = time.perf_counter()
    for _ in range(rounds):
        batch = [(*make(rng), rng.choice(tokens)) for _ in range(concurrency)]
        await asyncio.gather(*(one(path, kind, token) for kind, path, token in batch))
    samples.wall = time.perf_counter() - started
    return samples


def search_query(names: list[str], phones: list[str]) -> Callable[[random.Random], tuple[str, str]]:
    """An agent's mix: name prefixes, caller-id numbers, trailing digits, ID tails."""

    def make(rng: random.Random) -> tuple[str, str]:
        roll = rng.random()
        if roll < 0.4:
            kind, q = "name", rng.choice(names)[:2]
        elif roll < 0.7:
            kind, q = "phone", rng.choice(phones)
        elif roll < 0.85:
            kind, q = "tail6", rng.choice(phones)[-6:]
        else:
            kind, q = "id_tail", f"{rng.randrange(1000):03d}X"
        return kind, f"/api/elders?q={aiohttp.helpers.quote(q)}"

    return make


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (web workers), Linux."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            todo.extend(int(child) for child in task.read_text().split())
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the server (with its workers) has used so far (Linux)."""
    total = 0.0
    for proc in process_tree(pid):
        fields = Path(f"/proc/{proc}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def rss_mb(pid: int) -> float:
    """Resident set size of the server (with its workers), in MiB (Linux)."""
    total = 0.0
    for proc in process_tree(pid):
        for row in Path(f"/proc/{proc}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                total += int(row.split()[1]) / 1024
    return total


async def run(args: argparse.Namespace) -> None:
    """Seed, serve, log in, load, report."""
    url = await prepare_database(args.postgres, args.database, args.fresh)
    await asyncio.to_thread(migrate.upgrade, url)
    took, names, phones = await seed(url, args.elders)
    print(f"seed: {args.elders} elders in {took:.1f} s" if took else "seed: reused the existing data")
    server = start_server(url, args.port, args.profile, args.workers)
    base = f"http://127.0.0.1:{args.port}"
    rng = random.Random(1)
    try:
        connector = aiohttp.TCPConnector(limit=args.concurrency)
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=60)) as http:
            await wait_ready(http, base, server)
            print(f"server pid {server.pid}, {args.workers} web worker(s), "
                  f"RSS {rss_mb(server.pid):.0f} MiB idle")
            accounts = [("agent1", "Water-Park-2024!"), ("supervisor", "Drum-Tower-2024!"),
                        ("agent2", "Tianta-Tower-2024!"), ("admin", "Haihe-River-2024!")]
            limit = asyncio.Semaphore(50)

            async def one_login(n: int) -> str:
                async with limit:
                    return await login(http, base, *accounts[n % len(accounts)])

            started = time.perf_counter()
            tokens = await asyncio.gather(*(one_login(n) for n in range(args.sessions)))
            print(f"logins: {len(tokens)} sessions in {time.perf_counter() - started:.1f} s")
            unscoped = [t for n, t in enumerate(tokens) if n % len(accounts) != 2]
            cpu = cpu_seconds(server.pid)
            search = await fire(http, base, tokens, search_query(names, phones),
                                args.rounds, args.concurrency, rng)
            print(search.line("search"))
            print(f"  server CPU {(cpu_seconds(server.pid) - cpu) / search.wall:.0%} of one core")
            for kind, values in sorted(search.by_kind.items()):
                ordered = sorted(values)
                print(f"  {kind:<8} n={len(ordered):<5} p50={statistics.median(ordered) * 1000:7.1f} ms"
                      f"  p99={ordered[int(len(ordered) * 0.99)] * 1000:7.1f} ms")
            top = args.elders

            def profile(r: random.Random) -> tuple[str, str]:
                return "profile", f"/api/elders/{r.randint(1, top)}"

            cpu = cpu_seconds(server.pid)
            prof = await fire(http, base, unscoped, profile, args.rounds, args.concurrency, rng)
            print(prof.line("profile"))
            print(f"  server CPU {(cpu_seconds(server.pid) - cpu) / prof.wall:.0%} of one core")
            print(f"server RSS {rss_mb(server.pid):.0f} MiB after the load")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="cc_bench")
    parser.add_argument("--fresh", action="store_true", help="drop and re-seed the bench database")
    parser.add_argument("--elders", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--workers", type=int, default=1, help="CALLCENTER_WEB_WORKERS")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile into FILE")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
