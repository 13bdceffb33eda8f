"""Load benchmark of the web console's elder search and profile against a floor (D §4.1.4:
≥ 1000 users online, ≥ 500 concurrent operations, response ≤ 3 s).

Seeds a dedicated PostgreSQL database with the demo generator, starts
``callcenter serve --role web`` and the floor (bench/web_floor.py: the same SQL and
session cache on bare aiohttp + asyncpg) as separate processes, logs in N console
sessions, checks that both answer alike, then sends each server the same requests to
``GET /api/elders?q=`` and ``GET /api/elders/{id}`` with 500 and then 50 in flight. Prints
p50/p99, throughput and CPU per request (server, PostgreSQL backends) for both, and the
product-to-floor ratios: on a shared machine only ratios from the same run mean anything.

    python bench/web.py                       # 100 000 elders, 1000 sessions, 4000 requests each
    python bench/web.py --elders 20000 --requests 2000 --fresh
    python bench/web.py --concurrency 500 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import asyncpg
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from callcenter.crypto import FieldCipher
from callcenter.demo_data import generate
from callcenter.passwords import Passwords
from callcenter.store import create_engine, migrate, session_factory
from callcenter.store.engine import POOL_SIZE
from callcenter.store.models import Elder, ElderPhone

REPO = Path(__file__).resolve().parent.parent
BENCH_SECRET = "bench-secret-key-0123456789abcdef0123456789"
LOGIN_COOKIE = "cc_login_csrf"
SESSION_COOKIE = "cc_session"


@dataclass
class Samples:
    """Latencies (seconds), status counts and server CPU of one measurement."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    wall: float = 0.0
    cpu: float = 0.0  # server CPU seconds
    db_cpu: float = 0.0  # CPU seconds of the PostgreSQL backends serving the bench database

    def add(self, other: Samples) -> None:
        """Pool ``other`` (another slice of the same load) into these samples."""
        self.latencies.extend(other.latencies)
        for code, n in other.statuses.items():
            self.statuses[code] += n
        self.wall += other.wall
        self.cpu += other.cpu
        self.db_cpu += other.db_cpu

    def p(self, q: float) -> float:
        """The ``q`` quantile of the latencies, in ms."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0

    def per_request(self, seconds: float) -> float:
        """``seconds`` of CPU spread over the requests, in ms."""
        return seconds / len(self.latencies) * 1000 if self.latencies else 0.0

    def line(self, name: str) -> str:
        """p50/p99, throughput and CPU per request as one printable line."""
        codes = ", ".join(f"{code}×{n}" for code, n in sorted(self.statuses.items()))
        return (f"  {name:<8} p50={self.p(0.5):7.1f} ms  p99={self.p(0.99):7.1f} ms  "
                f"{self.rate:6.0f} req/s  CPU {self.per_request(self.cpu):4.2f} ms/req  "
                f"db {self.per_request(self.db_cpu):4.2f} ms/req  [{codes}]")


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
    http: aiohttp.ClientSession, base: str, requests: list[tuple[str, str, str]], concurrency: int,
    server_pid: int, db_url: str,
) -> Samples:
    """Send ``requests`` (kind, path, session token), keeping ``concurrency`` of them in flight."""
    samples = Samples()
    pending = iter(requests)

    async def worker() -> None:
        for _kind, path, token in pending:
            started = time.perf_counter()
            async with http.get(f"{base}{path}", headers={"Cookie": f"{SESSION_COOKIE}={token}"}) as response:
                await response.read()
            took = time.perf_counter() - started
            samples.latencies.append(took)
            samples.statuses[response.status] += 1

    cpu, db_cpu = cpu_seconds(server_pid), await backend_cpu(db_url)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    samples.wall = time.perf_counter() - started
    samples.cpu = cpu_seconds(server_pid) - cpu
    samples.db_cpu = await backend_cpu(db_url) - db_cpu
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


def _proc_cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:  # a process that exited since it was listed
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the server (with its workers) has used so far (Linux)."""
    return sum(_proc_cpu(proc) for proc in process_tree(pid))


async def backend_cpu(db_url: str) -> float:
    """CPU used so far by the PostgreSQL backends connected to the bench database (same host).

    A backend that exits in between (an overflow connection closed) takes its CPU with it:
    a churning pool is under-counted here, never over-counted.
    """
    url = make_url(db_url)
    conn = await asyncpg.connect(host=url.host, port=url.port, user=url.username,
                                 password=url.password, database="postgres")
    try:
        pids = [r["pid"] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            url.database)]
    finally:
        await conn.close()
    return sum(_proc_cpu(pid) for pid in pids)


def rss_mb(pid: int) -> float:
    """Resident set size of the server (with its workers), in MiB (Linux)."""
    total = 0.0
    for proc in process_tree(pid):
        for row in Path(f"/proc/{proc}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                total += int(row.split()[1]) / 1024
    return total


def start_floor(url: str, port: int, pool: int) -> subprocess.Popen[bytes]:
    """bench/web_floor.py in its own process, on the product's database and secret."""
    plain = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "web_floor.py"), "--database-url", plain,
         "--secret-key", BENCH_SECRET, "--port", str(port), "--pool", str(pool)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@dataclass
class Target:
    """A server under load: the product or the floor."""

    name: str
    base: str
    process: subprocess.Popen[bytes]


async def same_answers(http: aiohttp.ClientSession, targets: list[Target], paths: list[str],
                       token: str) -> int:
    """How many of ``paths`` the product and the floor answer with the same status and JSON."""
    same = 0
    for path in paths:
        answers = []
        for target in targets:
            async with http.get(f"{target.base}{path}",
                                headers={"Cookie": f"{SESSION_COOKIE}={token}"}) as response:
                answers.append((response.status, await response.json(content_type=None)
                                if response.status == 200 else None))
        if answers[0] == answers[1]:
            same += 1
        else:
            print(f"  differs: {path}: {answers[0][0]} vs {answers[1][0]}")
    return same


async def run(args: argparse.Namespace) -> None:
    """Seed, serve the product and the floor, log in, load both alike, report the ratios."""
    url = await prepare_database(args.postgres, args.database, args.fresh)
    await asyncio.to_thread(migrate.upgrade, url)
    took, names, phones = await seed(url, args.elders)
    print(f"seed: {args.elders} elders in {took:.1f} s" if took else "seed: reused the existing data")
    targets = [
        Target("product", f"http://127.0.0.1:{args.port}",
               start_server(url, args.port, args.profile, args.workers)),
        Target("floor", f"http://127.0.0.1:{args.port + 1}", start_floor(url, args.port + 1, args.pool)),
    ]
    rng = random.Random(1)
    try:
        connector = aiohttp.TCPConnector(limit=max(args.concurrency))
        async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                                         timeout=aiohttp.ClientTimeout(total=120)) as http:
            for target in targets:
                await wait_ready(http, target.base, target.process)
            product = targets[0].process
            print(f"product pid {product.pid}, {args.workers} web worker(s), "
                  f"RSS {rss_mb(product.pid):.0f} MiB idle")
            tokens = await login_all(http, targets[0].base, args.sessions)
            unscoped = [t for n, t in enumerate(tokens) if n % len(ACCOUNTS) != 2]
            make_search = search_query(names, phones)
            checks = [make_search(rng)[1] for _ in range(20)] + [
                f"/api/elders/{rng.randint(1, args.elders)}" for _ in range(20)]
            print(f"same answers from product and floor: "
                  f"{await same_answers(http, targets, checks, unscoped[0])}/{len(checks)}")

            def profile(r: random.Random) -> tuple[str, str]:
                return "profile", f"/api/elders/{r.randint(1, args.elders)}"

            endpoints = {"search": (make_search, tokens), "profile": (profile, unscoped)}
            results: dict[tuple[str, int, str], Samples] = {}
            for concurrency in args.concurrency:
                for endpoint, (make, pool) in endpoints.items():
                    load = [(*make(rng), rng.choice(pool)) for _ in range(args.requests)]
                    print(f"{endpoint}, {concurrency} in flight, {len(load)} requests:")
                    for target in targets:
                        # A warm-up (caches, prepared statements, pool) measured by nobody.
                        await fire(http, target.base, load[: args.requests // 4], concurrency,
                                   target.process.pid, url)
                    # The load in slices, product and floor taking turns (ABBA...), so that a
                    # burst of other work on the machine falls on both alike.
                    size = -(-len(load) // args.slices)
                    for n, start in enumerate(range(0, len(load), size)):
                        for target in targets if n % 2 == 0 else targets[::-1]:
                            part = await fire(http, target.base, load[start:start + size],
                                              concurrency, target.process.pid, url)
                            results.setdefault((endpoint, concurrency, target.name), Samples()).add(part)
                    for target in targets:
                        print(results[endpoint, concurrency, target.name].line(target.name))
            print_ratios(results)
            print(f"product RSS {rss_mb(product.pid):.0f} MiB after the load")
    finally:
        for target in targets:
            target.process.terminate()
            target.process.wait(timeout=30)


def print_ratios(results: dict[tuple[str, int, str], Samples]) -> None:
    """The product against the floor: throughput and p50 ratios, CPU per request."""
    print("\nproduct / floor (goal: throughput ≥ 0.7×, p50 ≤ 1.5×)")
    print("  endpoint  in flight  throughput  p50     p99     CPU ms/req (product, floor)")
    for (endpoint, concurrency, name), product in results.items():
        if name != "product":
            continue
        floor = results[endpoint, concurrency, "floor"]
        print(f"  {endpoint:<8}  {concurrency:>9}  {product.rate / floor.rate:9.2f}×  "
              f"{product.p(0.5) / floor.p(0.5):5.2f}×  {product.p(0.99) / floor.p(0.99):5.2f}×  "
              f"{product.per_request(product.cpu):.2f}, {floor.per_request(floor.cpu):.2f}")


ACCOUNTS = [("agent1", "Water-Park-2024!"), ("supervisor", "Drum-Tower-2024!"),
            ("agent2", "Tianta-Tower-2024!"), ("admin", "Haihe-River-2024!")]


async def login_all(http: aiohttp.ClientSession, base: str, sessions: int) -> list[str]:
    """``sessions`` console logins, 50 at a time; their tokens."""
    limit = asyncio.Semaphore(50)

    async def one_login(n: int) -> str:
        async with limit:
            return await login(http, base, *ACCOUNTS[n % len(ACCOUNTS)])

    started = time.perf_counter()
    tokens = await asyncio.gather(*(one_login(n) for n in range(sessions)))
    print(f"logins: {len(tokens)} sessions in {time.perf_counter() - started:.1f} s")
    return tokens


def main() -> None:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="cc_bench")
    parser.add_argument("--fresh", action="store_true", help="drop and re-seed the bench database")
    parser.add_argument("--elders", type=int, default=100_000)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=lambda v: [int(c) for c in v.split(",")],
                        default=[500, 50], help="requests in flight, comma-separated")
    parser.add_argument("--requests", type=int, default=4000,
                        help="requests per endpoint, concurrency and server")
    parser.add_argument("--slices", type=int, default=2,
                        help="the load is sent in this many slices, product and floor in turn")
    parser.add_argument("--pool", type=int, default=POOL_SIZE,
                        help="the floor's connection pool size (default: the product's)")
    parser.add_argument("--port", type=int, default=8765, help="the product's; the floor's is the next")
    parser.add_argument("--workers", type=int, default=1, help="CALLCENTER_WEB_WORKERS")
    parser.add_argument("--profile", metavar="FILE", help="run the server under cProfile into FILE")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
