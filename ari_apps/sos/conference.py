"""One SOS incident's conference: its bridge, its legs, its timers, its timeline.

Each conference is an actor: ARI events and commands for the incident go through
one inbox, handled in order by one owned task, so the state below never races.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ari_apps.sos.directory import ElderCard
from ari_apps.sos.incident import IncidentRecords, Leg, SosDeps
from ari_apps.sos.models import IncidentStatus, LegRole, LegState
from ari_apps.sos.plan import (
    Candidate,
    Effect,
    EmergencyUnreachable,
    LegRequest,
    RoleExhausted,
    SosPlan,
)
from callcenter.asterisk import (
    AriClient,
    AriError,
    AriEvent,
    AriNotFound,
    ChannelDestroyed,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    Dial,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from callcenter.logs import bound_context, get_logger
from callcenter.store.models import Role, utcnow

log = get_logger(__name__)

# Dial statuses that end a leg without an answer, with the Q.850 cause they mean.
# Asterisk 22 sends no NOANSWER Dial on an originate timeout, only ChannelDestroyed 19.
_FAILED_DIAL = {"BUSY": 17, "CONGESTION": 34, "CHANUNAVAIL": 20, "NOANSWER": 19, "CANCEL": 16}
_LIVE = (LegState.DIALING, LegState.RINGING, LegState.ANSWERED, LegState.JOINED)
_PENDING = (LegState.DIALING, LegState.RINGING, LegState.ANSWERED)
_PROMPT_GAP = 2.0
_ANNOUNCE_TIMEOUT = 15.0
_REPEAT_ESCALATION = 60.0
MAX_LIFETIME = 4 * 3600.0
#: In Asterisk's core sound set ("Please hold while I try to connect you").
FALLBACK_PROMPT = "sound:pls-hold-while-try"

class SosConference(IncidentRecords):
    """The conference of one incident: the actor that runs its calls."""

    def __init__(
        self,
        deps: SosDeps,
        client: AriClient,
        incident_id: str,
        *,
        kind: str = "sos",
        caller_number: str = "",
        device_id: str | None = None,
        started_at: datetime | None = None,
    ) -> None:
        super().__init__(deps, client, incident_id, kind=kind, caller_number=caller_number,
                         device_id=device_id, started_at=started_at)
        self.created = time.monotonic()
        self.most_parties = 0
        settings = deps.settings
        self.plan = SosPlan.build(
            incident_id,
            emergency_number=settings.sos_emergency_number,
            kin_at_once=settings.sos_kin_at_once,
            emergency_retries=settings.sos_emergency_retries,
            emergency_retry_delay=settings.sos_emergency_retry_delay,
        )
        self._inbox: asyncio.Queue[AriEvent | Callable[[], Awaitable[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
        self._prompt_playback: str | None = None
        self._announcing: dict[str, str] = {}  # playback id -> leg id
        self._escalations = 0
        self._bridged = asyncio.Event()
        self._recording = False
        self._prompt_fallback = False
        self.first_round_done = asyncio.Event()
        self.first_round_seconds: float | None = None
        self.done = asyncio.Event()
        self._changed = asyncio.Condition()

    # -- the actor ---------------------------------------------------------------------

    def start(self, first: Callable[[], Awaitable[None]]) -> None:
        """Run ``first`` then every inbox item, in order, on the conference's own task."""
        self._inbox.put_nowait(first)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sos-{self.id}")

    def post(self, item: AriEvent | Callable[[], Awaitable[None]]) -> None:
        """Queue an ARI event or a command for this incident."""
        if not self.done.is_set():
            self._inbox.put_nowait(item)

    async def _run(self) -> None:
        with bound_context(incident_id=self.id):
            try:
                self._after(MAX_LIFETIME, lambda: self._end("max_lifetime"))
                while self.status is IncidentStatus.ACTIVE:
                    item = await self._inbox.get()
                    try:
                        if isinstance(item, AriEvent):
                            await self._on_event(item)
                        else:
                            await item()
                    except Exception as err:  # noqa: BLE001 - one bad step must not drop the call
                        log.error("sos step failed", exc_info=err)
                        self._timeline("error", {"error": f"{err.__class__.__name__}: {err}"})
                    async with self._changed:
                        self._changed.notify_all()
            finally:
                for timer in self._timers:
                    timer.cancel()
                self.done.set()
                self.deps.forget(self)
                async with self._changed:
                    self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[SosConference], bool], within: float = 10.0
    ) -> None:
        """Wait until ``predicate`` holds after some step (for tests and the console)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def stop(self) -> None:
        """Stop handling (product shutdown); the call itself goes on in Asterisk."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _after(self, delay: float, command: Callable[[], Awaitable[None]]) -> None:
        async def fire() -> None:
            await self.deps.sleep(delay)
            self.post(command)

        timer = asyncio.get_running_loop().create_task(fire(), name=f"sos-{self.id}-timer")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    # -- starting ----------------------------------------------------------------------

    async def begin(self, channel_id: str, identify: Awaitable[ElderCard | None]) -> None:
        """Take the caller's channel in: 120 first, then answer, bridge, record, identify."""
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        caller = self.legs.setdefault(
            channel_id, Leg(channel_id, LegRole.ELDER, None, LegState.ANSWERED)
        )
        self._save()
        self._save_leg(caller)
        self._timeline("trigger", {"kind": self.kind, "device": self.device_id,
                                   "caller": self.caller_number})
        emergency = self._dial_all(self.plan.start())
        await asyncio.gather(
            emergency, self._answer_and_bridge(channel_id), self._identified(identify)
        )
        self.first_round_seconds = loop.time() - t0
        self.first_round_done.set()
        settings = self.deps.settings
        self._after(settings.sos_agent_after_seconds, self._escalate_to_agents)
        self._after(settings.sos_supervisor_after_seconds, self._escalate_to_supervisors)

    async def _answer_and_bridge(self, channel_id: str) -> None:
        await self.client.channels.answer(channel_id)
        await self._ensure_bridge()
        await self.client.bridges.add_channel(self.bridge_id, channel_id)
        self._bridged.set()
        # Recorded from the first second (B §5.10), before anybody else joins.
        await self._start_recording()
        await self._play_prompt()

    async def _start_recording(self) -> None:
        if self._recording:
            return
        self._recording = True
        try:
            await self.client.bridges.record(self.bridge_id, self.recording_name, format="wav")
            self._timeline("recording.started", {"name": self.recording_name})
        except AriError as err:
            self._timeline("recording.failed", {"error": err.message})
            self._alert("recording_failed", {"error": err.message})

    async def _ensure_bridge(self) -> None:
        try:
            await self.client.bridges.create("mixing", bridge_id=self.bridge_id,
                                             name=f"SOS {self.id}")
        except AriError as err:
            if err.status != 409:  # 409: it exists already (a double press, a restart)
                raise

    async def _identified(self, identify: Awaitable[ElderCard | None]) -> None:
        card = await identify
        if card is not None:
            other = self.deps.claim_elder(self, card.elder_id)
            if other is not None:  # pressed again from another phone: one conference only
                await self._merge_into(other)
                return
        self.card = card
        self.identified = card is not None
        if card is None:
            self._timeline("unidentified", {"caller": self.caller_number, "device": self.device_id})
        else:
            self._timeline("identified", {"elder_id": card.elder_id})
        self._save()
        self._publish("sos.started")
        await self._dial_all(self.plan.add_contacts(card.contacts if card else []))
        self._open_work_order()
        self._notify_contacts()

    # -- dialling ----------------------------------------------------------------------

    async def _dial_all(self, effects: list[Effect]) -> None:
        requests = []
        for effect in effects:
            if isinstance(effect, LegRequest):
                if effect.delay > 0:
                    self._after(effect.delay, lambda r=effect: self._dial(r))  # type: ignore[misc]
                else:
                    requests.append(self._dial(effect))
            elif isinstance(effect, RoleExhausted):
                self.exhausted.add(effect.role)
                self._timeline("role.exhausted", {"role": effect.role.value})
                self._alert("role_exhausted", {"role": effect.role.value})
            elif isinstance(effect, EmergencyUnreachable):
                self._timeline("emergency.unreachable",
                               {"attempt": effect.attempt, "retrying": effect.retrying})
                self._alert("emergency_unreachable",
                            {"attempt": effect.attempt, "retrying": effect.retrying})
        if requests:
            await asyncio.gather(*requests)

    def _dial_string(self, candidate: Candidate) -> str:
        settings = self.deps.settings
        if candidate.endpoint:
            return settings.endpoint_dial_template.format(endpoint=candidate.number)
        return settings.dial_template.format(number=candidate.number)

    async def _dial(self, request: LegRequest) -> None:
        if self.status is not IncidentStatus.ACTIVE:
            return
        candidate = request.candidate
        leg = Leg(request.leg_id, candidate.role, candidate)
        self.legs[leg.id] = leg
        self._save_leg(leg)
        self._timeline("leg.dialing", {"leg": leg.id, "role": leg.role.value, "name": candidate.name})
        try:
            await self.client.channels.originate(
                self._dial_string(candidate),
                app=self.deps.settings.ari_app,
                app_args=f"leg,{self.id},{leg.role.value}",
                channel_id=leg.id,
                caller_id=f"SOS <{self.deps.settings.sos_caller_id}>",
                timeout=self.deps.settings.sos_ring_timeout,
            )
        except AriError as err:
            await self._leg_failed(leg, None, f"originate refused: {err.message}")

    async def _leg_failed(self, leg: Leg, cause: int | None, text: str) -> None:
        if leg.state not in (LegState.DIALING, LegState.RINGING):
            return
        leg.move(LegState.FAILED)
        leg.cause, leg.cause_text, leg.ended_at = cause, text, utcnow()
        self._save_leg(leg)
        self._timeline("leg.failed", {"leg": leg.id, "role": leg.role.value, "cause": cause,
                                      "reason": text})
        if leg.role in (LegRole.AGENT, LegRole.SUPERVISOR):
            await self._maybe_end()
            return
        await self._dial_all(self.plan.failed(leg.id))
        await self._maybe_end()

    # -- ARI events --------------------------------------------------------------------

    async def _on_event(self, event: AriEvent) -> None:
        if isinstance(event, Dial):
            await self._on_dial(event)
        elif isinstance(event, StasisStart):
            await self._on_answered(event)
        elif isinstance(event, ChannelEnteredBridge):
            await self._on_entered(event)
        elif isinstance(event, ChannelLeftBridge | StasisEnd):
            await self._on_left(event.channel.id)
        elif isinstance(event, ChannelDestroyed):
            await self._on_destroyed(event)
        elif isinstance(event, PlaybackFinished):
            await self._on_playback_finished(event)
        elif isinstance(event, RecordingFinished):
            self._timeline("recording.finished", {"name": event.recording.name,
                                                  "duration": event.recording.duration})
        elif isinstance(event, RecordingFailed):
            self._timeline("recording.failed", {"name": event.recording.name,
                                                "cause": event.recording.cause})
            self._alert("recording_failed", {"cause": event.recording.cause})

    async def _on_dial(self, event: Dial) -> None:
        leg = self.legs.get(event.peer.id)
        if leg is None:
            return
        if event.dialstatus == "RINGING" and leg.state is LegState.DIALING:
            leg.move(LegState.RINGING)
            self._save_leg(leg)
            self._timeline("leg.ringing", {"leg": leg.id, "role": leg.role.value})
        elif event.dialstatus in _FAILED_DIAL:
            await self._leg_failed(leg, _FAILED_DIAL[event.dialstatus], event.dialstatus.lower())

    async def _on_answered(self, event: StasisStart) -> None:
        """A leg we dialled answered (or the elder pressed again: see ``add_caller``)."""
        leg = self.legs.get(event.channel.id)
        if leg is None or leg.candidate is None:
            return  # not a leg we dialled: the caller's own channel
        if leg.state not in (LegState.DIALING, LegState.RINGING):
            await self._hangup(leg.id)  # answered after we gave up on it
            return
        leg.move(LegState.ANSWERED)
        leg.answered_at = utcnow()
        self.first_answer_at = self.first_answer_at or leg.answered_at
        self._save_leg(leg)
        self._save()
        self._timeline("leg.answered", {"leg": leg.id, "role": leg.role.value})
        self.plan.answered(leg.id)
        await self._admit(leg)

    async def _admit(self, leg: Leg) -> None:
        """What an answered leg hears before it joins the conference."""
        if leg.role in (LegRole.AGENT, LegRole.SUPERVISOR, LegRole.ELDER):
            await self._join(leg)
            return
        # Responders first hear who is in trouble and where, then join.
        try:
            playback = await self.client.channels.play(leg.id, self.deps.settings.sos_announce_sound)
            self._announcing[playback.id] = leg.id
            self._after(_ANNOUNCE_TIMEOUT, lambda: self._join(leg))
        except AriError:
            await self._join(leg)

    async def _join(self, leg: Leg) -> None:
        if leg.state is not LegState.ANSWERED or self.status is not IncidentStatus.ACTIVE:
            return
        try:
            await self.client.bridges.add_channel(self.bridge_id, leg.id)
        except AriNotFound:
            await self._on_left(leg.id)

    async def _on_entered(self, event: ChannelEnteredBridge) -> None:
        if event.bridge.id != self.bridge_id or event.channel is None:
            return
        leg = self.legs.get(event.channel.id)
        if leg is None:
            return  # the hidden Recorder channel, or a stranger
        self.parties.add(leg.id)
        self.most_parties = max(self.most_parties, len(self.parties))
        if leg.state is not LegState.JOINED:
            leg.move(LegState.JOINED)
            self._save_leg(leg)
        self._timeline("joined", {"leg": leg.id, "role": leg.role.value,
                                  "parties": len(self.parties)})
        if leg.is_responder:
            self._prompt_playback = None  # somebody is with the elder: the prompt loop stops
        await self._start_recording()  # an alarm's conference records from its first party
        await self._maybe_end()  # e.g. a responder joining a call its caller already left

    async def _on_left(self, channel_id: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is None or leg.state in (LegState.LEFT, LegState.FAILED):
            return
        if leg.state in (LegState.DIALING, LegState.RINGING):
            return  # not ours to end here: ChannelDestroyed or Dial tells why it failed
        self.parties.discard(leg.id)
        leg.move(LegState.LEFT)
        leg.ended_at = utcnow()
        self.plan.ended(leg.id)
        self._save_leg(leg)
        self._timeline("left", {"leg": leg.id, "role": leg.role.value, "parties": len(self.parties)})
        await self._maybe_end()

    async def _on_destroyed(self, event: ChannelDestroyed) -> None:
        leg = self.legs.get(event.channel.id)
        if leg is None:
            return
        if leg.state in (LegState.DIALING, LegState.RINGING):
            await self._leg_failed(leg, event.cause, event.cause_txt)
        else:
            await self._on_left(leg.id)

    async def _on_playback_finished(self, event: PlaybackFinished) -> None:
        leg_id = self._announcing.pop(event.playback.id, None)
        if leg_id is not None:
            await self._join(self.legs[leg_id])
        elif event.playback.id == self._prompt_playback:
            if event.playback.state == "failed" and not self._prompt_fallback:
                # The product's own prompt is not installed on this Asterisk: fall back to a
                # sound every Asterisk ships rather than leave the elder in silence.
                self._prompt_fallback = True
                self._timeline("prompt.fallback", {"missing": event.playback.media_uri})
                log.warning("sos prompt missing on Asterisk; using the fallback prompt")
            self._after(_PROMPT_GAP, self._play_prompt)

    async def _play_prompt(self) -> None:
        """Keep the elder company until a responder joins: the calm prompt, over and over."""
        if self.status is not IncidentStatus.ACTIVE or self._responder_joined():
            self._prompt_playback = None
            return
        try:
            sound = FALLBACK_PROMPT if self._prompt_fallback else self.deps.settings.sos_prompt_sound
            playback = await self.client.bridges.play(self.bridge_id, sound)
            self._prompt_playback = playback.id
        except AriError as err:
            log.warning("sos prompt failed", error=err.message)
            self._after(_PROMPT_GAP * 3, self._play_prompt)

    def _responder_joined(self) -> bool:
        return any(self.legs[p].is_responder for p in self.parties if p in self.legs)

    # -- escalation --------------------------------------------------------------------

    def _answered_by_someone(self) -> bool:
        return any(leg.is_responder and leg.answered_at for leg in self.legs.values())

    async def _escalate_to_agents(self) -> None:
        if self._answered_by_someone():
            return
        await self._ring_on_duty(Role.AGENT)

    async def _escalate_to_supervisors(self) -> None:
        if self._answered_by_someone():
            return
        await self._ring_on_duty(Role.SUPERVISOR)
        # Nobody yet: keep ringing every minute while the elder waits (never alone).
        self._after(_REPEAT_ESCALATION, self._repeat_escalation)

    async def _repeat_escalation(self) -> None:
        if self._answered_by_someone() or self.status is not IncidentStatus.ACTIVE:
            return
        await self._ring_on_duty(Role.AGENT)
        await self._ring_on_duty(Role.SUPERVISOR)
        self._after(_REPEAT_ESCALATION, self._repeat_escalation)

    async def _ring_on_duty(self, role: Role) -> None:
        area = self.card.area_path if self.card else None
        try:
            staff = await self.deps.lookup_on_duty(role, area)
        except Exception as err:  # noqa: BLE001 - the store may be down: say so, go on
            log.warning("on-duty lookup failed", role=role.value, error=str(err))
            staff = []
        ringing = {
            leg.candidate.user_id
            for leg in self.legs.values()
            if leg.candidate and leg.state in _LIVE and leg.role.value == role.value
        }
        targets = [c for c in staff if c.user_id not in ringing]
        self._timeline("escalated", {"to": role.value, "count": len(targets)})
        self._alert("unanswered", {"to": role.value, "count": len(targets)})
        requests = []
        for candidate in targets:
            self._escalations += 1
            short = "a" if role is Role.AGENT else "v"
            requests.append(LegRequest(f"{self.id}-{short}{self._escalations}", candidate))
        await self._dial_all(list(requests))

    async def join_agent(self, candidate: Candidate, actor: str) -> str:
        """An agent clicked "join": ring their softphone into the conference."""
        self._escalations += 1
        request = LegRequest(f"{self.id}-a{self._escalations}", candidate)
        self._timeline("agent.join", {"user_id": candidate.user_id}, actor=actor)
        await self._dial(request)
        return request.leg_id

    # -- ending ------------------------------------------------------------------------

    async def _maybe_end(self) -> None:
        """The conference lives while at least two parties remain, or help is still coming."""
        if self.status is not IncidentStatus.ACTIVE:
            return
        if any(leg.state in _PENDING for leg in self.legs.values()) or len(self.parties) >= 2:
            return
        caller_here = any(
            leg.role is LegRole.ELDER and leg.state in _LIVE for leg in self.legs.values()
        )
        if not caller_here:
            # The caller is gone and nobody else is coming: nobody is left to talk to.
            if self._answered_by_someone():
                await self._end("completed")
            else:
                await self._end("caller_left_unanswered" if self.exhausted else "caller_left")
        elif self.most_parties >= 2:
            await self._end("completed")
        # Else the elder waits alone: never hung up on while nobody has talked with them;
        # escalation keeps ringing agents and supervisors.

    async def _end(self, outcome: str) -> None:
        if self.status is not IncidentStatus.ACTIVE:
            return
        self.status = IncidentStatus.ENDED
        self.outcome = outcome
        self.ended_at = utcnow()
        for leg in self.legs.values():
            if leg.state in _LIVE:
                await self._hangup(leg.id)
        try:
            await self.client.recordings.stop(self.recording_name)
        except AriError:
            pass  # a bridge recording stops by itself when its last channel leaves
        try:
            await self.client.bridges.destroy(self.bridge_id)
        except AriError:
            pass
        self._timeline("ended", {"outcome": outcome})
        self._save()
        self._publish("sos.ended")
        # The recording goes to the recordings store (B §5.10), keyed by its name.
        self.deps.notifier.publish(
            "recording.ready",
            {"name": self.recording_name, "node": self.client.node, "incident": self.id},
            self.card.area_path if self.card else None,
        )

    async def _hangup(self, channel_id: str) -> None:
        try:
            await self.client.channels.hangup(channel_id)
        except AriError:
            pass

    # -- double press, alerts, work order, notifications -------------------------------

    async def add_caller(self, channel_id: str) -> None:
        """The elder pressed again: the new call joins this conference, nothing restarts."""
        caller = Leg(channel_id, LegRole.ELDER, None, LegState.ANSWERED)
        self.legs[channel_id] = caller
        self._save_leg(caller)
        self._timeline("double_press", {"channel": channel_id})
        await self.client.channels.answer(channel_id)
        await self.client.bridges.add_channel(self.bridge_id, channel_id)

    async def note_alarm(self, kind: str, device_id: str | None, detail: dict[str, Any]) -> None:
        """Another alarm for the same elder while this incident is open: on its timeline."""
        self._timeline("alarm", {"kind": kind, "device": device_id, "alarm": detail})

    async def _merge_into(self, other: SosConference) -> None:
        """Hand this incident's caller to ``other`` and end this one as merged."""
        try:
            async with asyncio.timeout(5):
                await self._bridged.wait()  # so our own add_channel cannot undo the move
        except TimeoutError:
            pass
        callers = [leg.id for leg in self.legs.values()
                   if leg.role is LegRole.ELDER and leg.state in _LIVE]
        for channel_id in callers:
            self.legs.pop(channel_id)
            self.parties.discard(channel_id)
            other.post(lambda c=channel_id: other.add_caller(c))  # type: ignore[misc]
        self._timeline("merged", {"into": other.id})
        await self._end("merged")

    async def reconcile(self) -> None:
        """After a (re)connect: settle what happened while Asterisk could not tell us.

        Asterisk 22 replays nothing to a reconnected app, so the bridge and each live
        leg are read afresh (the resync listing may predate this conference's own steps).
        """
        if not self._bridged.is_set():
            return  # still starting: its own steps will create and fill the bridge
        try:
            members = set((await self.client.bridges.get(self.bridge_id)).channels)
        except AriNotFound:
            self._timeline("bridge.lost", {})
            await self._end("bridge_lost")
            return
        gone = []
        for leg in list(self.legs.values()):
            if leg.state is LegState.JOINED:
                if leg.id not in members:
                    gone.append(leg.id)
            elif leg.state in (LegState.DIALING, LegState.RINGING, LegState.ANSWERED):
                if not await self._exists(leg.id):
                    gone.append(leg.id)
                elif leg.state is LegState.ANSWERED and leg.candidate is not None:
                    await self._join(leg)  # it was hearing the announcement
        self._timeline("resynced", {"parties": len(self.parties), "gone": len(gone)})
        # Events already on their way (a Dial BUSY, a ChannelDestroyed with its cause) are
        # queued behind this step: let them tell why first, then settle what is left.
        self.post(lambda: self._settle_gone(gone))

    async def _settle_gone(self, leg_ids: list[str]) -> None:
        for leg_id in leg_ids:
            leg = self.legs[leg_id]
            if leg.state in (LegState.DIALING, LegState.RINGING):
                await self._leg_failed(leg, None, "gone while disconnected")
            elif leg.state in (LegState.ANSWERED, LegState.JOINED):
                await self._on_left(leg_id)
        await self._maybe_end()

    async def _exists(self, channel_id: str) -> bool:
        try:
            await self.client.channels.get(channel_id)
        except AriNotFound:
            return False
        return True

    def restore(self, card: ElderCard | None, legs: list[Leg], bridge_channels: set[str],
                first_answer_at: datetime | None) -> None:
        """Rebuild the state of a conference the product left behind when it stopped."""
        self.card = card
        self.identified = card is not None
        self.first_answer_at = first_answer_at
        self.plan.add_tracks(card.contacts if card else [])
        for leg in legs:
            self.legs[leg.id] = leg
            if leg.state is LegState.JOINED and leg.id in bridge_channels:
                self.parties.add(leg.id)
        self._escalations = sum(
            1 for leg in legs if leg.role in (LegRole.AGENT, LegRole.SUPERVISOR)
        )
        ever_joined = sum(1 for leg in legs if leg.state in (LegState.JOINED, LegState.LEFT))
        self.most_parties = max(len(self.parties), ever_joined)
        for role, track in self.plan.roles.items():
            mine = [leg for leg in legs if leg.role is role]
            live = {leg.id: leg.candidate for leg in mine
                    if leg.state in _LIVE and leg.candidate is not None}
            satisfied = any(leg.answered_at for leg in mine)
            tried = len(mine)
            exhausted = not live and not satisfied and tried >= len(track.candidates) + track.retries
            self.plan.restore(role, tried, live, satisfied, exhausted)
            if exhausted:
                self.exhausted.add(role)
        self._bridged.set()

    async def dial_untried(self) -> None:
        """After a restore: dial the roles the previous run never got to (an alarm's roles
        wait for the elder's callback, a restart may fall in between)."""
        effects: list[Effect] = []
        for track in self.plan.roles.values():
            if track.attempts == 0 and not track.exhausted and not track.satisfied:
                effects.extend(track.fill(self.id))
        if effects:
            self._timeline("dial.roles", {"reason": "restored"})
            await self._dial_all(effects)

    def resume_timers(self) -> None:
        """Re-arm the escalation timers, counted from the incident's start."""
        elapsed = (utcnow() - self.started_at).total_seconds()
        settings = self.deps.settings
        self._after(max(0.0, settings.sos_agent_after_seconds - elapsed), self._escalate_to_agents)
        self._after(max(0.0, settings.sos_supervisor_after_seconds - elapsed),
                    self._escalate_to_supervisors)
        self.first_round_done.set()





