"""Wire-level ARI/AMI clients for the simulator tests (raw aiohttp and TCP, wire order kept)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp
from reference_data import ARI_API_DOCS, TRACES

from callcenter.pbxsim.ari_schema import AriSchema

SCHEMA = AriSchema(ARI_API_DOCS)
WAIT = 10.0  # seconds of real time any single expected event may take

M = TypeVar("M")


async def _first_match(received: list[M], changed: asyncio.Event, match: Callable[[M], bool],
                       start: int, advance: Callable[[], Any] | None) -> M:
    """The first of ``received`` (from index ``start``) that matches, waiting on ``changed``
    for more (and advancing simulated time with ``advance``), with a timeout."""
    async with asyncio.timeout(WAIT):
        while True:
            for item in received[start:]:
                if match(item):
                    return item
            changed.clear()
            if advance is not None:
                await advance()
                if any(match(m) for m in received[start:]):
                    continue
                # Simulated time moves in small steps until the event arrives.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.02):
                        await changed.wait()
                continue
            await changed.wait()


class AriClient:
    """REST with Basic auth, plus the app's event WebSocket; every event is schema-checked."""

    def __init__(self, base_url: str, user: str, password: str, app: str = "callcenter") -> None:
        self.base = base_url.rstrip("/")
        self.auth = {"Authorization": aiohttp.encode_basic_auth(user, password)}
        self.user, self.password, self.app = user, password, app
        self.session = aiohttp.ClientSession()
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self.ws: aiohttp.ClientWebSocketResponse | None = None

    async def connect(self) -> None:
        """Open the events WebSocket."""
        self.ws = await self.session.ws_connect(
            f"{self.base}/ari/events",
            params={"app": self.app, "subscribeAll": "false",
                    "api_key": f"{self.user}:{self.password}"})
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self.ws is not None
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(msg.data)
            self.problems += [f"{event.get('type')}: {p}" for p in SCHEMA.validate(event)]
            self.events.append(event)
            self._changed.set()

    async def close(self) -> None:
        """Close the socket and the session."""
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self.session.close()

    async def request(self, method: str, path: str, **query: Any) -> tuple[int, Any]:
        """One REST call; returns status and parsed JSON (or None)."""
        params = {k: str(v) for k, v in query.items() if v is not None}
        async with asyncio.timeout(WAIT):
            async with self.session.request(method, f"{self.base}/ari{path}", params=params,
                                            headers=self.auth) as resp:
                raw = await resp.read()
                ctype = resp.headers.get("Content-Type", "")
                body = json.loads(raw) if raw and "json" in ctype else (raw or None)
                return resp.status, body

    async def wait_for(self, match: Callable[[dict[str, Any]], bool], *, start: int = 0,
                       advance: Callable[[], Any] | None = None) -> dict[str, Any]:
        """The first event (from index ``start``) that matches; waits with a timeout."""
        return await _first_match(self.events, self._changed, match, start, advance)


def of_type(kind: str, channel_id: str | None = None, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    """Event matcher by type, channel id and top-level field values."""
    def match(event: dict[str, Any]) -> bool:
        if event.get("type") != kind:
            return False
        if channel_id is not None:
            ch = event.get("channel") or event.get("peer") or {}
            if ch.get("id") != channel_id:
                return False
        return all(event.get(k) == v for k, v in fields.items())
    return match


class AmiClient:
    """A raw AMI connection recording every message in wire order."""

    def __init__(self, host: str, port: int, user: str, secret: str, events: str = "on") -> None:
        self.host, self.port, self.user, self.secret = host, port, user, secret
        self.events = events
        self.messages: list[dict[str, str]] = []
        self.banner = ""
        self._changed = asyncio.Event()
        self._reader_task: asyncio.Task[None] | None = None
        self._ids = 0

    async def connect(self) -> None:
        """Connect, read the banner, log in."""
        async with asyncio.timeout(WAIT):
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
            self.banner = (await self.reader.readline()).decode().strip()
        self._reader_task = asyncio.get_running_loop().create_task(self._read())
        resp = await self.action("Login", Username=self.user, Secret=self.secret,
                                 Events=self.events)
        assert resp["Response"] == "Success", resp

    async def _read(self) -> None:
        fields: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if not line:
                return
            text = line.decode().rstrip("\r\n")
            if text:
                key, _, value = text.partition(": ")
                if key == "Output" and key in fields:
                    fields[key] += "\n" + value
                else:
                    fields.setdefault(key, value)
                continue
            if fields:
                self.messages.append(fields)
                self._changed.set()
                fields = {}

    async def close(self) -> None:
        """Close the connection."""
        self.writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)

    async def send(self, action: str, **fields: str) -> str:
        """Send an action; returns its ActionID."""
        self._ids += 1
        aid = f"t-{self._ids}"
        text = f"Action: {action}\r\nActionID: {aid}\r\n"
        text += "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
        self.writer.write(text.encode())
        await self.writer.drain()
        return aid

    async def action(self, action: str, **fields: str) -> dict[str, str]:
        """Send an action and wait for its Response."""
        aid = await self.send(action, **fields)
        return await self.wait_for(lambda m: "Response" in m and m.get("ActionID") == aid)

    async def event_list(self, action: str, complete: str, **fields: str) -> list[dict[str, str]]:
        """An action answered with an event list; returns the items."""
        aid = await self.send(action, **fields)
        await self.wait_for(lambda m: m.get("Event") == complete and m.get("ActionID") == aid)
        return [m for m in self.messages if m.get("ActionID") == aid and "Event" in m
                and m["Event"] != complete]

    async def wait_for(self, match: Callable[[dict[str, str]], bool], start: int = 0,
                       advance: Callable[[], Any] | None = None) -> dict[str, str]:
        """The first message from ``start`` that matches, with a timeout."""
        return await _first_match(self.messages, self._changed, match, start, advance)


def event(name: str, **fields: str) -> Callable[[dict[str, str]], bool]:
    """AMI event matcher."""
    return lambda m: m.get("Event") == name and all(m.get(k) == v for k, v in fields.items())


def trace_messages(name: str) -> list[dict[str, str]]:
    """The messages Asterisk sent in an AMI transcript, with ``#`` notes as ``Note``."""
    out: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in (TRACES / name).read_text().splitlines():
        if line.startswith("#"):
            out.append({"Note": line})
        elif line.startswith("<"):
            text = line[2:]
            if text:
                key, _, value = text.partition(": ")
                fields.setdefault(key, value)
            elif fields:
                out.append(fields)
                fields = {}
    return out
