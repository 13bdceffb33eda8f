"""The screen-pop's latency with 500 consoles open and 50 calls a second ringing agents,
against a bare relay in the same run.

Each path is timed from the moment its AMI ``AgentCalled`` is written to the moment the
agent's WebSocket receives the frame. The simulators and the calls run in a process of
their own (bench/screenpop_pbx.py), which notes when it writes each ``AgentCalled``
(``time.perf_counter``: one monotonic clock for every process of the machine); this process
holds the sockets, and each frame's time is when the kernel received its last byte at the
console's socket (bench/stamped_ws.py), not when this process got round to reading it: a
console is a browser on the agent's own computer, which the server's load does not delay.

- ``bare relay``: ``AgentCalled`` → bench/screenpop_floor.py (reads AMI, writes the event
  to the named agent's WebSocket; no login, no store, no bus).
- ``product``: the whole product (``callcenter serve``: every role in one process, or with
  ``--split`` the consoles in a ``--role web`` process of their own) on a PBX simulator, as a
  call reaches it from Asterisk: the FastAGI route (the caller identified by number, the call
  row written), then ``QueueCallerJoin`` and at once ``AgentCalled`` (no gap between them:
  as app_queue does with an idle agent), then the pop at the agent's console socket. One
  second later the agent answers and hangs up (``AgentConnect``, ``AgentComplete``,
  ``Hangup``), so the product does all of a call's work while it pops.
- ``bare relay alongside``: the same relay, sent each of the product's ``AgentCalled``
  10 ms after the product (at the same moment, its wake-up took a core from the product's
  own pop): the floor under the load the product's calls put on the machine.
- ``product from the bus``: ``hotline.call.ringing`` published on the Redis bus by this
  process (another process, for the product): a console process that did not see the call
  routed, so it reads the pop when the phone rings (the timing starts at the publish).

Each of the relay and the product has its own AMI server (a simulator) and its own 500
sockets (500 agents logged in to the product, 500 sockets on the relay). Calls come from
the phones of a seeded directory (3 000 elders, 3 past calls each) and ring a random agent.

    python bench/screenpop.py                       # 500 consoles, 50 calls/s for 20 s
    python bench/screenpop.py --consoles 200 --rate 20 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from sqlalchemy import func, select, text

from bench import stamped_ws
from bench.screenpop_floor import RAW_AUDIENCE
from bench.screenpop_pbx import paced
from bench.stamped_ws import StampedSocket
from bench.web import BENCH_SECRET, login, prepare_database, wait_ready
from callcenter.bus import BusMessage
from callcenter.bus.redis import RedisBus
from callcenter.calls.models import Call
from callcenter.crypto import FieldCipher
from callcenter.demo_data import generate
from callcenter.passwords import Passwords
from callcenter.store import create_engine, migrate, session_factory
from callcenter.store.models import ElderPhone, Role, User

REPO = Path(__file__).resolve().parent.parent
#: The product's data folder, emptied at each run: a journal an earlier run left (a run that
#: fell behind) would otherwise be replayed into this one.
DATA_DIR = REPO / "var" / "bench-screenpop"
QUEUE = "hotline"
#: The PBX process reports a path's send times on one line (about 40 bytes a call).
PBX_LINE_LIMIT = 64 * 1024 * 1024
PASSWORD = "Bench-Agent-2024!"
PAST_CALLS = """
INSERT INTO calls (id, kind, direction, caller_number, caller_tail, called_number, caller_kind,
    elder_id, queue, priority, agent, started_at, queued_at, answered_at, ended_at, wait_seconds,
    talk_seconds, hold_seconds, wrapup_seconds, outcome, note, details)
SELECT 'past-' || e.id || '-' || n, 'hotline', 'inbound', '13800000000', '00000000831', '12349',
    'elder', e.id, 'general', 0, 'pagent' || (e.id % 500), now() - n * interval '1 day',
    now() - n * interval '1 day', now() - n * interval '1 day' + interval '9 seconds',
    now() - n * interval '1 day' + interval '3 minutes', 9, 160, 0, 20, 'answered', '', '{}'
FROM elders e, generate_series(1, 3) AS n
"""


@dataclass
class Path_:
    name: str
    sent: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    sending: bool = True

    def got(self, call_id: str, at: float) -> None:
        """A frame for ``call_id``, received at ``at`` (its send time may be learnt after:
        the PBX's process reports its send times when the path has run)."""
        if call_id not in self.received:
            self.received[call_id] = at
            self._check()

    def _check(self) -> None:
        if not self.sending and all(c in self.received for c in self.sent):
            self.done.set()

    def sent_all(self, sent: dict[str, float] | None = None) -> None:
        self.sent.update(sent or {})
        self.sending = False
        self._check()

    async def settled(self, within: float = 10.0) -> None:
        """Wait for the frames of every call sent (those still missing after ``within``
        count as lost)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                await self.done.wait()

    def latencies(self) -> list[float]:
        return sorted(self.received[c] - self.sent[c] for c in self.sent if c in self.received)


async def seed(url: str) -> list[tuple[int, str]]:
    """3 000 elders with past calls and 500 agents, once; each elder's id and phone."""
    engine = create_engine(url)
    sessions = session_factory(engine)
    try:
        async with sessions() as db:
            have = (await db.execute(select(User.id).where(User.username == "pagent499"))).first()
        if have is None:
            cheap = Passwords(time_cost=1, memory_cost=8192)
            await generate(sessions, FieldCipher(BENCH_SECRET.encode()), cheap, elders=3000)
            hashed = cheap.hash_sync(PASSWORD)
            async with sessions.begin() as db:
                db.add_all(User(username=f"pagent{n}", display_name=f"坐席{n}",
                                password_hash=hashed, role=Role.AGENT.value) for n in range(500))
                await db.execute(text(PAST_CALLS))
        async with sessions() as db:
            rows = await db.execute(select(ElderPhone.elder_id, ElderPhone.number))
            return sorted({elder: number for elder, number in rows}.items())
    finally:
        await engine.dispose()


async def identified(url: str, call_ids: list[str]) -> tuple[int, int]:
    """Of the product path's calls: how many have a row naming the elder who called, and
    how many have a row at all (the pops must be the identified caller's, not a stranger's)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            known, rows = (await conn.execute(
                select(func.count(Call.elder_id), func.count()).where(Call.id.in_(call_ids)))).one()
            return int(known), int(rows)
    finally:
        await engine.dispose()


def start_product(url: str, port: int, redis_url: str, sim: dict[str, Any], agi_port: int,
                  profile: str | None = None, roles: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update(CALLCENTER_DATABASE_URL=url, CALLCENTER_SECRET_KEY=BENCH_SECRET,
               CALLCENTER_WEB_BIND=f"127.0.0.1:{port}", CALLCENTER_REDIS_URL=redis_url,
               CALLCENTER_DATA_DIR=str(DATA_DIR),
               CALLCENTER_ARI_URL=sim["ari_url"], CALLCENTER_ARI_USER=sim["user"],
               CALLCENTER_ARI_PASSWORD=sim["password"], CALLCENTER_AMI_HOST=sim["host"],
               CALLCENTER_AMI_PORT=str(sim["ami_port"]), CALLCENTER_AMI_USER=sim["user"],
               CALLCENTER_AMI_SECRET=sim["password"], CALLCENTER_AGI_BIND=f"127.0.0.1:{agi_port}",
               CALLCENTER_HOTLINE_QUEUES=orjson.dumps({QUEUE: 0}).decode(),
               CALLCENTER_HOTLINE_DEFAULT_QUEUE=QUEUE,
               CALLCENTER_LOG_LEVEL="WARNING", CALLCENTER_LOGIN_MAX_FAILURES="1000",
               CALLCENTER_LOGIN_MAX_FAILURES_PER_ADDRESS="100000",
               PYTHONPATH=str(REPO))
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    role_options = [f"--role={role}" for role in roles]
    return subprocess.Popen([sys.executable, *profiler, "-m", "callcenter", "serve", *role_options],
                            cwd=REPO, env=env)


async def wait_agi(port: int) -> None:
    """Poll until the product's FastAGI port takes connections (60 s at most)."""
    async with asyncio.timeout(60):
        while True:
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.2)  # a starting process: there is no event to wait on
                continue
            writer.close()
            return


def start_floor(ami_port: int, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "screenpop_floor.py"),
         "--ami", f"127.0.0.1:{ami_port}", "--port", str(port)],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


def listener(path: _Fan, key: str) -> Callable[[str, float], None]:
    """A console socket's text frames: each pop counts for its call, at its receive time."""
    def on_text(text: str, at: float) -> None:
        message = orjson.loads(text)
        if message["topic"] in ("screenpop.show", "agent.called"):
            path.got(str(message["payload"][key]), at)
    return on_text


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


async def start_pbx(agi_port: int) -> tuple[asyncio.subprocess.Process, dict[str, Any]]:
    """bench/screenpop_pbx.py: the simulators and the calls, in a process of their own."""
    pbx = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "bench" / "screenpop_pbx.py"), "--agi-port", str(agi_port),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        limit=PBX_LINE_LIMIT)
    assert pbx.stdout is not None
    async with asyncio.timeout(60):
        addresses: dict[str, Any] = orjson.loads(await pbx.stdout.readline())
    return pbx, addresses


async def drive_pbx(pbx: asyncio.subprocess.Process, path: str, args: argparse.Namespace,
                    agents: list[str], elders: list[tuple[int, str]]) -> dict[str, dict[str, float]]:
    """One path's calls, made by the PBX's process; the send times it reports."""
    assert pbx.stdin is not None and pbx.stdout is not None
    pbx.stdin.write(orjson.dumps({"path": path, "rate": args.rate, "seconds": args.seconds,
                                  "agents": agents, "numbers": [n for _, n in elders]}) + b"\n")
    await pbx.stdin.drain()
    sent: dict[str, dict[str, float]] = orjson.loads(await pbx.stdout.readline())
    return sent


async def drive_bus(path: Path_, bus: RedisBus, agents: list[str], elders: list[tuple[int, str]],
                    rate: float, seconds: float, ids: itertools.count[int]) -> None:
    """``rate`` ringing messages a second for ``seconds``, on schedule."""
    send = bus_sender(bus)
    async for _ in paced(rate, seconds):
        await send(path, f"bench-bus-{next(ids)}", random.choice(agents), random.choice(elders))
    path.sent_all()
    await path.settled()


def bus_sender(bus: RedisBus) -> object:
    async def send(path: Path_, call_id: str, agent: str, elder: tuple[int, str]) -> None:
        path.sent[call_id] = time.perf_counter()
        await bus.publish(BusMessage("hotline.call.ringing", {
            "call_id": call_id, "agent": agent, "queue": QUEUE, "caller_number": elder[1],
            "elder_id": elder[0], "caller_kind": "elder", "priority": 0, "reason": "",
            "rung_at": ""}, RAW_AUDIENCE))
    return send


async def run(args: argparse.Namespace) -> None:
    await asyncio.to_thread(shutil.rmtree, DATA_DIR, ignore_errors=True)
    url = await prepare_database(args.postgres, args.database, args.fresh)
    await asyncio.to_thread(migrate.upgrade, url)
    elders = await seed(url)
    agi_port = args.port + 20
    pbx, addresses = await start_pbx(agi_port)
    product_sim = addresses["product"]
    if args.split:  # call control and the consoles in processes of their own
        procs = [start_product(url, args.port, args.redis, product_sim, agi_port, args.profile,
                               ("web",)),
                 start_product(url, args.port + 30, args.redis, product_sim, agi_port,
                               roles=("calls", "notify"))]
    else:
        procs = [start_product(url, args.port, args.redis, product_sim, agi_port, args.profile)]
    procs.append(start_floor(addresses["relay"]["ami_port"], args.port + 10))
    bus = RedisBus(args.redis)
    await bus.start()
    paths = {"bare relay": Path_("bare relay"), "product": Path_("product"),
             "product from the bus": Path_("product from the bus"),
             "bare relay alongside": Path_("bare relay alongside")}
    base, relay = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.port + 10}"
    sockets: list[StampedSocket] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await wait_ready(http, base, procs[0])
            await wait_agi(agi_port)
            agents = [f"pagent{n}" for n in range(args.consoles)]
            limit = asyncio.Semaphore(50)

            both = _Fan([paths["product"], paths["product from the bus"]])
            relays = _Fan([paths["bare relay"], paths["bare relay alongside"]])

            async def open_product(agent: str) -> StampedSocket:
                async with limit:
                    token = await login(http, base, agent, PASSWORD)
                    return await StampedSocket.connect(
                        f"{base}/ws", listener(both, "call_id"),
                        {"Origin": base, "Cookie": f"cc_session={token}"})

            started = time.perf_counter()
            product_sockets = await asyncio.gather(*(open_product(a) for a in agents))
            sockets.extend(product_sockets)
            relay_sockets: list[StampedSocket] = []
            for agent in agents:
                async with asyncio.timeout(30):
                    while True:
                        try:
                            relay_sockets.append(await StampedSocket.connect(
                                f"{relay}/ws?agent={agent}", listener(relays, "Linkedid")))
                            sockets.append(relay_sockets[-1])
                            break
                        except OSError:
                            await asyncio.sleep(0.2)  # the relay is still starting
            print(f"{len(product_sockets)} consoles logged in and connected to the product, "
                  f"{len(relay_sockets)} to the bare relay, in {time.perf_counter() - started:.0f} s")

            ids = itertools.count(1)
            for _ in range(args.rounds):
                for name in ("bare relay", "product"):
                    sent = await drive_pbx(pbx, name, args, agents, elders)
                    for path_name, times in sent.items():
                        paths[path_name].sent_all(times)
                        await paths[path_name].settled()
                await drive_bus(paths["product from the bus"], bus, agents, elders, args.rate,
                                args.seconds, ids)
            print(f"{args.consoles} consoles, {args.rate:.0f} calls/s for {args.seconds:.0f} s "
                  f"per path, {args.rounds} round(s), each path in turn")
            print(f"frames timed by the kernel as they reached the console's socket: "
                  f"{stamped_ws.counts['kernel']}; timed as read (no stamp): "
                  f"{stamped_ws.counts['read']}")
            known, rows = await identified(url, list(paths["product"].sent))
            print(f"the product's call rows: {rows} of {len(paths['product'].sent)} calls, "
                  f"{known} of them from an elder it identified by number")
            alone, alongside = paths["bare relay"].latencies(), paths["bare relay alongside"].latencies()
            for name, path in paths.items():
                lat = path.latencies()
                lost = len(path.sent) - len(lat)
                ratio = ""
                if name.startswith("product") and lat and alone:
                    ratio = (f"   ratio p50 {_percentile(lat, .5) / _percentile(alone, .5):5.2f}×"
                             f"  p99 {_percentile(lat, .99) / _percentile(alone, .99):5.2f}×")
                if name == "product" and lat and alongside:
                    ratio += (f"   against the relay alongside: p50 "
                              f"{_percentile(lat, .5) / _percentile(alongside, .5):5.2f}×  p99 "
                              f"{_percentile(lat, .99) / _percentile(alongside, .99):5.2f}×")
                print(f"  {name:<22} p50 {_percentile(lat, .5):6.2f} ms  p99 "
                      f"{_percentile(lat, .99):6.2f} ms  ({len(lat)} frames, {lost} lost){ratio}")
    finally:
        for socket in sockets:
            socket.close()
        await bus.close()
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                print(f"process {proc.pid} did not stop within 20 s: killed")
                proc.kill()
        if pbx.stdin is not None:
            pbx.stdin.close()  # the PBX's process ends at the end of its input
        try:
            async with asyncio.timeout(20):
                await pbx.wait()
        except TimeoutError:
            pbx.kill()


class _Fan:
    """The product's sockets serve two paths in turn: a frame counts for whichever sent it."""

    def __init__(self, paths: list[Path_]) -> None:
        self.paths = paths

    def got(self, call_id: str, at: float) -> None:
        for path in self.paths:
            path.got(call_id, at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default="cc_bench_screenpop")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--port", type=int, default=28080)
    parser.add_argument("--consoles", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--profile", help="write the product's cProfile statistics here")
    parser.add_argument("--split", action="store_true",
                        help="run the product as two processes: --role web (the consoles) "
                             "and --role calls --role notify (Asterisk, the hotline)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
