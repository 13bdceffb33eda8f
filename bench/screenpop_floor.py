"""The bare floor of bench/screenpop.py: a relay reading AMI events off a socket with
nothing but asyncio and aiohttp. Every ``AgentCalled`` goes straight to the WebSocket of
the agent it names (``MemberName``), as one JSON frame. No login, no store, no bus.

    python bench/screenpop_floor.py --ami 127.0.0.1:25038 --port 28090
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator

import orjson
from aiohttp import web

#: Who may read the hotline's raw ringing message on a console: nobody's browser (its
#: payload has the caller's full number); the pop is what the agent sees. The hotline's
#: own audience (ari_apps/hotline/keys.py AUDIENCE = SERVERS_ONLY).
RAW_AUDIENCE = {"browsers": False}


async def ami_events(host: str, port: int, user: str, secret: str) -> AsyncIterator[dict[str, str]]:
    """Log in to AMI and yield each event as a dict of its headers."""
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readline()  # the banner
    writer.write(f"Action: Login\r\nUsername: {user}\r\nSecret: {secret}\r\nActionID: 1\r\n\r\n"
                 .encode())
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


async def relay(ami: tuple[str, int, str, str], port: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ami", required=True)
    parser.add_argument("--port", type=int, default=28090)
    parser.add_argument("--user", default="callcenter")
    parser.add_argument("--secret", default="callcenter")
    args = parser.parse_args()
    host, _, port = args.ami.rpartition(":")
    started = time.perf_counter()
    try:
        asyncio.run(relay((host, int(port), args.user, args.secret), args.port))
    except KeyboardInterrupt:
        print(f"relay stopped after {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
