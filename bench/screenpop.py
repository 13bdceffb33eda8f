"""The screen-pop's latency with 500 consoles open and 50 calls a second ringing agents,
against a bare relay in the same run.

Three paths, timed from the moment the ringing is sent to the moment the agent's WebSocket
receives its frame (sender and receivers in this process, one clock):

- ``bare relay``: an AMI ``AgentCalled`` event → bench/screenpop_floor.py ``relay`` (reads
  AMI, writes the event to the named agent's WebSocket; no login, no store, no bus);
- ``product via AMI``: the same event → bench/screenpop_floor.py ``adapter`` (the smallest
  AMI → bus step, standing for the hotline feature, which is not on this branch) → Redis
  bus → ``callcenter serve --role web`` (the screen-pop relay: two prebuilt queries for
  the elder's pop, then the hub) → the agent's console socket;
- ``product from the bus``: ``hotline.call.ringing`` published on the Redis bus by this
  process (the timing starts at the publish).

Each path gets its own fake AMI server and its own 500 sockets (500 agents logged in to
the product, 500 sockets on the relay). Calls ring a random agent about an elder of a
seeded directory (3 000 elders, 3 past calls each).

    python bench/screenpop.py                       # 500 consoles, 50 calls/s for 20 s
    python bench/screenpop.py --consoles 200 --rate 20 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
from sqlalchemy import select, text

from bench.screenpop_floor import RAW_AUDIENCE
from bench.web import BENCH_SECRET, login, prepare_database, wait_ready
from callcenter.bus import BusMessage
from callcenter.bus.redis import RedisBus
from callcenter.crypto import FieldCipher
from callcenter.demo_data import generate
from callcenter.passwords import Passwords
from callcenter.store import create_engine, migrate, session_factory
from callcenter.store.models import Elder, Role, User

REPO = Path(__file__).resolve().parent.parent
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


class FakeAmi:
    """An AMI server that accepts any login and sends the events it is given."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.ready = asyncio.Event()

    async def start(self) -> int:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/7.0.3\r\n")
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n")
        self.writers.append(writer)
        self.ready.set()

    def send(self, fields: dict[str, str]) -> None:
        block = "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        for writer in self.writers:
            writer.write(block.encode())


@dataclass
class Path_:
    name: str
    sent: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    sending: bool = True

    def got(self, call_id: str) -> None:
        if call_id in self.sent and call_id not in self.received:
            self.received[call_id] = time.perf_counter()
            self._check()

    def _check(self) -> None:
        if not self.sending and len(self.received) == len(self.sent):
            self.done.set()

    def sent_all(self) -> None:
        self.sending = False
        self._check()

    def latencies(self) -> list[float]:
        return sorted(self.received[c] - self.sent[c] for c in self.received)


async def seed(url: str) -> list[int]:
    """3 000 elders with past calls and 500 agents, once; the elders' ids."""
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
            return list((await db.execute(select(Elder.id))).scalars())
    finally:
        await engine.dispose()


def start_product(url: str, port: int, redis_url: str, profile: str | None = None) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")}
    env.update(CALLCENTER_DATABASE_URL=url, CALLCENTER_SECRET_KEY=BENCH_SECRET,
               CALLCENTER_WEB_BIND=f"127.0.0.1:{port}", CALLCENTER_REDIS_URL=redis_url,
               CALLCENTER_DATA_DIR=str(REPO / "var" / "bench-screenpop"),
               CALLCENTER_LOG_LEVEL="WARNING", CALLCENTER_LOGIN_MAX_FAILURES="1000",
               CALLCENTER_LOGIN_MAX_FAILURES_PER_ADDRESS="100000",
               PYTHONPATH=str(REPO))
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    return subprocess.Popen([sys.executable, *profiler, "-m", "callcenter", "serve", "--role", "web"],
                            cwd=REPO, env=env)


def start_floor(role: str, ami_port: int, port: int, redis_url: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(REPO / "bench" / "screenpop_floor.py"), role,
         "--ami", f"127.0.0.1:{ami_port}", "--port", str(port), "--redis", redis_url],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})


async def listen(socket: aiohttp.ClientWebSocketResponse, path: Path_, key: str) -> None:
    async for frame in socket:
        if frame.type != aiohttp.WSMsgType.TEXT:
            continue
        message = orjson.loads(frame.data)
        if message["topic"] in ("screenpop.show", "agent.called"):
            path.got(str(message["payload"][key]))


def _percentile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


async def drive(path: Path_, send: object, agents: list[str], elders: list[int], rate: float,
                seconds: float, ids: itertools.count[int]) -> None:
    """``rate`` calls a second for ``seconds``, on schedule (not after each other)."""
    assert callable(send)
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        call_id = f"{int(time.time())}.{next(ids)}"
        path.sent[call_id] = time.perf_counter()
        await send(call_id, random.choice(agents), random.choice(elders))
    path.sent_all()
    try:
        async with asyncio.timeout(10):
            await path.done.wait()
    except TimeoutError:
        pass


async def run(args: argparse.Namespace) -> None:
    url = await prepare_database(args.postgres, args.database, args.fresh)
    await asyncio.to_thread(migrate.upgrade, url)
    elders = await seed(url)
    bare_ami, adapter_ami = FakeAmi(), FakeAmi()
    bare_port, adapter_port = await bare_ami.start(), await adapter_ami.start()
    procs = [start_product(url, args.port, args.redis, args.profile),
             start_floor("relay", bare_port, args.port + 10, args.redis),
             start_floor("adapter", adapter_port, 0, args.redis)]
    bus = RedisBus(args.redis)
    await bus.start()
    base, relay = f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{args.port + 10}"
    paths = {"bare relay": Path_("bare relay"), "product via AMI": Path_("product via AMI"),
             "product from the bus": Path_("product from the bus")}
    listeners: list[asyncio.Task[None]] = []
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            await wait_ready(http, base, procs[0])
            async with asyncio.timeout(30):
                await bare_ami.ready.wait()
                await adapter_ami.ready.wait()
            agents = [f"pagent{n}" for n in range(args.consoles)]
            limit = asyncio.Semaphore(50)

            async def open_product(agent: str) -> aiohttp.ClientWebSocketResponse:
                async with limit:
                    token = await login(http, base, agent, PASSWORD)
                    return await http.ws_connect(f"{base}/ws", headers={
                        "Origin": base, "Cookie": f"cc_session={token}"})

            started = time.perf_counter()
            product_sockets = await asyncio.gather(*(open_product(a) for a in agents))
            relay_sockets = []
            for agent in agents:
                async with asyncio.timeout(30):
                    while True:
                        try:
                            relay_sockets.append(await http.ws_connect(f"{relay}/ws?agent={agent}"))
                            break
                        except aiohttp.ClientConnectionError:
                            await asyncio.sleep(0.2)  # the relay is still starting
            print(f"{len(product_sockets)} consoles logged in and connected to the product, "
                  f"{len(relay_sockets)} to the bare relay, in {time.perf_counter() - started:.0f} s")
            both = [paths["product via AMI"], paths["product from the bus"]]
            for socket in product_sockets:
                listeners.append(asyncio.create_task(listen(socket, _Fan(both), "call_id")))
            for socket in relay_sockets:
                listeners.append(asyncio.create_task(listen(socket, paths["bare relay"], "Linkedid")))

            def agent_called(ami: FakeAmi) -> object:
                async def send(call_id: str, agent: str, elder: int) -> None:
                    ami.send({"Event": "AgentCalled", "Privilege": "agent,all", "Queue": "general",
                              "MemberName": agent, "Interface": f"PJSIP/{agent}",
                              "CallerIDNum": "13800138000", "Uniqueid": call_id,
                              "Linkedid": call_id, "ChanVariable": f"CC_ELDER_ID={elder}"})
                return send

            async def publish(call_id: str, agent: str, elder: int) -> None:
                await bus.publish(BusMessage("hotline.call.ringing", {
                    "call_id": call_id, "agent": agent, "queue": "general",
                    "caller_number": "13800138000", "elder_id": elder, "caller_kind": "elder",
                    "priority": 0, "reason": "", "rung_at": ""}, RAW_AUDIENCE))

            ids = itertools.count(1)
            senders = {"bare relay": agent_called(bare_ami),
                       "product via AMI": agent_called(adapter_ami),
                       "product from the bus": publish}
            for _ in range(args.rounds):
                for name, send in senders.items():
                    await drive(paths[name], send, agents, elders, args.rate, args.seconds, ids)
            print(f"{args.consoles} consoles, {args.rate:.0f} calls/s for {args.seconds:.0f} s "
                  f"per path, {args.rounds} round(s), each path in turn")
            floor = paths["bare relay"].latencies()
            for name, path in paths.items():
                lat = path.latencies()
                lost = len(path.sent) - len(path.received)
                ratio = ""
                if name != "bare relay" and lat and floor:
                    ratio = (f"   ratio p50 {_percentile(lat, .5) / _percentile(floor, .5):5.2f}×"
                             f"  p99 {_percentile(lat, .99) / _percentile(floor, .99):5.2f}×")
                print(f"  {name:<22} p50 {_percentile(lat, .5):6.2f} ms  p99 "
                      f"{_percentile(lat, .99):6.2f} ms  ({len(lat)} frames, {lost} lost){ratio}")
            for socket in [*product_sockets, *relay_sockets]:
                await socket.close()
    finally:
        for task in listeners:
            task.cancel()
        await bus.close()
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            proc.wait(timeout=20)


class _Fan:
    """The product's sockets serve two paths in turn: a frame counts for whichever sent it."""

    def __init__(self, paths: list[Path_]) -> None:
        self.paths = paths

    def got(self, call_id: str) -> None:
        for path in self.paths:
            path.got(call_id)


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
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
