"""An aiohttp server that replays a recorded ARI transcript (REST answers and WS frames)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from reference_data import TRACES


def load_trace(name: str) -> list[dict[str, Any]]:
    """The records of one ``ari-*.jsonl`` file."""
    with (TRACES / name).open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def ws_bodies(records: list[dict[str, Any]], conn: str | None = None) -> list[dict[str, Any]]:
    """The WebSocket event bodies of a trace, in order (optionally of one connection)."""
    return [
        r["body"] for r in records
        if r["dir"] == "ws" and r.get("body") is not None and r.get("conn") == conn
    ]


def _key(method: str, path: str, query: dict[str, str] | None) -> tuple[str, str, frozenset[tuple[str, str]]]:
    return method, path, frozenset((query or {}).items())


@dataclass
class WsScript:
    """What the server does on one WebSocket connection."""

    frames: list[str | bytes]
    then: str = "close"  # "close": drop the socket; "hold": keep it open; "silent": no pongs


@dataclass
class AriReplayServer:
    """Answers REST as recorded and plays scripted frames on ``/ari/events``."""

    records: list[dict[str, Any]] = field(default_factory=list)
    user: str = "callcenter"
    password: str = "callcenter"
    scripts: deque[WsScript] = field(default_factory=deque)
    rest_overrides: dict[tuple[str, str], tuple[int, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    ws_connects: int = 0
    ws_refusals: int = 0

    def __post_init__(self) -> None:
        self._answers: dict[Any, deque[dict[str, Any]]] = defaultdict(deque)
        pending: dict[tuple[str, str], deque[dict[str, Any]]] = defaultdict(deque)
        for r in self.records:
            if r["dir"] == "req" and r["path"] != "/ari/events":
                pending[(r["method"], r["path"])].append(r)
            elif r["dir"] == "resp" and r["path"] != "/ari/events":
                req = pending[(r["method"], r["path"])].popleft()
                if req.get("auth") == "bad-credentials" or r["status"] == 401:
                    continue  # the server answers 401 from the credentials it sees
                self._answers[_key(r["method"], r["path"], req.get("query"))].append(r)
        self.connected = asyncio.Event()
        self._sockets: list[web.WebSocketResponse] = []
        self.app = web.Application()
        self.app.router.add_route("GET", "/ari/events", self._events)
        self.app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self.server = TestServer(self.app, port=0)

    @property
    def url(self) -> str:
        """Base URL (http://127.0.0.1:port)."""
        return str(self.server.make_url("")).rstrip("/")

    async def start(self) -> None:
        """Listen on a free loopback port."""
        await self.server.start_server()

    async def close(self) -> None:
        """Close every socket and stop listening."""
        for ws in self._sockets:
            await ws.close()
        await self.server.close()

    def _authorised(self, request: web.Request) -> bool:
        expected = "Basic " + base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        return request.headers.get("Authorization") == expected

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        self.requests.append((request.method, request.path, query))
        if not self._authorised(request):
            return web.json_response({"message": "Authentication required"}, status=401)
        override = self.rest_overrides.get((request.method, request.path))
        if override is not None:
            status, body = override
            if isinstance(body, bytes):
                return web.Response(status=status, body=body, content_type="text/plain")
            return web.json_response(body, status=status)
        answers = self._answers.get(_key(request.method, request.path, query))
        if not answers:
            return web.json_response({"message": "Resource not found"}, status=404)
        r = answers.popleft() if len(answers) > 1 else answers[0]
        if r["status"] == 204 or (r["body"] is None and "content_length" not in r):
            return web.Response(status=r["status"])
        if "content_length" in r:  # binary recording file: bytes were not recorded
            return web.Response(status=r["status"], body=b"\0" * r["content_length"],
                                content_type=r["content_type"])
        return web.json_response(r["body"], status=r["status"])

    async def _events(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.query)))
        if request.query.get("api_key") != f"{self.user}:{self.password}":
            self.ws_refusals += 1
            raise web.HTTPUnauthorized()
        script = self.scripts.popleft() if self.scripts else WsScript([], then="hold")
        ws = web.WebSocketResponse(autoping=script.then != "silent")
        await ws.prepare(request)
        self._sockets.append(ws)
        self.ws_connects += 1
        self.connected.set()
        for frame in script.frames:
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame)
        if script.then == "close":
            await ws.close()
            return ws
        async for msg in ws:  # "hold" and "silent": wait for the client to go
            if msg.type is WSMsgType.CLOSE:
                break
        return ws


def frames_of(bodies: list[dict[str, Any]]) -> list[str | bytes]:
    """Bodies serialised the way Asterisk sends them (compact JSON text frames)."""
    return [json.dumps(b, separators=(",", ":")) for b in bodies]
