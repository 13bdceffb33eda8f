"""The rendered hotline dialplan, as the simulator runs it.

``[hotline-entry]``: Answer, Playback, defaults, ``AGI(agi://…/hotline)``; when FastAGI did
not set ``CALLCENTER_AGI_STATUS=OK``, the classic AGI script from ``agi_bin`` is run as
Asterisk runs one (a subprocess speaking AGI on its stdin/stdout); then ``[hotline-queue]``:
``Queue(${CALLCENTER_QUEUE},t,,,max,,,,${CALLCENTER_QUEUE_POSITION})`` at ``QUEUE_PRIO``.
``[hotline-callback]`` queues an originated callback the same way; ``[hotline-transfer]``
takes redirected callers (``q-<queue>``, ``a-<endpoint>``, a number); ``[dial-out]`` dials
a number on the trunk and bridges it with the channel (click-to-dial, transfers out).
``[record-call]`` (a Gosub of ``[hotline-queue]``, ``a-<endpoint>`` and ``[dial-out]``) starts
``MixMonitor(<spool>/<linkedid>.wav)`` once per channel; the file is complete at the hang-up.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from callcenter.pbxsim.calls import Calls, EndpointError, parse_endpoint
from callcenter.pbxsim.model import Model
from callcenter.pbxsim.objects import Bridge, Channel

if TYPE_CHECKING:
    from callcenter.pbxsim.agi import AgiClient
    from callcenter.pbxsim.dialplan import Dialplan
    from callcenter.pbxsim.media import Media

FALLBACK_SCRIPT = "callcenter-hotline-fallback.py"
SCRIPT_SECONDS = 10.0  # res_agi gives a script as long as the call lasts; we bound tests


class HotlineDialplan:
    """The hotline contexts of ``extensions.conf.j2``."""

    def __init__(self, model: Model, calls: Calls, dialplan: Dialplan) -> None:
        self.model = model
        self.calls = calls
        self.dialplan = dialplan
        self.agi_url = "agi://127.0.0.1:4573/hotline"
        self.agi_bin: Path | None = None  # where the classic AGI fallback script lives
        self.snapshot = ""  # the routing snapshot path given to the fallback script
        self.default_queue = "hotline"
        self.dial_template = "PJSIP/{number}@trunk"
        self.endpoint_template = "PJSIP/{endpoint}"
        self.media: Media | None = None
        #: The rendered ``[record-call]``'s folder (``RECORDINGS_SPOOL``); None: not recorded.
        self.spool: Path | None = None

    @property
    def agi(self) -> AgiClient:
        """The FastAGI/AGI client of the dialplan."""
        assert self.dialplan.agi is not None
        return self.dialplan.agi

    async def run(self, ch: Channel) -> None:
        """Run ``ch`` from ``ch.context``/``ch.exten`` (one of :data:`CONTEXTS`)."""
        if ch.context == "hotline-entry":
            await self.entry(ch)
        elif ch.context == "hotline-callback":
            self.model.dialplan(ch, "NoOp", f"Callback {ch.variables.get('CALLCENTER_CALLBACK')}")
            await self.queue(ch)
        elif ch.context == "hotline-transfer":
            await self.transfer(ch)
        elif ch.context == "dial-out":
            await self.dial_out(ch)
        if not ch.gone:
            self.calls.hangup(ch, 16)

    async def entry(self, ch: Channel) -> None:
        """``[hotline-entry]``: answer, ask FastAGI, else the classic script, then queue."""
        m = self.model
        m.dialplan(ch, "NoOp", "Hotline call", priority=1)
        care_call = ch.variables.get("CALLCENTER_CARE_CALL", "")
        m.dialplan(ch, "UserEvent", f"CallcenterHotline,Stage: arrived,CareCall: {care_call}")
        m.ami_event("UserEvent", {**ch.ami(), "UserEvent": "CallcenterHotline",
                                  "Stage": "arrived", "CareCall": care_call})
        if ch.state != "Up":
            m.dialplan(ch, "Answer")
            m.set_state(ch, "Up")
        m.dialplan(ch, "Playback", "one-moment-please")
        ch.variables.update({"CALLCENTER_QUEUE": self.default_queue, "QUEUE_PRIO": "0",
                             "CALLCENTER_QUEUE_POSITION": ""})
        args = [ch.variables.get("CALLCENTER_PRIORITY", ""), care_call, ch.linkedid]
        m.dialplan(ch, "AGI", ",".join([self.agi_url, *args]))
        ch.variables["AGISTATUS"] = await self.agi.run(ch, self.agi_url, args)
        if ch.gone:
            return
        if ch.variables.get("CALLCENTER_AGI_STATUS") != "OK":
            await self.script(ch, FALLBACK_SCRIPT, [self.snapshot])
        if not ch.gone:
            await self.queue(ch)

    async def queue(self, ch: Channel) -> None:
        """``[hotline-queue]``: the queue named by the channel's variables (else the default)."""
        queues = self.dialplan.queues
        assert queues is not None
        self.record_call(ch)
        name = ch.variables.get("CALLCENTER_QUEUE", "")
        if name not in queues.queues:
            name = self.default_queue
        prio = _int(ch.variables.get("QUEUE_PRIO"))
        position = _int(ch.variables.get("CALLCENTER_QUEUE_POSITION"))
        max_wait = queues.queues[name].max_wait if name in queues.queues else 300
        await self.dialplan.run_queue(ch, name, max_wait, prio=prio, position=position,
                                      options="t")

    async def transfer(self, ch: Channel) -> None:
        """``[hotline-transfer]``: a redirected caller to a queue, an agent or a number."""
        exten = ch.exten
        if exten.startswith("q-"):
            ch.variables["CALLCENTER_QUEUE"] = exten[2:]
            ch.variables["CALLCENTER_QUEUE_POSITION"] = ""
            await self.queue(ch)
        elif exten.startswith("a-"):
            self.record_call(ch)
            await self.dial(ch, self.endpoint_template.format(endpoint=exten[2:]), 30, "tT")
        else:
            await self.dial_out(ch)

    async def dial_out(self, ch: Channel) -> None:
        """``[dial-out]``: recorded, then the number on the trunk."""
        self.record_call(ch)
        await self.dial(ch, self.dial_template.format(number=ch.exten), 60, "T")

    def record_call(self, ch: Channel) -> None:
        """``Gosub(record-call,s,1)``: MixMonitor into the spool, once per channel."""
        self.model.dialplan(ch, "Gosub", "record-call,s,1")
        if ch.variables.get("CALLCENTER_RECORDING") or self.spool is None or self.media is None:
            return
        self.model.set_var(ch, "CALLCENTER_RECORDING", ch.linkedid)
        path = self.spool / f"{ch.linkedid}.wav"
        self.model.dialplan(ch, "MixMonitor", str(path))
        self.media.mixmonitor(ch, path)

    async def dial(self, ch: Channel, endpoint: str, ring_seconds: float = 30,
                   options: str = "") -> str:
        """``Dial(endpoint,timeout,options)``: ring it, bridge on answer, end with the other
        party. Options ``t``/``T``: the callee/caller may transfer (bridge features)."""
        self.model.dialplan(ch, "Dial", f"{endpoint},{ring_seconds:g},{options}")
        ch.may_transfer = ch.may_transfer or "T" in options
        try:
            target = parse_endpoint(endpoint, self.calls.directory)
        except EndpointError:
            ch.variables["DIALSTATUS"] = "CHANUNAVAIL"
            self.model.dial_event(ch, "CHANUNAVAIL", endpoint)
            return "CHANUNAVAIL"
        leg = self.calls.new_leg(target, linkedid=ch.linkedid)
        leg.caller = ch
        leg.ch.may_transfer = "t" in options
        leg.ch.caller = ch.caller
        ch.dial_dest = leg.ch
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        leg.on_answer = lambda lg: self._bridge(ch, lg.ch, done)
        try:
            outcome = await self.calls.run_leg(leg, ring_seconds)
        except asyncio.CancelledError:
            self.calls.cancel(leg)  # the dialling channel hung up: Dial cancels its callee
            raise
        ch.variables["DIALSTATUS"] = outcome
        if outcome == "ANSWER" and not ch.gone:
            await done
        return outcome

    def _bridge(self, ch: Channel, peer: Channel, done: asyncio.Future[None]) -> None:
        bridge = Bridge(str(uuid.uuid4()), "basic", "", self.model.clock.now(), creator="",
                        bridge_class="basic")
        self.model.ami_event("BridgeCreate", bridge.ami())

        def dissolve(b: Bridge, _c: Channel) -> None:
            if b.held:
                return
            if b.channels:
                last = b.channels[0]
                self.model.leave_bridge(last, quiet_vars=True)
                self.model.ami_event("BridgeDestroy", b.ami())
                self.calls.hangup(last, 16)
            if not done.done():
                done.set_result(None)

        bridge.on_leave.append(dissolve)
        self.model.enter_bridge(bridge, peer)
        self.model.enter_bridge(bridge, ch)

    async def script(self, ch: Channel, name: str, args: list[str]) -> str:
        """``AGI(name,args)``: run a classic AGI script from ``agi_bin`` as Asterisk does."""
        self.model.dialplan(ch, "AGI", ",".join([name, *args]))
        path = self.agi_bin / name if self.agi_bin is not None else None
        if path is None or not path.is_file():
            ch.variables["AGISTATUS"] = "FAILURE"  # "Failed to execute …: No such file"
            return "FAILURE"
        status = await self._converse(ch, path, args)
        ch.variables["AGISTATUS"] = status
        return status

    async def _converse(self, ch: Channel, path: Path, args: list[str]) -> str:
        env = self.agi.environment(ch, str(path), args).replace("agi_network: yes\n", "")
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(path), *args, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert proc.stdin is not None and proc.stdout is not None
        try:
            async with asyncio.timeout(SCRIPT_SECONDS):
                proc.stdin.write(env.encode())
                await proc.stdin.drain()
                while line := await proc.stdout.readline():
                    command = line.decode().strip()
                    if command:
                        proc.stdin.write((self.agi.execute(ch, command) + "\n").encode())
                        await proc.stdin.drain()
                code = await proc.wait()
        except (TimeoutError, ConnectionError):
            proc.kill()
            await proc.wait()
            return "FAILURE"
        return "SUCCESS" if code == 0 else "FAILURE"


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
