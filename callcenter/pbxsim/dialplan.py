"""Originate, create/dial, snoop and the traces' dialplan entry points."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from callcenter.pbxsim.calls import DEFAULT_ORIGINATE_TIMEOUT, Calls, Leg, Target, parse_endpoint
from callcenter.pbxsim.model import Model
from callcenter.pbxsim.objects import CallerId, Channel
from callcenter.pbxsim.people import HOTLINE_CONTEXTS, extension_exists

if TYPE_CHECKING:
    from callcenter.pbxsim.agi import AgiClient
    from callcenter.pbxsim.queues import Queues


def parse_caller_id(value: str) -> CallerId:
    """``Elder <7001>`` → name Elder, number 7001."""
    value = value.strip()
    if "<" in value and value.endswith(">"):
        name, _, number = value[:-1].partition("<")
        return CallerId(name.strip().strip('"'), number.strip())
    return CallerId("", value) if value.replace("+", "").isdigit() else CallerId(value, "")


@dataclass
class OriginateRequest:
    """What ARI POST /channels or AMI Originate asks for."""

    endpoint: str
    app: str = ""
    app_args: list[str] | None = None
    context: str = ""
    exten: str = ""
    priority: int = 1
    application: str = ""  # AMI Application=Wait
    data: str = ""
    caller_id: str = ""
    timeout: float = DEFAULT_ORIGINATE_TIMEOUT
    channel_id: str | None = None
    other_id: str | None = None
    variables: dict[str, str] | None = None


class Dialplan:
    """Runs calls through the simulated dialplan."""

    def __init__(self, model: Model, calls: Calls, agi_url: str = "agi://127.0.0.1:4573/route?lang=zh") -> None:
        self.model = model
        self.calls = calls
        self.clock = model.clock
        self.queues: Queues | None = None
        self.agi: AgiClient | None = None
        self.agi_url = agi_url
        from callcenter.pbxsim.hotline import HotlineDialplan  # it builds on this module

        self.hotline = HotlineDialplan(model, calls, self)
        self.pending: dict[str, Leg] = {}  # /channels/create legs awaiting /dial
        self.entry_legs: dict[str, Leg] = {}  # Stasis entry halves awaiting answer

    # --- originate --------------------------------------------------------------------------
    def originate(self, req: OriginateRequest,
                  on_result: Callable[[Leg], None] | None = None) -> Leg:
        """Start an outbound leg; the dial proceeds in the background."""
        target = parse_endpoint(req.endpoint, self.calls.directory)
        leg = self.calls.new_leg(target, caller_id=parse_caller_id(req.caller_id) if req.caller_id else None,
                                 channel_id=req.channel_id, other_id=req.other_id)
        for key, value in (req.variables or {}).items():
            leg.ch.variables[key] = value
        if req.app:
            leg.ch.apps.add(req.app)
            if leg.far is not None:
                leg.far.apps.add(req.app)  # POST /channels subscribes the app to both halves
        leg.on_answer = lambda lg: self._answered(lg, req)
        if leg.far is not None:
            self._start_far(leg)
        self.model.spawn(self._dial(leg, req, on_result))
        return leg

    def _start_far(self, leg: Leg) -> None:
        """The ``;2`` half of a Local leg runs its extension (entry points or a person)."""
        far = leg.far
        assert far is not None
        key = (far.context, far.exten)
        entry = {("sos-entry", "sos"): self._sos_entry, ("queue-entry", "hotline"): self._queue_entry,
                 ("agi-test", "agi"): self._agi_entry}.get(key)
        if entry is not None:
            leg.person = None
            far.task = self.model.spawn(entry(far, leg))

    async def _dial(self, leg: Leg, req: OriginateRequest,
                    on_result: Callable[[Leg], None] | None) -> None:
        far = leg.far
        if far is not None and (far.context, far.exten) in (("sos-entry", "sos"), ("queue-entry", "hotline"), ("agi-test", "agi")):
            outcome = await leg.answered
        else:
            outcome = await self.calls.run_leg(leg, req.timeout)
        if on_result is not None:
            on_result(leg)
        del outcome

    def _answered(self, leg: Leg, req: OriginateRequest) -> None:
        """The leg answered: it enters Stasis, or runs its dialplan/application."""
        ch = leg.ch
        if req.app:
            if not self.model.stasis_start(ch, req.app, req.app_args or [], via_dialplan=False):
                self.model.spawn(self._hangup_soon(ch))
            return
        if req.application:
            ch.app_name, ch.app_data = req.application, req.data
            ch.task = self.model.spawn(self._application(ch, req.application, req.data))
            return
        ch.context, ch.exten, ch.priority = req.context, req.exten, req.priority
        ch.task = self.model.spawn(self.run_extension(ch))

    async def _hangup_soon(self, ch: Channel) -> None:
        await self.clock.sleep(0)
        self.calls.hangup(ch, 16)

    async def _application(self, ch: Channel, app: str, data: str) -> None:
        if app.lower() == "wait":
            await self.clock.sleep(float(data or 0))
        elif app.lower() == "dial":  # Dial(endpoint[,timeout[,options]])
            endpoint, timeout, options = [*data.split(","), "", ""][:3]
            await self.hotline.dial(ch, endpoint, float(timeout or 30), options)
        self.calls.hangup(ch, 0)

    async def run_extension(self, ch: Channel) -> None:
        """Run a dialplan extension on a channel that is already up."""
        if ch.context in HOTLINE_CONTEXTS:
            await self.hotline.run(ch)
        elif (ch.context, ch.exten) == ("people", "phone"):
            self.model.dialplan(ch, "Wait", "60")
            await self.clock.sleep(60)
            self.model.dialplan(ch, "Hangup")
            self.calls.hangup(ch, 16)
        elif not extension_exists(ch.context, ch.exten):
            self.calls.hangup(ch, 0)
        else:
            await self.clock.sleep(30)
            self.calls.hangup(ch, 16)

    # --- entry points of the traces' dialplan ---------------------------------------------
    def _answer_far(self, far: Channel, leg: Leg) -> None:
        """A Local ``;2`` entry answers: both halves go Up and the originate succeeds."""
        self.model.dialplan(far, "Answer", priority=far.priority)
        self.model.set_state(far, "Up")
        self._connect_leg(leg)

    def _connect_leg(self, leg: Leg) -> None:
        if leg.answered.done():
            return
        self.model.set_state(leg.ch, "Up")
        self.model.dial_event(leg.ch, "ANSWER", leg.target.dialstring)
        leg.outcome = "ANSWER"
        leg.answered.set_result("ANSWER")
        if leg.on_answer is not None:
            leg.on_answer(leg)

    async def _sos_entry(self, far: Channel, leg: Leg) -> None:
        """``[sos-entry]``: NoOp, Stasis(callcenter,sos) — the call waits in state Ring."""
        self.model.dial_event(leg.ch, "", leg.target.dialstring)
        far.caller, far.connected = leg.ch.caller, leg.ch.connected
        far.priority = 2
        # The ;1 half (the caller's phone) goes Up only when the app answers the ;2 half.
        self.entry_legs[far.id] = leg
        far.on_hangup.append(lambda c: self.entry_legs.pop(c.id, None))
        await self.enter_stasis(far, "callcenter", ["sos"])

    def answer(self, ch: Channel) -> None:
        """ARI answer: Up; for a dialplan entry half, its originate completes too."""
        self.model.set_state(ch, "Up")
        leg = self.entry_legs.pop(ch.id, None)
        if leg is not None:
            self._connect_leg(leg)

    async def enter_stasis(self, ch: Channel, app: str, args: list[str]) -> None:
        """Dialplan ``Stasis(app,args)``; on return the dialplan goes on (then Hangup)."""
        ch.app_name, ch.app_data = "Stasis", ",".join([app, *args])
        if not self.model.stasis_start(ch, app, args, via_dialplan=True):
            self.model.ami_event("UserEvent", {**ch.ami(), "UserEvent": "StasisResult",
                                               "Status": "FAILED"})
            self.calls.hangup(ch, 16)

    def after_stasis(self, ch: Channel) -> None:
        """Dialplan after Stasis() returns: UserEvent StasisResult, Hangup."""
        self.model.ami_event("UserEvent", {**ch.ami(), "UserEvent": "StasisResult",
                                           "Status": ch.variables.get("STASISSTATUS", "SUCCESS")})
        self.calls.hangup(ch, 16)

    async def _queue_entry(self, far: Channel, leg: Leg) -> None:
        """``[queue-entry]``: NoOp, Answer, Queue(hotline,,,,60), UserEvent, Hangup."""
        self.model.dial_event(leg.ch, "", leg.target.dialstring)
        far.caller, far.connected = leg.ch.caller, leg.ch.connected
        self.model.dialplan(far, "NoOp", f'Hotline caller "{far.caller.name}" <{far.caller.number}>')
        self.model.dialplan(far, "Answer", priority=2)
        self.model.set_state(far, "Up")
        self._connect_leg(leg)
        await self.run_queue(far, "hotline", 60, priority=3)

    async def run_queue(self, ch: Channel, queue: str, max_wait: float, priority: int = 1,
                        prio: int = 0, position: int = 0, options: str = "") -> None:
        """``Queue(name,options,,,timeout,,,,position)`` then the rest of the entry dialplan."""
        assert self.queues is not None
        self.model.dialplan(ch, "Queue", f"{queue},{options},,,{max_wait:g}", priority=priority)
        status = await self.queues.enter(ch, queue, max_wait, prio, position, options)
        ch.variables["QUEUESTATUS"] = status
        if ch.gone:
            return
        self.model.ami_event("UserEvent", {**ch.ami(), "UserEvent": "QueueResult",
                                           "Queue": queue, "QueueStatus": status})
        if status != "CONNECTED":
            self.calls.hangup(ch, 16)

    async def _agi_entry(self, far: Channel, leg: Leg) -> None:
        """``[agi-test]``: Answer, AGI(agi://…/route?lang=zh), UserEvent AGIResult, Hangup."""
        self.model.dial_event(leg.ch, "", leg.target.dialstring)
        far.caller, far.connected = leg.ch.caller, leg.ch.connected
        self.model.dialplan(far, "Answer")
        self.model.set_state(far, "Up")
        self._connect_leg(leg)
        await self.run_agi(far, self.agi_url, priority=2)
        self.calls.hangup(far, 16)

    async def run_agi(self, ch: Channel, url: str, priority: int = 2) -> str:
        """``AGI(url)``: AGISTATUS is SUCCESS or FAILURE; the dialplan continues either way."""
        assert self.agi is not None
        self.model.dialplan(ch, "AGI", url, priority=priority)
        status = await self.agi.run(ch, url)
        ch.variables["AGISTATUS"] = status
        self.model.ami_event("UserEvent", {**ch.ami(), "UserEvent": "AGIResult",
                                           "AGIStatus": status,
                                           "QueuePriority": ch.variables.get("QUEUE_PRIORITY", "")})
        return status

    # --- incoming calls (control API) ---------------------------------------------------------
    def inbound(self, caller: str, to: str, *, app: str = "", args: list[str] | None = None,
                queue: str = "", agi: str = "", context: str = "from-trunk",
                name: str = "", hangup_after: float | None = None) -> Channel:
        """A call arrives from a trunk: ``PJSIP/trunk-…`` in state Ring, into Stasis/queue/AGI."""
        ch = self.model.new_channel(f"PJSIP/trunk-{self.model.tech_suffix('PJSIP')}", "PJSIP",
                                    state="Ring", context=context, exten=to,
                                    caller=CallerId(name, caller))
        ch.connected = CallerId("", "")
        ch.task = self.model.spawn(self._inbound(ch, app, args or [], queue, agi))
        if hangup_after is not None:
            self.model.spawn(self._caller_hangs_up(ch, hangup_after))
        return ch

    async def _caller_hangs_up(self, ch: Channel, seconds: float) -> None:
        await self.clock.sleep(seconds)
        self.calls.hangup(ch, 16)

    async def _inbound(self, ch: Channel, app: str, args: list[str], queue: str, agi: str) -> None:
        if ch.context in HOTLINE_CONTEXTS:
            await self.hotline.run(ch)
            return
        if agi:
            self.model.dialplan(ch, "Answer")
            self.model.set_state(ch, "Up")
            await self.run_agi(ch, agi)
            queue = queue or ch.variables.get("QUEUE", "")
            app = app or ch.variables.get("STASIS_APP", "")
        if app:
            await self.enter_stasis(ch, app, args)
            return
        if queue:
            if ch.state != "Up":
                self.model.dialplan(ch, "Answer")
                self.model.set_state(ch, "Up")
            prio = int(ch.variables.get("QUEUE_PRIORITY", "0") or 0)
            await self.run_queue(ch, queue, 300, prio=prio)
            return
        self.calls.hangup(ch, 16)

    # --- snoop ------------------------------------------------------------------------------
    def snoop(self, target: Channel, app: str, args: list[str], snoop_id: str | None) -> Channel:
        """``Snoop/<id>-…`` in state Up, straight into Stasis; it dies with its target."""
        snoop = self.model.new_channel(f"Snoop/{target.id}-{self.model.tech_suffix('Snoop')}",
                                       "Snoop", state="Up", context="default", exten="s",
                                       linkedid=target.linkedid)
        if snoop_id and snoop_id not in self.model.channels:
            self.model.channels.pop(snoop.id)
            snoop.id = snoop_id
            self.model.channels[snoop_id] = snoop
        snoop.answered_at = snoop.created
        snoop.dialed_by = target  # no CDR of its own
        snoop.dialplan_stasis = True  # no ChannelDestroyed is delivered for it
        target.on_hangup.append(lambda _ch: self.calls.hangup(snoop, 16))

        def start() -> None:
            self.model.stasis_start(snoop, app, args, via_dialplan=True)

        self.model.spawn(self._later(start))
        return snoop

    async def _later(self, fn: Callable[[], Any]) -> None:
        await self.clock.sleep(0)
        fn()

    # --- channels/create + dial ---------------------------------------------------------------
    def create(self, endpoint: str, app: str, args: list[str], channel_id: str | None,
               other_id: str | None) -> Leg:
        """POST /channels/create: the ``;1`` half enters Stasis at once, state Down."""
        target: Target = parse_endpoint(endpoint, self.calls.directory)
        leg = self.calls.new_leg(target, channel_id=channel_id, other_id=other_id, app_name="")
        ch = leg.ch
        if not app or app not in self.model.active_apps:
            self.model.spawn(self._later(lambda: self.calls.hangup(ch, 0)))
            return leg
        ch.apps.add(app)
        ch.variables["__leg__"] = ""
        self.model.dialplan(ch, "Stasis", ",".join([app, *args]))
        self.model.stasis_start(ch, app, args, via_dialplan=False)
        self.pending[ch.id] = leg
        return leg

    def dial(self, ch: Channel, timeout: float) -> None:
        """POST /channels/{id}/dial on a created channel."""
        leg = self.pending.pop(ch.id)
        ch.variables.pop("__leg__", None)
        self.model.spawn(self.calls.run_leg(leg, timeout or 3600))
