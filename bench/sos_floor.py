"""The SOS fan-out floor: a bare ARI app doing the same REST calls and SQL as the product.

On StasisStart(sos) it does, as the product does at once: originate 120; answer the caller,
create the mixing bridge, add the caller, record it, play the prompt; find the elder by
the caller's number (the product's own two queries, compiled once, on a bare asyncpg
pool) and originate the first doctor, the first two kin and the social worker. An
answered 120 leg is added to the bridge at once. Nothing else: no actor, no journal, no
console pops, no timeline.

``FanoutClock`` reads Asterisk's own event times for both apps: fan-out is the caller's
StasisStart to the creation time of the last first-round leg (Dial ``peer.creationtime``);
answer→bridged is a leg's StasisStart (its answer) to its ChannelEnteredBridge.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg
import orjson
from sqlalchemy.dialects import postgresql

from ari_apps.sos import directory
from callcenter.store.engine import DriverStatement


def basic_auth(user: str, password: str) -> dict[str, str]:
    """The ``Authorization`` header of ARI's REST calls."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def ari_time(value: str) -> float:
    """An ARI timestamp (``2026-11-21T21:12:48.331+0000``) as epoch seconds."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


@dataclass
class Incident:
    """What Asterisk said about one press, by its own clock."""

    entered: float | None = None  # the caller's StasisStart
    legs_created: dict[str, float] = field(default_factory=dict)  # leg id -> creationtime
    answered: dict[str, float] = field(default_factory=dict)  # leg id -> its StasisStart
    bridged: dict[str, float] = field(default_factory=dict)  # leg id -> ChannelEnteredBridge
    expected: int | None = None  # first-round legs the app originated
    last_first_round: float | None = None  # creation of the last of them
    done: asyncio.Event = field(default_factory=asyncio.Event)
    first_bridged: asyncio.Event = field(default_factory=asyncio.Event)

    def expect(self, legs: int) -> None:
        """The app issued ``legs`` first-round originates: done once all were created."""
        self.expected = legs
        self._check()

    def _check(self) -> None:
        if self.done.is_set() or self.expected is None:
            return
        if len(self.legs_created) >= self.expected:
            # Later legs (the next contact of a role) are not the first round's.
            self.last_first_round = max(sorted(self.legs_created.values())[:self.expected])
            self.done.set()

    @property
    def fanout(self) -> float:
        assert self.entered is not None and self.last_first_round is not None
        return self.last_first_round - self.entered

    @property
    def answer_to_bridged(self) -> float:
        leg = min(self.bridged, key=lambda k: self.bridged[k])
        return self.bridged[leg] - self.answered[leg]


class FanoutClock:
    """Collects Asterisk's event times per incident, keyed by the caller's channel id."""

    def __init__(self, caller_of_leg: Any) -> None:
        self.incidents: dict[str, Incident] = defaultdict(Incident)
        self._caller_of_leg = caller_of_leg  # leg channel id -> caller channel id, or None

    def take(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        if kind == "StasisStart":
            channel = event["channel"]
            args = event.get("args") or []
            if args[:1] == ["sos"]:
                self.incidents[channel["id"]].entered = ari_time(event["timestamp"])
            else:
                caller = self._caller_of_leg(channel["id"])
                if caller is not None:
                    self.incidents[caller].answered[channel["id"]] = ari_time(event["timestamp"])
        elif kind == "Dial" and not event.get("dialstatus"):
            peer = event["peer"]
            caller = self._caller_of_leg(peer["id"])
            if caller is not None:
                incident = self.incidents[caller]
                incident.legs_created[peer["id"]] = ari_time(peer["creationtime"])
                incident._check()
        elif kind == "ChannelEnteredBridge":
            channel = event.get("channel") or {}
            caller = self._caller_of_leg(channel.get("id", ""))
            if caller is not None:
                incident = self.incidents[caller]
                incident.bridged[channel["id"]] = ari_time(event["timestamp"])
                incident.first_bridged.set()


class BareSosApp:
    """The floor app (see the module docstring)."""

    def __init__(self, ari_url: str, user: str, password: str, app: str, dsn: str,
                 dial_template: str, emergency: str = "120", kin_at_once: int = 2) -> None:
        self.base = ari_url.rstrip("/")
        self.auth = basic_auth(user, password)
        self.api_key = f"{user}:{password}"
        self.app = app
        self.dsn = dsn
        self.dial_template = dial_template
        self.emergency = emergency
        self.kin_at_once = kin_at_once
        self.legs: dict[str, str] = {}  # leg id -> caller channel id
        self.clock = FanoutClock(self.legs.get)
        self._bridges: dict[str, str] = {}  # caller -> bridge
        self._bridge_made: dict[str, asyncio.Event] = {}  # caller -> set once it exists
        self._ids = itertools.count()
        self._run = uuid.uuid4().hex[:6]
        self._tasks: set[asyncio.Task[None]] = set()
        # Compiled for asyncpg once, with the statements' own constants.
        dialect = postgresql.asyncpg.dialect()
        self._by_phone = DriverStatement.compile(directory._BY_PHONE, dialect)
        self._details = DriverStatement.compile(directory._DETAILS, dialect)
        self.ready = asyncio.Event()

    async def __aenter__(self) -> BareSosApp:
        self.http = aiohttp.ClientSession(headers=self.auth)
        self.pool = await asyncpg.create_pool(self.dsn, min_size=2, max_size=4)
        self._listener = asyncio.get_running_loop().create_task(self._listen())
        async with asyncio.timeout(10):
            await self.ready.wait()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._listener.cancel()
        await asyncio.gather(self._listener, *self._tasks, return_exceptions=True)
        await self.pool.close()
        await self.http.close()

    async def _listen(self) -> None:
        url = f"{self.base}/ari/events?app={self.app}&api_key={self.api_key}"
        async with self.http.ws_connect(url.replace("http", "ws", 1)) as ws:
            self.ready.set()
            async for message in ws:
                event = orjson.loads(message.data)
                self.clock.take(event)
                kind = event.get("type")
                if kind == "StasisStart" and (event.get("args") or [])[:1] == ["sos"]:
                    task = asyncio.get_running_loop().create_task(self._start(event))
                    self._tasks.add(task)
                    task.add_done_callback(self._finished)
                elif kind == "StasisStart":
                    leg = event["channel"]["id"]
                    caller = self.legs.get(leg)
                    if caller is not None and leg.endswith("-e0"):
                        task = asyncio.get_running_loop().create_task(self._join(caller, leg))
                        self._tasks.add(task)
                        task.add_done_callback(self._finished)

    async def _join(self, caller: str, leg: str) -> None:
        """An answered 120 leg into the bridge, once it exists (120 may answer first)."""
        await self._made(caller).wait()
        await self._post(f"/bridges/{self._bridges[caller]}/addChannel", channel=leg)

    def _made(self, caller: str) -> asyncio.Event:
        return self._bridge_made.setdefault(caller, asyncio.Event())

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            print(f"bare app: an SOS start failed: {task.exception()!r}")

    async def _post(self, path: str, **params: str) -> Any:
        async with self.http.post(f"{self.base}/ari{path}", params=params) as response:
            return await response.read()

    async def _originate(self, caller: str, leg: str, number: str) -> None:
        self.legs[leg] = caller
        await self._post("/channels", endpoint=self.dial_template.format(number=number),
                         app=self.app, appArgs=f"leg,{caller}", channelId=leg,
                         callerId="SOS <12349>", timeout="30")

    async def _start(self, event: dict[str, Any]) -> None:
        caller = event["channel"]["id"]
        number = event["channel"]["caller"]["number"]
        tag = f"bare{self._run}{next(self._ids)}"  # unique across runs: Asterisk refuses a live id
        bridge = f"floor-{tag}"  # not sos-*: the product would take it back as its own
        self._bridges[caller] = bridge

        async def answer_and_bridge() -> None:
            await self._post(f"/channels/{caller}/answer")
            await self._post(f"/bridges/{bridge}", type="mixing")
            self._made(caller).set()
            await self._post(f"/bridges/{bridge}/addChannel", channel=caller)
            await self._post(f"/bridges/{bridge}/record", name=bridge, format="wav")
            await self._post(f"/bridges/{bridge}/play", media="sound:pls-hold-while-try")

        async def contacts() -> int:
            async with self.pool.acquire() as conn:
                row = await conn.fetchrow(self._by_phone.text, *self._by_phone.values(
                    {"number": directory.normalise_number(number)}))
                if row is None:
                    return 0
                levels = ([c for c in row[-1].split("/") if c] + [None, None, None])[:3]
                details = await conn.fetch(self._details.text, *self._details.values(
                    {"elder_id": row[0], "district": levels[0], "street": levels[1],
                     "community": levels[2]}))
            wanted = {"doctor": 1, "kin": self.kin_at_once, "social_worker": 1}
            picked = []
            for kind, role, _who, phone, _email, _ident, _priority in sorted(
                    details, key=lambda r: (r[1] or "", r[6] or 0)):
                if kind == "c" and wanted.get(role, 0) > 0:
                    wanted[role] -= 1
                    picked.append((role, phone))
            await asyncio.gather(*(self._originate(caller, f"{tag}-{role[0]}{n}", phone)
                                   for n, (role, phone) in enumerate(picked)))
            return len(picked)

        _, _, contacted = await asyncio.gather(
            self._originate(caller, f"{tag}-e0", self.emergency), answer_and_bridge(),
            contacts())
        self.clock.incidents[caller].expect(1 + (contacted or 0))


# -- product against floor, one press at a time ------------------------------------------------


async def clean_up(http: aiohttp.ClientSession, ari_url: str,
                   mine: Callable[[str], bool]) -> None:
    """Hang up the channels and destroy the bridges a run left (the next run of the product
    would otherwise take its predecessor's conferences back, as after any restart)."""
    base = f"{ari_url.rstrip('/')}/ari"
    for kind in ("channels", "bridges"):
        async with http.get(f"{base}/{kind}") as response:
            listed = await response.json()
        for item in listed:
            if mine(item["id"]):
                async with http.delete(f"{base}/{kind}/{item['id']}"):
                    pass


async def hang_up(http: aiohttp.ClientSession, ari_url: str, channels: list[str]) -> None:
    """Hang up ``channels`` (those gone already answer 404, which is fine)."""
    base = f"{ari_url.rstrip('/')}/ari/channels"
    for channel in channels:
        async with http.delete(f"{base}/{channel}"):
            pass


@dataclass
class Fanout:
    """Both apps' incidents, pressed alternately on the same Asterisk in the same run."""

    product: list[Incident]
    floor: list[Incident]


async def press(http: aiohttp.ClientSession, ari_url: str, app: str, number: str,
                caller_endpoint: str) -> str:
    """A caller enters ``Stasis(app, sos)`` from ``number`` (an originate into the app)."""
    async with http.post(f"{ari_url.rstrip('/')}/ari/channels", params={
        "endpoint": caller_endpoint, "app": app, "appArgs": "sos", "callerId": number,
    }) as response:
        response.raise_for_status()
        return str((await response.json())["id"])


async def compare(product_clock: FanoutClock, product_issued: Any, floor: BareSosApp,
                  numbers: list[str], presses: int, ari_url: str, auth: dict[str, str],
                  caller_endpoint: str, wait_bridged: bool,
                  product_end: Callable[[str], Awaitable[None]] | None = None) -> Fanout:
    """Press alternately for the product (app ``callcenter``) and the floor, one at a time;
    each press waits for its first round (and its first bridged responder).
    ``product_issued(caller)`` tells how many first-round legs the product originated.

    With ``product_end`` (one incident at a time), each incident is ended once measured:
    the product's by ``product_end(caller)`` (staff close it: every leg hung up), the
    floor's by hanging up its caller and legs, so that no press is measured beside earlier
    incidents' prompts, redials and events (``bench/sos.py --keep-calls`` keeps them up)."""
    result = Fanout([], [])
    callers: set[str] = set()
    async with aiohttp.ClientSession(headers=auth) as http:
        for n in range(presses):
            order = [("callcenter", product_clock, result.product),
                     (floor.app, floor.clock, result.floor)]
            for app, clock, sink in order if n % 2 == 0 else order[::-1]:
                # Both clocks key by the caller's channel; Asterisk ids are unique per run.
                caller = await press(http, ari_url, app, numbers[n % len(numbers)],
                                     caller_endpoint)
                callers.add(caller)
                incident = clock.incidents[caller]
                if app == "callcenter":
                    incident.expect(await product_issued(caller))
                try:
                    async with asyncio.timeout(20):
                        await incident.done.wait()
                        if wait_bridged:
                            await incident.first_bridged.wait()
                except TimeoutError:
                    raise TimeoutError(f"{app}: press {n} did not complete: {incident}") from None
                sink.append(incident)
                if product_end is not None:
                    if app == "callcenter":
                        await product_end(caller)
                    else:
                        await hang_up(http, ari_url, [caller, *incident.legs_created])
                # Let the incident's calls settle before the next press: one press at a time.
                await asyncio.sleep(0.2)
        legs = {leg for i in (*result.product, *result.floor) for leg in i.legs_created}
        bridges = {f"sos-{leg.rpartition('-')[0]}" for leg in legs}
        await clean_up(http, ari_url, lambda ident: (
            ident in callers or ident.split(";")[0] in legs or ident in bridges
            or ident.startswith(f"floor-bare{floor._run}")))
    return result
