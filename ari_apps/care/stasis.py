"""The care call over ARI: a long ring, a slow Mandarin greeting, press 1 or press 2.

An attempt is originated as ``care-<task>-<attempt>`` into ``Stasis(<app>,care,…)``; it
enters the app when the elder answers. A wellbeing call asks "press 1 if you are well,
press 2 to talk to someone"; a reminder says its message and "press 1 to confirm". The
question is said, then said again when no key comes within ``CARE_KEY_SECONDS``. Key 2
leaves the app for the hotline's dialplan entry at high priority, with the reason for
the agent's screen pop in channel variables. Only the first valid key counts; a storm
of other keys ends the call as "no response". Every event of a ``care-`` channel comes
here (router prefix), so a restarted product takes back the calls still on the line.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import update

from ari_apps.care.broadcasts import stop_if_closed
from ari_apps.care.dialler import Dialler, Job, trunk_of
from ari_apps.care.exceptions import BadNumber, ElderInactive, NoPhone, TaskNotFound
from ari_apps.care.models import CareKind, CareResult, CareTask
from ari_apps.care.outcomes import DIAL_RESULTS, unanswered_result
from ari_apps.care.plans import call_id, parse_call_id
from ari_apps.care.recording import CareRecorder
from ari_apps.care.records import AttemptEnd, Settled, settle
from ari_apps.care.services import Target, begin_attempt, target_of
from ari_apps.care.speech import THANKS_TEXT, CareSpeech, greeting_text
from callcenter.asterisk import (
    AriClient,
    AriError,
    AriEvent,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    Dial,
    PlaybackFinished,
    StasisEnd,
    StasisRouter,
    StasisStart,
)
from callcenter.calls.models import Call
from callcenter.logs import get_logger
from callcenter.media import media_base_url
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

log = get_logger(__name__)

WELL_KEY, TALK_KEY = "1", "2"
#: Keys that are neither 1 nor 2 before the call gives up on them (a stuck key, a child).
STORM_KEYS = 12
GOODBYE = "sound:vm-goodbye"
#: Seconds between tries of storing an attempt's end (the store busy or restarting).
SETTLE_RETRIES = (0.5, 1.0, 2.0, 4.0, 8.0)
#: Care's transactions at once in a process: a campaign never takes every pooled connection.
STORE_AT_ONCE = 4
Publish = Callable[[str, dict[str, object], str | None], Awaitable[None]]
Submit = Callable[[list[object]], Awaitable[object]]


@dataclass
class CareCall:
    """One attempt on the line."""

    job: Job
    target: Target
    id: str
    node: str
    state: str = "dialling"  # dialling | answered | asked | thanking | leaving | over
    asked: int = 0
    junk_keys: int = 0
    result: CareResult | None = None
    reason: str = ""
    answered_at: datetime | None = None
    dial_result: CareResult | None = None
    greeting: str | None = None
    waiter: asyncio.Task[None] | None = None
    playbacks: set[str] = field(default_factory=set)


class CareCalls:
    """Places, runs and settles the care calls of this process."""

    def __init__(self, clients: dict[str, AriClient], settings: Settings,
                 sessions: SessionFactory, dialler: Dialler, speech: CareSpeech,
                 publish: Publish, submit: Submit, *, owner: str,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], datetime] = utcnow,
                 recorder: CareRecorder | None = None) -> None:
        self.clients = clients
        self.recorder = recorder
        self.settings = settings
        self.sessions = sessions
        self.dialler = dialler
        self.speech = speech
        self.publish = publish
        self.submit_notes = submit
        self.owner = owner
        self.sleep = sleep
        self.clock = clock
        self.calls: dict[str, CareCall] = {}
        self._router: StasisRouter | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.settled: list[tuple[AttemptEnd, Settled | None]] = []
        self.store_slots = asyncio.Semaphore(STORE_AT_ONCE)
        self._settled_event = asyncio.Event()

    def attach(self, router: StasisRouter) -> None:
        self._router = router
        router.on_start("care", "care", self._route, self._route)
        router.on_prefix("care-", self._route)

    async def close(self) -> None:
        for call in self.calls.values():
            if call.waiter is not None:
                call.waiter.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _client(self, node: str | None = None) -> AriClient:
        return self.clients.get(node or "", next(iter(self.clients.values())))

    # -- placing ---------------------------------------------------------------------

    async def place(self, job: Job) -> None:
        """The dialler's ``place``: write the attempt, then originate it."""
        ident = call_id(job.task_id, job.attempt)
        async with self.store_slots:
            begun = await begin_attempt(self.sessions, job.task_id, job.attempt, ident,
                                        self.owner, self.clock())
            if begun is None:  # placed before (a restart: never twice), or stopped
                await stop_if_closed(self.sessions, job.task_id, self.clock())
        if begun is None:
            self.dialler.release(job)
            return
        target, failure = begun.target, begun.failure
        call = CareCall(job, target, ident, next(iter(self.clients)))
        self.calls[ident] = call
        if failure is not None:
            await self._end(call, CareResult.FAILED, f"{failure}", cause=_error_id(failure),
                            retryable=False)
            return
        if self._router is not None:
            self._router.claim(ident, self._route)
        if self.settings.care_speech and self.speech.speaker is not None:
            self._spawn(self._prepare_greeting(call))
        client = self._client(call.node)
        try:
            await client.channels.originate(
                self.settings.dial_template.format(number=target.number),
                app=client.app, app_args=f"care,{job.task_id},{job.attempt}",
                channel_id=ident, caller_id=f"12349 <{self.settings.care_caller_id}>",
                timeout=self.settings.care_ring_seconds)
        except AriError as err:
            await self._end(call, CareResult.FAILED,
                            f"Asterisk refused the originate: {err.status} {err.message}",
                            cause=f"ari-{err.status}")
            return
        await self._dialled(call)

    async def _dialled(self, call: CareCall) -> None:
        """Asterisk took the originate: a process that takes this attempt back and finds no
        channel knows it may have rung (a failed attempt), not that it never went out."""
        try:
            async with self.store_slots, self.sessions.begin() as session:
                await session.execute(update(Call).where(Call.id == call.id).values(
                    dialled_at=self.clock()))
        except Exception as err:  # noqa: BLE001 - the call goes on; only a take-back reads it
            log.warning("care call's dialling not stored", call=call.id, error=repr(err))

    async def _prepare_greeting(self, call: CareCall) -> None:
        target = call.target
        text = greeting_text(target.kind, target.name, medicine=target.medicine,
                             message=target.message)
        call.greeting = await self.speech.make(call.id, text)

    def _spawn(self, work: Awaitable[None]) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- events ----------------------------------------------------------------------

    async def _route(self, event: AriEvent) -> None:
        channel = getattr(event, "peer", None) if isinstance(event, Dial) else \
            getattr(event, "channel", None)
        if isinstance(event, PlaybackFinished):
            ident = event.playback.target_uri.partition(":")[2]
        else:
            ident = channel.id if channel is not None else ""
        call = self.calls.get(ident)
        if call is None:
            if isinstance(event, ChannelDestroyed | StasisEnd):
                return  # an attempt that ended here already, or one the watch settles
            call = await self.adopt(ident, event.node)
            if call is None:
                return
            if not isinstance(event, StasisStart | Dial):
                await self._resume_adopted(call, channel)
        if isinstance(event, Dial):
            if event.dialstatus in DIAL_RESULTS:
                call.dial_result = DIAL_RESULTS[event.dialstatus]
        elif isinstance(event, StasisStart):
            await self._answered(call)
        elif isinstance(event, ChannelDtmfReceived):
            await self._key(call, event.digit)
        elif isinstance(event, PlaybackFinished):
            await self._played(call, event.playback.id)
        elif isinstance(event, StasisEnd):
            if call.state == "leaving":
                await self._end(call, CareResult.WANTS_TO_TALK, call.reason)
        elif isinstance(event, ChannelDestroyed):
            await self._destroyed(call, event.cause, event.cause_txt)

    async def adopt(self, ident: str, node: str | None) -> CareCall | None:
        """A call a previous run placed, still on the line: this process takes it on."""
        parsed = parse_call_id(ident)
        if parsed is None:
            return None
        task_id, attempt = parsed
        async with self.sessions() as session:
            task = await session.get(CareTask, task_id)
            if task is None or task.attempts != attempt or task.state != "calling":
                return None
            try:
                target = await target_of(session, task)
            except (NoPhone, BadNumber, ElderInactive, TaskNotFound):
                return None
            row = await session.get(Call, ident)
        job = Job(task_id, attempt, CareKind(task.kind),
                  trunk_of(self.settings.dial_template.format(number=target.number)))
        call = CareCall(job, target, ident, node or next(iter(self.clients)))
        if row is not None and row.disposition:  # answered before the restart: kept
            call.result, call.reason = CareResult(row.disposition), row.note
            call.answered_at, call.state = row.answered_at, "thanking"
        self.dialler.adopt(job)
        self.calls[ident] = call
        if self._router is not None:
            self._router.claim(ident, self._route)
        log.info("care call taken back after a restart", task=task_id, attempt=attempt)
        return call

    async def _resume_adopted(self, call: CareCall, channel: Channel | None) -> None:
        """On the line (a playback's event carries no channel: ask Asterisk): ask again."""
        state = channel.state if channel is not None else None
        if state is None:
            try:
                state = (await self._client(call.node).channels.get(call.id)).state
            except AriError:
                return  # gone: its ChannelDestroyed, or the watch, settles it
        await self.resume(call, state)

    async def resume(self, call: CareCall, channel_state: str) -> None:
        """An adopted call that is up: ask the question again from the start (or, when its
        answer was kept, end it)."""
        if call.result is not None and call.state == "thanking":
            await self._hangup(call)
        elif channel_state == "Up" and call.state == "dialling":
            await self._answered(call)

    async def _answered(self, call: CareCall) -> None:
        if call.state != "dialling":
            return
        call.state, call.answered_at = "answered", self.clock()
        if self.recorder is not None:
            self._spawn(self.recorder.start(call.id, call.node))  # the prompt never waits
        await self._ask(call)

    async def _ask(self, call: CareCall) -> None:
        call.state = "asked"
        call.asked += 1
        media = f"sound:{media_base_url(self.settings)}/media/care/{call.greeting}" \
            if call.greeting else self.settings.care_fallback_sound
        await self._play(call, media)

    async def _play(self, call: CareCall, media: str) -> None:
        try:
            playback = await self._client(call.node).channels.play(call.id, media, lang="zh")
        except AriError as err:
            log.warning("care prompt not played", call=call.id, error=str(err))
            self._wait_key(call)  # the elder may still press
            return
        call.playbacks.add(playback.id)

    async def _played(self, call: CareCall, playback_id: str) -> None:
        if playback_id not in call.playbacks:
            return
        call.playbacks.discard(playback_id)
        if call.state == "asked" and not call.playbacks:
            self._wait_key(call)
        elif call.state == "thanking":
            await self._hangup(call)

    def _wait_key(self, call: CareCall) -> None:
        if call.waiter is not None:
            call.waiter.cancel()

        async def wait() -> None:
            await self.sleep(self.settings.care_key_seconds)
            call.waiter = None
            if call.result is not None or call.state != "asked":
                return
            if call.asked < 2:
                await self._ask(call)  # said once more, as slowly
            else:
                call.result = CareResult.NO_RESPONSE
                call.reason = "answered; no key after the message was said twice"
                await self._hangup(call)

        call.waiter = asyncio.ensure_future(wait())

    async def _key(self, call: CareCall, digit: str) -> None:
        if call.result is not None or call.state not in ("asked", "answered"):
            return  # one answer per call: the rest of a storm is ignored
        wellbeing = call.target.kind is CareKind.WELLBEING
        if digit == WELL_KEY:
            call.result = CareResult.ANSWERED_WELL if wellbeing else CareResult.CONFIRMED
            call.reason = f"pressed {digit}"
            await self._keep_answer(call)
            await self._thank(call)
        elif digit == TALK_KEY and wellbeing:
            call.result, call.reason = CareResult.WANTS_TO_TALK, "pressed 2: wants to talk"
            await self._keep_answer(call)
            await self._to_hotline(call)
        else:
            call.junk_keys += 1
            if call.junk_keys >= STORM_KEYS:
                call.result = CareResult.NO_RESPONSE
                call.reason = f"DTMF storm: {call.junk_keys} keys, none of them an answer"
                await self._hangup(call)

    async def _keep_answer(self, call: CareCall) -> None:
        """The elder's answer, stored at once: a restart before the call ends keeps it."""
        assert call.result is not None
        try:
            async with self.store_slots, self.sessions.begin() as session:
                await session.execute(update(Call).where(Call.id == call.id).values(
                    disposition=call.result.value, note=call.reason,
                    answered_at=call.answered_at))
        except Exception as err:  # noqa: BLE001 - the end of the call stores it again
            log.warning("care answer not stored at the key", call=call.id, error=repr(err))

    async def _thank(self, call: CareCall) -> None:
        if call.waiter is not None:
            call.waiter.cancel()
        call.state = "thanking"
        client = self._client(call.node)
        for playback in list(call.playbacks):
            with contextlib.suppress(AriError):
                await client.playbacks.stop(playback)
        call.playbacks.clear()
        thanks = await self.speech.make(call.id, THANKS_TEXT) \
            if self.settings.care_speech else None
        await self._play(call, f"sound:{media_base_url(self.settings)}/media/care/{thanks}"
                         if thanks else GOODBYE)
        if not call.playbacks:
            await self._hangup(call)

    async def _to_hotline(self, call: CareCall) -> None:
        """Key 2: the hotline queue at high priority, with why for the agent's pop."""
        if call.waiter is not None:
            call.waiter.cancel()
        call.state = "leaving"
        client = self._client(call.node)
        # Asterisk runs a Stasis channel's commands in order: the variables and the
        # continue below would wait for the greeting still playing (10 s and more at a slow
        # pace) and time out. Stop it first, as the thank-you does.
        for playback in list(call.playbacks):
            with contextlib.suppress(AriError):
                await client.playbacks.stop(playback)
        call.playbacks.clear()
        why = f"关爱电话：{call.target.name}按2想找人说说话"
        if self.recorder is not None:
            await self.recorder.stop(call.id, call.node)  # the hotline's dialplan records on
        try:
            # The hotline sees the elder calling (the originate's caller id is the centre's
            # own): identified, popped as the elder, and an abandon calls the elder back.
            for name, value in (("CALLERID(num)", call.target.number),
                                ("CALLCENTER_PRIORITY", "high"), ("CALLCENTER_REASON", why),
                                ("CALLCENTER_CARE_CALL", call.id)):
                await client.channels.set_variable(call.id, name, value)
            await client.channels.continue_in_dialplan(
                call.id, context=self.settings.care_hotline_context,
                extension=self.settings.care_hotline_extension, priority=1)
        except AriError as err:
            call.reason = f"pressed 2; the hotline could not be reached: {err.message}"
            call.state = "asked"
            await self._hangup(call)
        await self.publish("care.wants_to_talk", {"call": call.id, "task": call.job.task_id,
                                                  "elder_id": call.target.elder_id,
                                                  "name": call.target.name, "reason": why},
                           call.target.area_path)

    async def _hangup(self, call: CareCall) -> None:
        with contextlib.suppress(AriError):
            await self._client(call.node).channels.hangup(call.id)

    async def _destroyed(self, call: CareCall, cause: int, cause_txt: str) -> None:
        if call.result is not None:
            await self._end(call, call.result, call.reason, cause=str(cause))
        elif call.answered_at is not None:
            await self._end(call, CareResult.NO_RESPONSE, "answered; hung up without a key",
                            cause=str(cause))
        else:
            result = call.dial_result or unanswered_result(cause)
            await self._end(call, result, f"{result.value}: {cause_txt or cause}",
                            cause=str(cause))

    # -- the end -----------------------------------------------------------------------

    async def _end(self, call: CareCall, result: CareResult, reason: str, *,
                   cause: str | None = None, retryable: bool = True) -> None:
        if call.state == "over":
            return
        call.state = "over"
        if call.waiter is not None:
            call.waiter.cancel()
        self.calls.pop(call.id, None)
        self.speech.drop(call.id)
        end = AttemptEnd(call.job.task_id, call.job.attempt, call.id, result, reason,
                         call.answered_at, cause, retryable)
        # The attempt stays held (its watch leaves it alone) until its end is stored, or
        # the store has been given up on: the watch would count it lost and dial again.
        try:
            if self.recorder is not None and call.answered_at is not None:
                await self.recorder.finished(call.id, call.node)
            settled = await self._settle(end, call.target)
        finally:
            self.dialler.release(call.job)
        if settled is not None and settled.notes:
            await self.submit_notes(list(settled.notes))
        if settled is not None and settled.escalated:
            await self.publish("care.unreached", {
                "task": call.job.task_id, "elder_id": call.target.elder_id,
                "name": call.target.name, "result": result.value, "reason": reason,
                "action": "call_this_elder"}, call.target.area_path)
        self.settled.append((end, settled))
        self._settled_event.set()
        log.info("care call ended", task=call.job.task_id, attempt=call.job.attempt,
                 result=result.value, reason=reason)

    async def _settle(self, end: AttemptEnd, target: Target) -> Settled | None:
        """Store the attempt's end, trying again while the store is busy or away."""
        for delay in (*SETTLE_RETRIES, None):
            try:
                async with self.store_slots:
                    return await settle(self.sessions, self.settings, end,
                                        report_to_kin=target.report_to_kin,
                                        elder_name=target.name, now=self.clock())
            except Exception as err:  # noqa: BLE001 - retried; the watch takes the rest
                if delay is None:
                    log.error("care call result not stored; its watch will settle it",
                              task=end.task_id, attempt=end.attempt, error=repr(err))
                    return None
                log.warning("care call result not stored yet; trying again",
                            task=end.task_id, error=repr(err))
                await asyncio.sleep(delay)
        return None

    async def wait_settled(self, count: int, within: float = 10.0) -> None:
        """Until ``count`` attempts have ended in this process (tests, the bench)."""
        async with asyncio.timeout(within):
            while len(self.settled) < count:
                self._settled_event.clear()
                await self._settled_event.wait()


def _error_id(err: Exception) -> str:
    return str(getattr(err, "error_id", err.__class__.__name__))

