"""From the hotline's call topics to the ringing agent's console, in each console process.

``hotline.call.routed`` (the route chose a queue for a caller) has the facts around the
caller read at once, in every process with a console open, while the caller goes on to the
queue. ``hotline.call.ringing`` for agent X: if X has a console open on this process, the
pop is assembled from those facts (read now when there are none: two prebuilt queries) and
handed straight to X's sockets; facts older than ``FRESH_SECONDS`` (a caller who waited)
show at once and are read again, and a pop that changed goes out once more. Then the
ringing message is kept in ``screen_pops`` for a reload. Answer
elsewhere, the end of the ringing and the end of the call take the pop away again.
Frames (``screenpop.show``, ``screenpop.answered``, ``screenpop.gone``, and
``screenpop.consult`` for the call panel's attended transfer) go to the agents' own user
ids only: nobody else's console ever receives a pop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ari_apps.screenpop.services import (
    CALLER_KINDS,
    PopFacts,
    around,
    degraded_pop,
    pop_of,
    read_facts,
    warm_facts,
)
from ari_apps.screenpop.store import PopStore
from callcenter.bus import BusMessage
from callcenter.logs import get_logger
from callcenter.store.direct import DirectStatements
from webui.ws import WsHub

log = get_logger(__name__)
ROUTED = "hotline.call.routed"
RINGING = "hotline.call.ringing"
ANSWERED = "hotline.call.answered"
STOPPED = "hotline.call.stopped_ringing"
ENDED = "hotline.call.ended"
CONSULT = "hotline.call.consult"  # an attended transfer's consultation moved
TOPICS = (ROUTED, RINGING, ANSWERED, STOPPED, ENDED, CONSULT)
CONSULT_FIELDS = ("call_id", "consult_call_id", "to", "target", "state", "error")
_ID_MAX = 64
#: Pops read at once; calls whose end is remembered (a late pop of theirs is not sent).
CONCURRENT_READS = 16
REMEMBERED = 10_000
#: Calls whose facts were read ahead, and how long such a read is taken as it is.
AHEAD = 2_000
FRESH_SECONDS = 15.0
#: A change of the pop rows (and its frames), run in bus order by the relay's writer.
Step = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class RingingRow:
    """A ringing pop's row, written once its frame went out; runs of them go in one batch."""

    pop: asyncio.Task[None] | None
    agent: str
    call_id: str
    message: dict[str, Any]
    at: datetime


def _text(payload: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = payload.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > _ID_MAX or "\x00" in value:
        raise ValueError(key)
    return value


@dataclass(slots=True)
class Ahead:
    """The facts around a routed call, being read or read."""

    caller: tuple[Any, ...]  # what they were read for (a ringing for another caller reads anew)
    #: The pop's caller part (services.around), built as the facts come in: a ringing then
    #: only adds its own few fields (services.pop_of).
    part: asyncio.Future[dict[str, Any]]
    at: float  # loop time


def _caller(message: dict[str, Any]) -> tuple[Any, ...]:
    return message.get("elder_id"), message.get("caller_number"), message.get("caller_kind")


def valid_ringing(payload: dict[str, Any], *, agent: bool = True) -> dict[str, Any]:
    """The ringing (or routed, without ``agent``) message with the fields the pop reads
    checked; ValueError names a bad one."""
    _text(payload, "call_id")
    _text(payload, "agent", required=agent)
    elder = payload.get("elder_id")
    if elder is not None and (not isinstance(elder, int) or isinstance(elder, bool)):
        raise ValueError("elder_id")
    if payload.get("caller_kind", "unknown") not in CALLER_KINDS:
        raise ValueError("caller_kind")
    number = payload.get("caller_number", "")
    if not isinstance(number, str) or len(number) > 32:
        raise ValueError("caller_number")
    _text(payload, "care_call", required=False)
    care_reason = payload.get("care_reason", "")
    if care_reason is not None and (not isinstance(care_reason, str) or len(care_reason) > 200):
        raise ValueError("care_reason")
    _text(payload, "uniqueid", required=False)
    keep = ("call_id", "agent", "queue", "caller_number", "elder_id", "caller_kind", "priority",
            "reason", "care_call", "care_reason", "rung_at", "uniqueid")
    return {k: payload.get(k) for k in keep}


class PopRelay:
    """Applies the hotline's call topics to this process's consoles and to the pop rows."""

    def __init__(self, hub: WsHub, reads: DirectStatements, store: PopStore,
                 clock: Callable[[], datetime]) -> None:
        self._hub = hub
        self._reads = reads
        self._store = store
        self._clock = clock
        #: Messages handled so far (rows written), for whoever waits on the relay.
        self.handled = 0
        self._progress: asyncio.Condition | None = None
        self._writes: asyncio.Queue[Step | RingingRow | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        # Pops are read concurrently (each waits on its own queries, not on the one before);
        # a pop whose call was answered elsewhere, stopped or ended meanwhile is not sent.
        self._concurrent = asyncio.Semaphore(CONCURRENT_READS)
        self._closed: OrderedDict[str, str | None] = OrderedDict()  # call → who may still see it
        self._stopped: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._ahead: OrderedDict[str, Ahead] = OrderedDict()
        self._tapped: set[int] = set()  # messages the tap acted on (by id, while queued)
        self._closing: dict[str, int] = {}  # call → its answers, stops, ends not yet handled
        # A ringing reaches a console process without the calls role twice: AgentCalled
        # read off its own AMI session (:meth:`agent_called`) and the hotline's ringing
        # message over the bus. The first pops; the other finds its mark here and does not.
        self._routes: OrderedDict[str, dict[str, Any]] = OrderedDict()  # caller's channel → route
        self._popped: OrderedDict[tuple[str, str], str] = OrderedDict()  # (call, agent) → by

    def _user_ids(self, agents: Iterable[str]) -> list[int]:
        return self._hub.user_ids(agents)

    def _send(self, topic: str, payload: dict[str, Any], agents: Iterable[str]) -> int:
        users = self._user_ids(agents)
        if not users:
            return 0
        return self._hub.deliver(BusMessage(topic, payload, {"users": users}))

    async def facts_for(self, caller: dict[str, Any]) -> PopFacts:
        """The facts around one caller, read on the direct read pool (PostgreSQL), else on
        the read engine."""
        async with self._concurrent:
            return await self._reads.run(lambda reader: read_facts(reader, caller, self._clock()))

    async def warm(self) -> None:
        """The facts' reads made ready on every connection before the first ringing, and
        the pop rows' connections opened."""
        await asyncio.gather(self._reads.warm(warm_facts), self._store.warm())

    async def part_for(self, caller: dict[str, Any]) -> dict[str, Any]:
        """The caller's part of a pop, from the facts around them read now."""
        return around(await self.facts_for(caller), self._clock())

    def tap(self, message: BusMessage) -> None:
        """Each call topic as it reaches this process (before :meth:`handle` gets it in
        bus order): a routed call's facts start being read, and a ringing whose facts are
        read and fresh pops on the agent's sockets now, in the publisher's own step, unless
        an answer, stop or end of that call is still waiting for :meth:`handle`."""
        payload, topic = message.payload, message.topic
        call_id = payload.get("call_id")
        if not isinstance(call_id, str):
            return  # handle() says what is wrong
        if topic in (ANSWERED, STOPPED, ENDED):
            self._closing[call_id] = self._closing.get(call_id, 0) + 1
            self._tapped.add(id(message))
            return
        try:
            if topic == ROUTED:
                self._read_ahead(valid_ringing(payload, agent=False))
                self._tapped.add(id(message))
            elif topic == RINGING and not self._closing.get(call_id):
                ringing = valid_ringing(payload)
                agent = str(ringing["agent"])
                if self._popped_by_ami(call_id, agent) or self._pop_now(ringing, agent, call_id):
                    self._tapped.add(id(message))
        except ValueError:
            return

    def agent_called(self, event: Any) -> None:
        """AMI ``AgentCalled`` read off this process's own AMI session (a console process
        without the calls role): the pop of a routed call goes out now, from the route and
        the facts read ahead, without waiting for the hotline's ringing message to cross
        the bus. Calls this process saw no route for are left to that message."""
        uniqueid, agent = event.get("Uniqueid"), event.get("MemberName")
        routed = self._routes.get(uniqueid) if isinstance(uniqueid, str) else None
        if routed is None or not isinstance(agent, str) or not agent or len(agent) > _ID_MAX:
            return
        call_id = str(routed["call_id"])
        if (self._closing.get(call_id) or not self._user_ids([agent])
                or not self._first_to_pop(call_id, agent, "ami")):
            return  # closing, nobody here to pop for, or the ringing message was here first
        queue = event.get("Queue")
        ringing = {**routed, "agent": agent, "rung_at": self._clock().isoformat(),
                   "queue": queue if isinstance(queue, str) and queue else routed.get("queue")}
        if not self._pop_now(ringing, agent, call_id):  # facts still being read, or none
            task = asyncio.get_running_loop().create_task(self._pop(ringing, agent, call_id),
                                                          name=f"screenpop-{call_id}")
            task.add_done_callback(_retrieved)

    def _popped_by_ami(self, call_id: str, agent: str) -> bool:
        """The ringing message of a ring :meth:`agent_called` popped already; else this
        message pops (if the agent has a console here), and a later AgentCalled does not."""
        return bool(self._user_ids([agent])) and not self._first_to_pop(call_id, agent, "bus")

    def _first_to_pop(self, call_id: str, agent: str, by: str) -> bool:
        """Whether path ``by`` (``ami`` or ``bus``) pops this ring: no, when the other path
        did already (its mark is taken); else yes, and its own mark tells the other path."""
        key = (call_id, agent)
        if self._popped.get(key, by) != by:
            del self._popped[key]
            return False
        _remember(self._popped, key, by, AHEAD)
        return True

    def _pop_now(self, ringing: dict[str, Any], agent: str, call_id: str) -> bool:
        ahead = self._ahead.get(call_id)
        if (ahead is None or not ahead.part.done() or ahead.part.cancelled()
                or ahead.part.exception() is not None or ahead.caller != _caller(ringing)
                or asyncio.get_running_loop().time() - ahead.at > FRESH_SECONDS
                or not self._user_ids([agent])):
            return False
        self._stopped.pop((call_id, agent), None)  # rung again after a round without answer
        self._show(ringing, agent, call_id, ahead.part.result())
        return True

    def _read_ahead(self, routed: dict[str, Any]) -> None:
        if not self._hub.has_clients:
            return  # nobody here to pop for
        loop = asyncio.get_running_loop()
        call_id = str(routed["call_id"])
        if routed.get("uniqueid"):
            _remember(self._routes, str(routed["uniqueid"]), routed, AHEAD)
        task = loop.create_task(self.part_for(routed), name=f"screenpop-ahead-{call_id}")
        task.add_done_callback(_retrieved)
        _remember(self._ahead, call_id, Ahead(_caller(routed), task, loop.time()), AHEAD)

    async def handle(self, message: BusMessage) -> None:
        """Apply one message: a ringing pop goes out at once; every change of the pop rows
        (and the frames that depend on them) is queued, in bus order, to one writer."""
        step: Step | RingingRow | None = None
        try:
            step = await self._prepare(message)
        except ValueError as err:
            log.warning("screen-pop: bad hotline message ignored", topic=message.topic,
                        field=str(err))
        self._writes.put_nowait(step)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.get_running_loop().create_task(self._write(), name="screenpop-rows")

    async def _write(self) -> None:
        while True:
            batch = [await self._writes.get()]
            while not self._writes.empty():  # what came meanwhile: its ringing rows at once
                batch.append(self._writes.get_nowait())
            start = 0
            while start < len(batch):
                end = start + 1
                if isinstance(batch[start], RingingRow):
                    while end < len(batch) and isinstance(batch[end], RingingRow):
                        end += 1
                try:
                    await self._apply(batch[start:end])
                except Exception:  # noqa: BLE001 - task boundary: one failed write, not the rest
                    log.exception("screen-pop row change failed")
                self.handled += end - start
                start = end
            if self._progress is not None:
                async with self._progress:
                    self._progress.notify_all()

    async def _apply(self, steps: list[Step | RingingRow | None]) -> None:
        """One step, or a run of ringing rows written in one statement (after their frames:
        the rows are for a reload, not for the agent's phone)."""
        first = steps[0]
        if isinstance(first, RingingRow):
            rows = [step for step in steps if isinstance(step, RingingRow)]
            for row in rows:
                if row.pop is not None:
                    await row.pop
            await self._store.ringing_many([(r.agent, r.call_id, r.message, r.at) for r in rows])
        elif first is not None:
            await first()

    async def close(self) -> None:
        task, self._writer = self._writer, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._reads.close()
        await self._store.close()

    async def caught_up(self, count: int, within: float = 10.0) -> None:
        """Wait until ``count`` messages have been handled (TimeoutError after ``within``)."""
        if self._progress is None:
            self._progress = asyncio.Condition()
        async with asyncio.timeout(within), self._progress:
            await self._progress.wait_for(lambda: self.handled >= count)

    async def _prepare(self, message: BusMessage) -> Step | RingingRow | None:
        payload = message.payload
        tapped = id(message) in self._tapped
        self._tapped.discard(id(message))
        if tapped and message.topic in (ANSWERED, STOPPED, ENDED):
            call = str(payload["call_id"])
            self._closing[call] -= 1
            if not self._closing[call]:
                del self._closing[call]
        if message.topic == ROUTED:
            if not tapped:
                self._read_ahead(valid_ringing(payload, agent=False))
            return None
        if message.topic == RINGING:
            return await self._ringing(valid_ringing(payload), popped=tapped)
        if message.topic == ANSWERED:
            answered, agent = str(_text(payload, "call_id")), _text(payload, "agent", required=False)
            _remember(self._closed, answered, agent)
            return lambda: self._answered(answered, agent)
        if message.topic in (STOPPED, ENDED):
            call_id = _text(payload, "call_id")
            assert call_id is not None
            agent = _text(payload, "agent", required=False) if message.topic == STOPPED else None
            if message.topic == STOPPED and agent is None:
                raise ValueError("agent")
            why = "stopped_ringing" if message.topic == STOPPED else "ended"
            if agent is not None:
                _remember(self._stopped, (call_id, agent), None)
            else:
                _remember(self._closed, call_id, None)
                self._ahead.pop(call_id, None)
            return lambda: self._gone(call_id, agent, why)
        if message.topic == CONSULT:
            _text(payload, "call_id")
            consulting = _text(payload, "agent")
            frame = {key: payload.get(key) for key in CONSULT_FIELDS}
            return lambda: self._consult(frame, str(consulting))
        return None

    async def _consult(self, frame: dict[str, Any], agent: str) -> None:
        self._send("screenpop.consult", frame, [agent])

    async def _answered(self, call_id: str, agent: str | None) -> None:
        others = await self._store.answered(call_id, agent)
        self._send("screenpop.gone", {"call_id": call_id, "why": "answered_elsewhere"}, others)
        if agent:
            self._send("screenpop.answered", {"call_id": call_id}, [agent])

    async def _gone(self, call_id: str, agent: str | None, why: str) -> None:
        agents = await self._store.gone(call_id, agent)
        self._send("screenpop.gone", {"call_id": call_id, "why": why},
                   {*agents, *([agent] if agent else [])})

    async def _ringing(self, ringing: dict[str, Any], *, popped: bool = False) -> RingingRow:
        agent, call_id = str(ringing["agent"]), str(ringing["call_id"])
        self._stopped.pop((call_id, agent), None)  # rung again after a round without answer
        pop: asyncio.Task[None] | None = None
        if not popped and not self._popped_by_ami(call_id, agent) and self._user_ids([agent]):
            pop = asyncio.get_running_loop().create_task(self._pop(ringing, agent, call_id),
                                                         name=f"screenpop-{call_id}")
        return RingingRow(pop, agent, call_id, ringing, self._clock())

    async def _pop(self, ringing: dict[str, Any], agent: str, call_id: str) -> None:
        loop = asyncio.get_running_loop()
        ahead = self._ahead.get(call_id)
        shown: dict[str, Any] | None = None
        if ahead is not None and ahead.caller == _caller(ringing):
            try:
                part = await asyncio.shield(ahead.part)
            except Exception:  # noqa: BLE001 - any store trouble (driver, network): read again below
                pass
            else:
                shown = self._show(ringing, agent, call_id, part)
                if loop.time() - ahead.at <= FRESH_SECONDS:
                    return
        try:
            part = await self.part_for(ringing)
        except Exception as err:  # noqa: BLE001 - any store trouble (driver, network, timeout)
            if shown is not None:
                return  # the pop read earlier stays
            # The store is away: the agent still sees who rings and why, without the rest.
            log.warning("screen-pop without the store", call_id=call_id, error=type(err).__name__)
            self._send_pop(degraded_pop(ringing), agent, call_id)
            return
        done = loop.create_future()
        done.set_result(part)
        _remember(self._ahead, call_id, Ahead(_caller(ringing), done, loop.time()), AHEAD)
        pop = pop_of(ringing, part)
        if pop != shown:
            self._send_pop(pop, agent, call_id)

    def _show(self, ringing: dict[str, Any], agent: str, call_id: str,
              part: dict[str, Any]) -> dict[str, Any]:
        pop = pop_of(ringing, part)
        self._send_pop(pop, agent, call_id)
        return pop

    def _send_pop(self, pop: dict[str, Any], agent: str, call_id: str) -> None:
        closed = self._closed.get(call_id, _OPEN)
        if closed is not _OPEN and closed != agent or (call_id, agent) in self._stopped:
            return  # answered elsewhere, stopped or ended while the pop was read
        self._send("screenpop.show", pop, [agent])


def _retrieved(task: asyncio.Task[Any]) -> None:
    """A read ahead or a pop that failed and that nothing awaited: logged once, not as
    unretrieved."""
    if not task.cancelled() and task.exception() is not None:
        log.warning("screen-pop task failed", task=task.get_name(),
                    error=type(task.exception()).__name__)


_OPEN = object()


def _remember(marks: OrderedDict[Any, Any], key: Any, value: Any, limit: int = REMEMBERED) -> None:
    marks[key] = value
    marks.move_to_end(key)
    while len(marks) > limit:
        marks.popitem(last=False)
