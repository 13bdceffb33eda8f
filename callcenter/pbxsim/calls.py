"""Outbound legs, dialling and hangups, with the event orders real Asterisk 22 produces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from callcenter.pbxsim.model import Model
from callcenter.pbxsim.objects import CallerId, Channel
from callcenter.pbxsim.people import Directory, Person, dialplan_person, extension_exists

DEFAULT_ORIGINATE_TIMEOUT = 30.0


class EndpointError(Exception):
    """An endpoint that cannot be dialled; ``status``/``body`` are ARI's answer."""

    def __init__(self, status: int, body: dict[str, str]) -> None:
        super().__init__(body)
        self.status = status
        self.body = body


@dataclass
class Target:
    """A parsed dial string."""

    tech: str
    resource: str  # what follows the technology, e.g. ``busy@people/n``
    context: str = ""
    exten: str = ""
    number: str = ""
    trunk: str = ""

    @property
    def dialstring(self) -> str:
        """The dial string as Dial events show it (without the technology)."""
        return self.resource


def parse_endpoint(endpoint: str, directory: Directory) -> Target:
    """Parse ``Local/x@ctx[/n]`` or ``PJSIP/number[@trunk]`` like ARI's originate does."""
    if not endpoint:
        raise EndpointError(400, {"message": "Endpoint must be specified"})
    tech, sep, resource = endpoint.partition("/")
    if not sep or not resource:
        raise EndpointError(400, {"message": "Invalid endpoint specified"})
    if tech == "Local":
        exten, _, rest = resource.partition("@")
        context = rest.split("/", 1)[0] or "default"
        return Target("Local", resource, context=context, exten=exten)
    if tech == "PJSIP":
        number, _, trunk = resource.partition("@")
        if not trunk and number in directory.unregistered:
            raise EndpointError(500, {"error": "Allocation failed"})
        if not trunk and number not in directory.by_number:
            raise EndpointError(500, {"error": "Allocation failed"})
        return Target("PJSIP", resource, number=number, trunk=trunk or number)
    raise EndpointError(500, {"error": "Allocation failed"})


@dataclass
class Leg:
    """An outbound leg: the channel handed back (``;1`` or PJSIP) and its far end."""

    ch: Channel
    target: Target
    far: Channel | None  # the ``;2`` half running the person's dialplan (Local only)
    person: Person | None
    caller: Channel | None = None  # the dialling channel (queue caller), if any
    answered: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    on_answer: Callable[[Leg], None] | None = None
    outcome: str = ""


class Calls:
    """Creates legs and plays scripted people on them."""

    def __init__(self, model: Model, directory: Directory) -> None:
        self.model = model
        self.clock = model.clock
        self.directory = directory
        self.detach_hooks: list[Callable[[Channel], None]] = []

    # --- creating legs ------------------------------------------------------------------
    def new_leg(self, target: Target, *, caller_id: CallerId | None = None,
                channel_id: str | None = None, other_id: str | None = None,
                linkedid: str | None = None, app_name: str = "AppDial2") -> Leg:
        """Allocate the channel(s) of an outbound leg (no events beyond Newchannel)."""
        m = self.model
        if target.tech == "Local":
            suffix = m.local_suffix()
            base = f"Local/{target.exten}@{target.context}-{suffix}"
            one = m.new_channel(f"{base};1", "Local", state="Down", context=target.context,
                                exten=target.exten, linkedid=linkedid)
            two = m.new_channel(f"{base};2", "Local", state="Ring", context=target.context,
                                exten=target.exten, linkedid=linkedid or one.id)
            self._rename(one, channel_id)
            self._rename(two, other_id)
            one.partner, two.partner, one.half, two.half = two, one, 1, 2
            one.app_name, one.app_data = app_name, "(Outgoing Line)"
            if caller_id is not None and (caller_id.name or caller_id.number):
                one.caller = CallerId(caller_id.name, caller_id.number)
                one.connected = CallerId(caller_id.name, caller_id.number)
            person = dialplan_person(target.context, target.exten)
            return Leg(one, target, two, person)
        name = f"PJSIP/{target.trunk}-{m.tech_suffix('PJSIP')}"
        ch = m.new_channel(name, "PJSIP", state="Down", context="default", exten="s",
                           linkedid=linkedid)
        self._rename(ch, channel_id)
        ch.app_name, ch.app_data = app_name, "(Outgoing Line)"
        if caller_id is not None:
            ch.caller = CallerId(caller_id.name, caller_id.number)
        ch.connected = CallerId("", target.number)
        return Leg(ch, target, None, self.directory.person(target.number))

    def _rename(self, ch: Channel, new_id: str | None) -> None:
        if new_id and new_id not in self.model.channels:
            self.model.channels.pop(ch.id)
            ch.id = new_id
            if ch.partner is None and ch.linkedid != new_id and ch.half != 2:
                ch.linkedid = new_id
            self.model.channels[new_id] = ch

    # --- the far end ----------------------------------------------------------------------
    async def run_leg(self, leg: Leg, ring_limit: float) -> str:
        """Dial the leg: Dial events, the person's script, the timeout; returns the outcome."""
        m = self.model
        ch, far, person = leg.ch, leg.far, leg.person
        if far is not None and leg.caller is None and far.caller.number == "" and ch.caller.number:
            m.set_caller(far, ch.caller)
        m.dial_event(ch, "", leg.target.dialstring, leg.caller)
        if far is not None and person is None and not extension_exists(far.context, far.exten):
            # No such extension: the ;2 half dies at once, cause 0 on both halves.
            self._destroy_pair(leg, 0, 0)
            leg.outcome = "FAILED"
            return leg.outcome
        if person is None:
            person = Person(behaviour="answer", hangup_after=None)
        timer = m.spawn(self._timeout(leg, ring_limit))
        try:
            await self._play_person(leg, person)
            return await leg.answered
        finally:
            timer.cancel()

    async def _timeout(self, leg: Leg, ring_limit: float) -> None:
        await self.clock.sleep(ring_limit)
        if not leg.answered.done():
            self.no_answer(leg)

    async def _play_person(self, leg: Leg, person: Person) -> None:
        m, ch, far = self.model, leg.ch, leg.far
        dp = far is not None and person.dialplan_apps
        if person.behaviour in ("busy", "congestion"):
            app, data, cause, status = (("Busy", "10", 17, "BUSY") if person.behaviour == "busy"
                                        else ("Congestion", "5", 34, "CONGESTION"))
            if dp and far is not None:
                m.dialplan(far, app, data)
            m.set_state(far or ch, "Busy")
            self.fail(leg, status, cause)
            return
        if person.ring_seconds > 0 or person.behaviour == "noanswer":
            if dp and far is not None:
                m.dialplan(far, "Ringing")
            m.set_state(ch, "Ringing")
            if dp and far is not None:
                wait = person.ring_seconds if person.behaviour == "answer" else 60
                m.dialplan(far, "Wait", f"{wait:g}")
            m.dial_event(ch, "RINGING", leg.target.dialstring, leg.caller)
            if person.behaviour == "noanswer":
                await self.clock.sleep(person.ring_seconds or 60)
                if not leg.answered.done():
                    self.hangup(far or ch, 16)
                return
            await self.clock.sleep(person.ring_seconds)
        if leg.answered.done() or ch.gone:
            return
        if dp and far is not None:
            m.dialplan(far, "Answer")
        if far is not None:
            m.set_state(far, "Up")
        m.set_state(ch, "Up")
        m.dial_event(ch, "ANSWER", leg.target.dialstring, leg.caller)
        leg.outcome = "ANSWER"
        leg.answered.set_result("ANSWER")
        if leg.on_answer is not None:
            leg.on_answer(leg)
        hangup_at = person.hangup_after
        if dp and far is not None and hangup_at is not None:
            m.dialplan(far, "Wait", f"{hangup_at:g}")
        target = far or ch
        target.task = m.spawn(self._after_answer(leg, person, target))

    async def _after_answer(self, leg: Leg, person: Person, target: Channel) -> None:
        elapsed = 0.0
        press_at = person.dtmf_after if person.dtmf else None
        hangup_at = person.hangup_after
        while press_at is not None:  # the first press comes even after the hang-up's time
            await self.clock.sleep(max(0.0, press_at - elapsed))
            if leg.ch.gone:
                return
            elapsed = press_at
            for digit in person.dtmf:
                self.dtmf(leg.ch, digit)
            press_at = elapsed + person.dtmf_again if person.dtmf_again else None
            if press_at is not None and hangup_at is not None and press_at >= hangup_at:
                press_at = None
        if hangup_at is not None:
            await self.clock.sleep(max(0.0, hangup_at - elapsed))
            if person.dialplan_apps and leg.far is not None:
                self.model.dialplan(leg.far, "Hangup")
            self.hangup(target, 16)

    def dtmf(self, ch: Channel, digit: str, duration_ms: int = 100) -> None:
        """The far end presses a key (ChannelDtmfReceived / DTMFEnd)."""
        self.model.channel_event("ChannelDtmfReceived", ch, "DTMFEnd",
                                 {"Digit": digit, "DurationMs": str(duration_ms),
                                  "Direction": "Received"},
                                 digit=digit, duration_ms=duration_ms)

    def fail(self, leg: Leg, status: str, cause: int) -> None:
        """Busy or congestion: Dial status, then the far half dies (``;1`` too unless in Stasis)."""
        m, ch, far = self.model, leg.ch, leg.far
        m.dial_event(ch, status, leg.target.dialstring, leg.caller)
        ch.disposition = status
        if far is not None:
            far.disposition = status
        leg.outcome = status
        if not leg.answered.done():
            leg.answered.set_result(status)
        if ch.stasis_app is not None:
            # After BUSY/CONGESTION a /channels/create channel stays in Stasis, state Down.
            if far is not None:
                ch.partner = None
                far.partner = None
                m.destroy(far, cause)
            ch.state = "Down"
            return
        if far is not None:
            m.hangup_request(far, 0)
            m.destroy(ch, 0)
            m.hangup_request(far, 16, soft=True)
            m.destroy(far, cause)
        else:
            m.destroy(ch, cause)

    def no_answer(self, leg: Leg) -> None:
        """The dial timeout expired: no NOANSWER Dial event, cause 19."""
        m, ch, far = self.model, leg.ch, leg.far
        leg.outcome = "NOANSWER"
        ch.disposition = "NO ANSWER"
        if far is not None:
            far.disposition = "NO ANSWER"
        if not leg.answered.done():
            leg.answered.set_result("NOANSWER")
        if leg.caller is not None:
            m.dial_event(ch, "NOANSWER", "", leg.caller)
        if ch.stasis_app is not None:
            self.hangup(ch, 19, request=32, soft=True)
            return
        if far is not None:
            m.hangup_request(far, 19)
            self.detach(ch)
            m.destroy(ch, 19)
            m.hangup_request(far, 16, soft=True)
            self.detach(far)
            m.destroy(far, 19)
        else:
            m.destroy(ch, 19)

    def cancel(self, leg: Leg, statuses: tuple[str, ...] = ("CANCEL",)) -> None:
        """The caller gave up while this leg rang: a DialEnd per status, cause 0.

        app_queue sends more than one DialEnd for one leg (22.10.1): CANCEL twice when the
        caller abandons, NOANSWER then CANCEL when the ring timeout ends the attempt.
        """
        m, ch, far = self.model, leg.ch, leg.far
        if leg.answered.done() or ch.gone:
            return
        leg.outcome = "CANCEL"
        leg.answered.set_result("CANCEL")
        for status in statuses:
            m.dial_event(ch, status, "", leg.caller)
        if far is not None:
            far.disposition = "FAILED"
        self._destroy_pair(leg, 0, 0)

    def _destroy_pair(self, leg: Leg, cause1: int, cause2: int) -> None:
        m = self.model
        if leg.far is not None and not leg.far.gone:
            m.destroy(leg.ch, cause1)
            m.destroy(leg.far, cause2)
        else:
            m.destroy(leg.ch, cause1)
        if not leg.answered.done():
            leg.answered.set_result(leg.outcome or "FAILED")

    # --- hangups ------------------------------------------------------------------------
    def detach(self, ch: Channel) -> None:
        """Take a dying channel out of bridges, media and Stasis."""
        for hook in list(self.detach_hooks):
            hook(ch)
        self.model.leave_bridge(ch)
        self.model.stasis_end(ch)

    def hangup(self, ch: Channel, cause: int = 16, *, request: int | None = None,
               soft: bool = False) -> None:
        """Hang a channel up, with its Local partner, in Asterisk's event order."""
        m = self.model
        if ch.gone:
            return
        if request is not None:
            m.hangup_request(ch, request, soft)
        partner = ch.partner if ch.partner is not None and not ch.partner.gone else None
        self.detach(ch)
        if partner is None:
            m.destroy(ch, cause)
            return
        if ch.half == 1:
            m.hangup_request(partner, cause)
            m.destroy(ch, cause)
            m.hangup_request(partner, 16, soft=True)
            self.detach(partner)
            m.destroy(partner, cause)
        else:
            m.hangup_request(partner, cause)
            self.detach(partner)
            m.destroy(partner, cause)
            m.destroy(ch, cause)
