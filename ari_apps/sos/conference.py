"""One SOS incident's conference: its bridge, its legs, its timers, its timeline.

The conference is an actor (``actor.py``): ARI events and commands for the incident go
through one inbox, handled in order by one owned task, so its state never races. This
module starts it, dials its legs and ends it; its legs' events (``legs.py``), the
escalation to staff on duty (``escalation.py``) and its restoration after a reconnect or
restart (``restore.py``) are parts of the same class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any, cast

from ari_apps.sos.actor import LIVE, MAX_LIFETIME, PENDING
from ari_apps.sos.control import Control
from ari_apps.sos.directory import ElderCard
from ari_apps.sos.escalation import Escalation
from ari_apps.sos.incident import Leg
from ari_apps.sos.legs import FALLBACK_PROMPT, LegEvents
from ari_apps.sos.models import IncidentStatus, LegRole, LegState
from ari_apps.sos.plan import (
    Candidate,
    Effect,
    EmergencyUnreachable,
    LegRequest,
    RoleExhausted,
)
from ari_apps.sos.restore import Restoration
from callcenter.asterisk import AriError, Channel
from callcenter.logs import get_logger
from callcenter.store.models import utcnow

log = get_logger(__name__)


class CallerLost(Exception):
    """The caller's channel could not be answered or bridged."""


__all__ = ["FALLBACK_PROMPT", "MAX_LIFETIME", "SosConference"]

#: The longest the recording, the prompt and the first rows wait for the first round.
FIRST_ROUND_GRACE = 0.05
#: The longest a lost caller's start waits for the originates still on their way before
#: hanging their legs up (the REST client gives up on a request after 10 s).
ORIGINATE_WAIT = 11.0


class SosConference(LegEvents, Escalation, Restoration, Control):
    """The conference of one incident: the actor that runs its calls."""

    _launched: tuple[asyncio.Future[None], asyncio.Future[None],
                     list[tuple[Leg, asyncio.Future[Channel]]]] | None = None

    # -- starting ----------------------------------------------------------------------

    async def begin(self, channel_id: str, identify: Awaitable[ElderCard | None]) -> None:
        """Take the caller's channel in: 120 first, then answer, bridge, record, identify.

        Answering and bridging the caller and dialling the roles into that bridge make
        sense only together: if the caller cannot be answered or the bridge made (gone
        already, a 5xx from ARI), no role is dialled; if the caller's entry into the bridge
        fails after the roles were rung, every one of them is hung up. Either way 120
        (dialled first, for speed) is hung up too, and the incident ends as
        ``caller_lost``: agents are alerted and the elder called back.
        """
        loop = asyncio.get_running_loop()
        t0, pressed = loop.time(), utcnow()
        if self._launched is None:
            self.launch(channel_id)
        assert self._launched is not None
        answering, bridging, first = self._launched
        self._hold_updates()
        caller = self.legs.setdefault(
            channel_id, Leg(channel_id, LegRole.ELDER, None, LegState.ANSWERED)
        )
        # The incident's row first (every later row hangs on it), and durable from the
        # first moment (a crash now); the rest of the bookkeeping waits for the first round.
        self.deps.recorder.opened(self.row())
        self._save()
        self._save_leg(caller)
        emergency = loop.create_task(self._settle(first))
        lookup = asyncio.ensure_future(identify)
        lost: CallerLost | None = None
        try:
            async with asyncio.TaskGroup() as start:
                start.create_task(self._answer_and_bridge(channel_id, answering, bridging))
                start.create_task(self._identified(asyncio.shield(lookup)))
                await self._after_first_round()
                self._timeline("trigger", {"kind": self.kind, "device": self.device_id,
                                           "caller": self.caller_number}, at=pressed)
        except* CallerLost as group:
            lost = cast("CallerLost", group.exceptions[0])
        if lost is not None:
            # Let 120's originate complete before hanging it up: a request cut short could
            # still ring 120 for a call that no longer exists.
            await asyncio.gather(emergency, return_exceptions=True)
            await self._caller_lost(str(lost), await lookup)
            self.first_round_done.set()
            return
        await emergency
        self.first_round_seconds = loop.time() - t0
        self.first_round_done.set()
        self._arm_escalation()

    def launch(self, channel_id: str) -> None:
        """The first requests of a start: the caller's answer, the bridge and 120's
        originate leave on the loop's next turn, each started here (before ``begin`` runs on
        the conference's task) rather than from a task of its own: a turn of the loop saved
        on each of the elder's paths. Nothing is recorded here; ``begin`` does it."""
        self._launched = (asyncio.ensure_future(self.client.channels.answer(channel_id)),
                          asyncio.ensure_future(self._ensure_bridge()),
                          self._send(self.plan.start()))

    async def _answer_and_bridge(self, channel_id: str, answering: Awaitable[None],
                                 bridging: Awaitable[None]) -> None:
        # The bridge does not need the answer, nor does the caller's entry into it: the
        # caller goes in as soon as the bridge exists (Asterisk runs a channel's commands in
        # the order they came, the answer first). The roles are rung once the answer has
        # succeeded and the bridge exists, without waiting for the caller's entry (a round
        # trip more); if that entry then fails, ``_caller_lost`` hangs every role up.
        async def caller_in() -> None:
            await bridging
            await self.client.bridges.add_channel(self.bridge_id, channel_id)

        adding = asyncio.ensure_future(caller_in())
        ready = await asyncio.gather(answering, bridging, return_exceptions=True)
        if any(isinstance(outcome, BaseException) for outcome in ready):
            # The add is not cut short: it is answered (refused, most likely) before the
            # incident ends and its bridge goes.
            self._caller_taken_in([*ready, *await asyncio.gather(adding, return_exceptions=True)])
        self._ringable.set()
        self._caller_taken_in(await asyncio.gather(adding, return_exceptions=True))
        self._bridged.set()
        await self._after_first_round()
        # Recorded from the first second (B §5.10), before anybody else joins.
        await self._start_recording()
        await self._play_prompt()

    @staticmethod
    def _caller_taken_in(outcomes: Sequence[object]) -> None:
        """Raise ``CallerLost`` for the first of ``outcomes`` that failed."""
        try:
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
        except (AriError, TimeoutError, OSError) as err:
            raise CallerLost(getattr(err, "message", None) or repr(err)) from err

    async def _after_first_round(self) -> None:
        """Wait until the first round's originates are out, FIRST_ROUND_GRACE at most.

        The fan-out is the elder's time: the recording, the prompt and the rows need a
        few milliseconds less than the requests that ring people, and take them after.
        """
        try:
            async with asyncio.timeout(FIRST_ROUND_GRACE):
                await self._first_round_out.wait()
        except TimeoutError:
            pass

    async def _caller_lost(self, reason: str, card: ElderCard | None) -> None:
        """The caller could not be taken in: nobody is dialled into a conference that
        never was; an SOS that drops is still an alarm (agents alerted, elder called back)."""
        log.warning("sos caller lost before the conference began", reason=reason)
        self.card = card
        self.identified = card is not None
        self._timeline("caller.lost", {"reason": reason, "callback": card is not None})
        # Roles rung before the caller's entry into the bridge failed: every originate
        # still on its way is let complete first (one cut short could still ring someone
        # for a call that no longer exists), then every leg is hung up.
        in_flight = list(self._originating.values())
        if in_flight:
            await asyncio.wait(in_flight, timeout=ORIGINATE_WAIT)
            for originate in in_flight:  # a refusal is no news here: its leg is ended below
                if originate.done() and not originate.cancelled():
                    originate.exception()
        for leg in list(self.legs.values()):
            if leg.is_responder and leg.state in LIVE:
                leg.move(LegState.FAILED)
                leg.cause_text, leg.ended_at = "caller lost", utcnow()
                self._save_leg(leg)
                await self._hangup(leg.id)
        self._alert("caller_lost", {"reason": reason, "callback": card is not None})
        await self._end("caller_lost")
        if card is not None and self.deps.call_back is not None:
            self.deps.call_back(self, card)

    async def _start_recording(self) -> None:
        if self._recording:
            return
        self._recording = True
        try:
            await self.client.bridges.record(self.bridge_id, self.recording_name, format="wav")
            self._timeline("recording.started", {"name": self.recording_name})
        except AriError as err:
            if err.status == 409:
                # "already exists": a restarted product finds the recording it started
                # before still running on the bridge; it goes on, nothing failed.
                self._timeline("recording.continued", {"name": self.recording_name})
                return
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
        try:
            await self._identify_and_dial(identify)
        finally:
            # The first round is out (or cannot be): what waited for it goes on, and the
            # console hears of the incident, now with the elder's area as its audience.
            self._first_round_out.set()
            self._release_updates()

    async def _identify_and_dial(self, identify: Awaitable[ElderCard | None]) -> None:
        card = await identify
        if card is not None:
            other = self.deps.claim_elder(self, card.elder_id)
            if other is not None:  # pressed again from another phone: one conference only
                await self._merge_into(other)
                return
        self.card = card
        self.identified = card is not None
        try:
            # Only into a bridge that exists, to a caller whose answer succeeded (see
            # ``begin``); the caller's entry into the bridge is not waited for.
            await self._ringable.wait()
            sent = self._send(self.plan.add_contacts(card.contacts if card else []))
            if sent:
                await asyncio.sleep(0)  # their requests leave on this turn, before the rows
        finally:
            # Written once the requests that ring people have left (the fan-out is the
            # elder's time), or at once when the caller is lost meanwhile.
            if card is None:
                self._timeline("unidentified",
                               {"caller": self.caller_number, "device": self.device_id})
            else:
                self._timeline("identified", {"elder_id": card.elder_id})
            self._save()
            self._publish("sos.started")
        await self._settle(sent)
        # The work order and the contacts' messages are for a call that was taken in: a
        # caller lost at the bridge gets the callback's (``_caller_lost``) instead.
        await self._bridged.wait()
        self._open_work_order()
        self._notify_contacts()

    # -- dialling ----------------------------------------------------------------------

    async def _dial_all(self, effects: list[Effect]) -> None:
        await self._settle(self._send(effects))

    def _send(self, effects: list[Effect]) -> list[tuple[Leg, asyncio.Future[Channel]]]:
        """Act on the plan's effects: every originate due now is started (its request
        leaves on the loop's next turn); ``_settle`` does the bookkeeping and awaits them."""
        sent = []
        for effect in effects:
            if isinstance(effect, LegRequest):
                if effect.delay > 0:
                    self._after(effect.delay, lambda r=effect: self._dial(r))  # type: ignore[misc]
                elif self.status is IncidentStatus.ACTIVE:
                    sent.append(self._originate(effect))
            elif isinstance(effect, RoleExhausted):
                self.exhausted.add(effect.role)
                self._timeline("role.exhausted", {"role": effect.role.value})
                self._alert("role_exhausted", {"role": effect.role.value})
            elif isinstance(effect, EmergencyUnreachable):
                self._timeline("emergency.unreachable",
                               {"attempt": effect.attempt, "retrying": effect.retrying})
                self._alert("emergency_unreachable",
                            {"attempt": effect.attempt, "retrying": effect.retrying})
        return sent

    def _originate(self, request: LegRequest) -> tuple[Leg, asyncio.Future[Channel]]:
        candidate = request.candidate
        leg = Leg(request.leg_id, candidate.role, candidate)
        self.legs[leg.id] = leg
        originate = asyncio.ensure_future(self.client.channels.originate(
            self._dial_string(candidate),
            app=self.deps.settings.ari_app,
            app_args=f"leg,{self.id},{leg.role.value}",
            channel_id=leg.id,
            caller_id=f"SOS <{self.deps.settings.sos_caller_id}>",
            timeout=self.deps.settings.sos_ring_timeout,
        ))
        # Known until it is answered, whatever awaits it: a start cut short by a lost
        # caller waits for it before hanging its leg up (``_caller_lost``).
        self._originating[leg.id] = originate

        def answered(_: object, leg_id: str = leg.id) -> None:
            self._originating.pop(leg_id, None)

        originate.add_done_callback(answered)
        return leg, originate

    async def _settle(self, sent: list[tuple[Leg, asyncio.Future[Channel]]]) -> None:
        """The legs' rows once their requests are out (the fan-out of a whole round is on
        the elder's time; its events wait in the inbox until this step ends), then their
        outcomes: a refused originate fails its leg (the next contact is dialled)."""
        if not sent:
            return
        await asyncio.sleep(0)  # let them start sending
        for leg, _ in sent:
            self._save_leg(leg)
            self._timeline("leg.dialing", {"leg": leg.id, "role": leg.role.value,
                                           "name": leg.candidate.name if leg.candidate else ""})

        async def outcome(leg: Leg, originate: asyncio.Future[Channel]) -> None:
            try:
                # Shielded: a step cancelled meanwhile (the start's TaskGroup, when the
                # caller is lost) must not cut the request short; it completes, is awaited
                # by ``_caller_lost`` and its leg hung up.
                await asyncio.shield(originate)
            except AriError as err:
                await self._leg_failed(leg, None, f"originate refused: {err.message}")

        await asyncio.gather(*(outcome(leg, originate) for leg, originate in sent))

    def _dial_string(self, candidate: Candidate) -> str:
        settings = self.deps.settings
        if candidate.endpoint:
            return settings.endpoint_dial_template.format(endpoint=candidate.number)
        return settings.dial_template.format(number=candidate.number)

    async def _dial(self, request: LegRequest) -> None:
        """Dial one leg now (a delayed request's time has come, an agent is rung)."""
        if self.status is IncidentStatus.ACTIVE:
            await self._settle([self._originate(request)])

    async def _leg_failed(self, leg: Leg, cause: int | None, text: str) -> None:
        if leg.state not in (LegState.DIALING, LegState.RINGING) and not self._awaiting_key(leg):
            return  # a leg that never pressed its key counts as one that never answered
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

    # -- ending ------------------------------------------------------------------------

    async def _maybe_end(self) -> None:
        """The conference lives while at least two parties remain, or help is still coming."""
        if self.status is not IncidentStatus.ACTIVE:
            return
        caller_here = any(
            leg.role is LegRole.ELDER and leg.state in LIVE for leg in self.legs.values()
        )
        elder_left = any(
            leg.role is LegRole.ELDER and leg.state is LegState.LEFT for leg in self.legs.values()
        )
        if not caller_here and elder_left and self.most_parties >= 2 and len(self.parties) <= 1:
            # The elder talked with somebody, then left, and so did the others: whoever still
            # rings (a contact, a staff member) would answer into an empty call.
            await self._end("completed")
            return
        if any(leg.state in PENDING for leg in self.legs.values()) or len(self.parties) >= 2:
            return
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
        self.deps.disarm(self.id)
        for leg in self.legs.values():
            if leg.state in LIVE:
                await self._hangup(leg.id)
                self._close_leg(leg)
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

    def _close_leg(self, leg: Leg) -> None:
        """Record a leg the end hung up (no event about it is handled any more)."""
        if leg.state in (LegState.DIALING, LegState.RINGING):
            leg.move(LegState.FAILED)
            leg.cause, leg.cause_text = 16, "incident ended"
        else:
            leg.move(LegState.LEFT)
        leg.ended_at = utcnow()
        self.parties.discard(leg.id)
        self._save_leg(leg)

    async def _hangup(self, channel_id: str) -> None:
        try:
            await self.client.channels.hangup(channel_id)
        except AriError:
            pass

    # -- double press, alarms ----------------------------------------------------------

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
                   if leg.role is LegRole.ELDER and leg.state in LIVE]
        for channel_id in callers:
            self.legs.pop(channel_id)
            self.parties.discard(channel_id)
            other.post(lambda c=channel_id: other.add_caller(c))  # type: ignore[misc]
        self._timeline("merged", {"into": other.id})
        await self._end("merged")
