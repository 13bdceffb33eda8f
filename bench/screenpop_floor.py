"""The two stand-alone processes of bench/screenpop.py, each reading AMI events off a socket
with nothing but asyncio:

- ``relay`` (the bare floor): every ``AgentCalled`` goes straight to the WebSocket of the
  agent it names (``MemberName``), as one JSON frame. No login, no store, no bus.
- ``adapter``: every ``AgentCalled`` becomes ``hotline.call.ringing`` on the Redis bus, as
  the hotline feature (not on this branch) will publish it: the smallest AMI → bus step,
  so the product's pop can be timed from the AMI event too.

    python bench/screenpop_floor.py relay --ami 127.0.0.1:25038 --port 28090
    python bench/screenpop_floor.py adapter --ami 127.0.0.1:25039 --redis redis://127.0.0.1:6379/14
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import orjson
from aiohttp import web

from callcenter.bus import BusMessage
from callcenter.bus.redis import RedisBus

#: Who may read the hotline's raw ringing message on a console: nobody's browser (its
#: payload has the caller's full number); the pop is what the agent sees. The hotline's
#: own audience (ari_apps/hotline/keys.py AUDIENCE = SERVERS_ONLY).
RAW_AUDIENCE = {"browsers": False}


async def ami_events(host: str, port: int) -> AsyncIterator[dict[str, str]]:
    """Log in to AMI and yield each event as a dict of its headers."""
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readline()  # the banner
    writer.write(b"Action: Login\r\nUsername: bench\r\nSecret: bench\r\nActionID: 1\r\n\r\n")
    await writer.drain()
    while True:
        block = await reader.readuntil(b"\r\n\r\n")
        fields: dict[str, str] = {}
        for line in block.decode().split("\r\n"):
            key, sep, value = line.partition(": ")
            if sep:
                fields.setdefault(key, value)
        if "Event" in fields:
            yield fields


async def relay(ami: tuple[str, int], port: int) -> None:
    sockets: dict[str, set[web.WebSocketResponse]] = {}

    async def ws(request: web.Request) -> web.WebSocketResponse:
        agent = request.query["agent"]
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sockets.setdefault(agent, set()).add(socket)
        try:
            async for _ in socket:
                pass
        finally:
            sockets[agent].discard(socket)
        return socket

    app = web.Application()
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async for event in ami_events(*ami):
        if event.get("Event") != "AgentCalled":
            continue
        frame = orjson.dumps({"topic": "agent.called", "payload": event}).decode()
        for socket in tuple(sockets.get(event.get("MemberName", ""), ())):
            await socket.send_str(frame)


def ringing(event: dict[str, str]) -> dict[str, object]:
    """``hotline.call.ringing`` from an ``AgentCalled`` (the elder routing found rides on the
    caller's channel as ``CC_ELDER_ID``, reported by Asterisk as a ``ChanVariable``)."""
    elder = event.get("ChanVariable", "").partition("CC_ELDER_ID=")[2]
    return {"call_id": event.get("Linkedid") or event.get("Uniqueid"),
            "agent": event.get("MemberName"), "queue": event.get("Queue"),
            "caller_number": event.get("CallerIDNum", ""),
            "elder_id": int(elder) if elder.isdigit() else None,
            "caller_kind": "elder" if elder.isdigit() else "unknown", "priority": 0,
            "reason": "", "rung_at": datetime.now(UTC).isoformat()}


async def adapter(ami: tuple[str, int], redis_url: str) -> None:
    bus = RedisBus(redis_url)
    await bus.start()
    try:
        async for event in ami_events(*ami):
            if event.get("Event") == "AgentCalled":
                await bus.publish(BusMessage("hotline.call.ringing", ringing(event), RAW_AUDIENCE))
    finally:
        await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=("relay", "adapter"))
    parser.add_argument("--ami", required=True)
    parser.add_argument("--port", type=int, default=28090)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    args = parser.parse_args()
    host, _, port = args.ami.rpartition(":")
    started = time.perf_counter()
    try:
        if args.role == "relay":
            asyncio.run(relay((host, int(port)), args.port))
        else:
            asyncio.run(adapter((host, int(port)), args.redis))
    except KeyboardInterrupt:
        print(f"{args.role} stopped after {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
