"""The in-process model of channels and bridges; every change is one event for ARI and AMI."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

from callcenter.pbxsim.clock import SimClock
from callcenter.pbxsim.objects import CAUSE_TEXT, Bridge, CallerId, Channel, SimEvent

Sink = Callable[[SimEvent], None]


class Model:
    """Channels, bridges and the event stream; the one source of truth of the simulator."""

    def __init__(self, clock: SimClock) -> None:
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.bridges: dict[str, Bridge] = {}
        self.sinks: list[Sink] = []
        self._seq = itertools.count(100)
        self._local_seq = itertools.count(0x30)
        self._tech_seq: dict[str, itertools.count[int]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.active_apps: set[str] = set()  # apps with a live WebSocket

    # --- tasks --------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Start a task owned by the model (cancelled by ``close``)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            import structlog

            structlog.get_logger("pbxsim").error("sim task failed", exc_info=task.exception())

    async def close(self) -> None:
        """Cancel every task the model owns."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- ids ----------------------------------------------------------------------------
    def new_id(self) -> str:
        """A uniqueid like real Asterisk's ``<epoch>.<seq>``."""
        return f"{int(self.clock.now())}.{next(self._seq)}"

    def local_suffix(self) -> str:
        """The shared 8-hex-digit sequence of Local and Recorder channels."""
        return f"{next(self._local_seq):08x}"

    def tech_suffix(self, tech: str) -> str:
        """A per-technology channel name sequence (PJSIP, Snoop)."""
        counter = self._tech_seq.setdefault(tech, itertools.count(1))
        return f"{next(counter):08x}"

    # --- events -------------------------------------------------------------------------
    def emit(self, kind: str, *, apps: set[str] | frozenset[str] = frozenset(),
             ari: dict[str, Any] | None = None, ami: list[dict[str, str]] | None = None,
             ami_target: object | None = None) -> None:
        """Hand one event to every sink (ARI WebSocket hub, AMI sessions)."""
        if ari is not None:
            ari = {"type": kind, "timestamp": self.clock.iso(), **ari}
        event = SimEvent(kind, frozenset(apps), ari, ami or [], ami_target)
        for sink in list(self.sinks):
            sink(event)

    def ari_channel(self, ch: Channel) -> dict[str, Any]:
        """Channel snapshot with its ISO creation time."""
        body = ch.ari()
        body["creationtime"] = self.iso(ch.created)
        return body

    def ari_bridge(self, bridge: Bridge) -> dict[str, Any]:
        """Bridge snapshot with its ISO creation time."""
        body = bridge.ari()
        body["creationtime"] = self.iso(bridge.created)
        return body

    def iso(self, at: float) -> str:
        """Format an epoch time as ARI does."""
        from datetime import UTC, datetime

        dt = datetime.fromtimestamp(at, UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"

    def channel_event(self, kind: str, ch: Channel, ami_name: str | None = None,
                      ami_extra: dict[str, str] | None = None, **ari_extra: Any) -> None:
        """Emit an event about one channel to its subscribed apps and to AMI."""
        ami = []
        if ami_name:
            ami = [{"Event": ami_name, **ch.ami(), **(ami_extra or {})}]
        self.emit(kind, apps=set(ch.apps),
                  ari={**ari_extra, "channel": self.ari_channel(ch)}, ami=ami)

    def ami_event(self, name: str, fields: dict[str, str], target: object | None = None) -> None:
        """Emit an AMI-only event."""
        self.emit(name, ami=[{"Event": name, **fields}], ami_target=target)

    # --- channels -----------------------------------------------------------------------
    def new_channel(self, name: str, tech: str, *, state: str, context: str, exten: str,
                    priority: int = 1, linkedid: str | None = None,
                    caller: CallerId | None = None) -> Channel:
        """Create a channel and announce it (AMI Newchannel)."""
        cid = self.new_id()
        ch = Channel(id=cid, name=name, tech=tech, state=state, context=context, exten=exten,
                     priority=priority, created=self.clock.now(), linkedid=linkedid or cid,
                     caller=caller or CallerId())
        self.channels[cid] = ch
        self.ami_event("Newchannel", ch.ami())
        return ch

    def set_state(self, ch: Channel, state: str) -> None:
        """Change a channel's state (ChannelStateChange / Newstate)."""
        if ch.gone or ch.state == state:
            return
        ch.state = state
        if state == "Up" and ch.answered_at is None:
            ch.answered_at = self.clock.now()
        self.channel_event("ChannelStateChange", ch, "Newstate")

    def set_var(self, ch: Channel, name: str, value: str) -> None:
        """Set a channel variable (ChannelVarset / VarSet)."""
        ch.variables[name] = value
        self.channel_event("ChannelVarset", ch, "VarSet", {"Variable": name, "Value": value},
                           variable=name, value=value)

    def dialplan(self, ch: Channel, app: str, data: str = "", priority: int | None = None) -> None:
        """A channel runs a dialplan application (ChannelDialplan / Newexten)."""
        if priority is not None:
            ch.priority = priority
        ch.app_name, ch.app_data = app, data
        self.channel_event("ChannelDialplan", ch, "Newexten",
                           {"Extension": ch.exten, "Application": app, "AppData": data},
                           dialplan_app=app, dialplan_app_data=data)

    def set_caller(self, ch: Channel, caller: CallerId) -> None:
        """Set caller and connected line, as an originate with callerId does."""
        ch.caller = CallerId(caller.name, caller.number)
        ch.connected = CallerId(caller.name, caller.number)
        self.channel_event("ChannelCallerId", ch, "NewCallerid",
                           {"CID-CallingPres": "0 (Presentation Allowed, Not Screened)"},
                           caller_presentation=0,
                           caller_presentation_txt="Presentation Allowed, Not Screened")
        self.channel_event("ChannelConnectedLine", ch, "NewConnectedLine")

    def hangup_request(self, ch: Channel, cause: int, soft: bool = False) -> None:
        """Announce a hangup request (cause 32 + soft is ARI's DELETE)."""
        extra: dict[str, Any] = {"cause": cause}
        if soft:
            extra["soft"] = True
        self.channel_event("ChannelHangupRequest", ch,
                           "SoftHangupRequest" if soft else "HangupRequest",
                           {"Cause": str(cause)}, **extra)

    def dial_event(self, peer: Channel, status: str, dialstring: str,
                   caller: Channel | None = None) -> None:
        """A Dial event (ARI) and DialBegin/DialState/DialEnd (AMI)."""
        ari: dict[str, Any] = {"dialstatus": status, "forward": "", "dialstring": dialstring,
                               "peer": self.ari_channel(peer)}
        apps = set(peer.apps)
        if caller is not None:
            ari["caller"] = self.ari_channel(caller)
            apps |= caller.apps
        if status == "":
            name, extra = "DialBegin", {"DialString": dialstring}
        elif status in ("RINGING", "PROCEEDING", "PROGRESS"):
            name, extra = "DialState", {"DialStatus": status}
        else:
            name, extra = "DialEnd", {"DialStatus": status}
        fields = {**(caller.ami() if caller else {}), **peer.ami("Dest"), **extra}
        self.emit("Dial", apps=apps, ari=ari, ami=[{"Event": name, **fields}])

    def destroy(self, ch: Channel, cause: int) -> None:
        """Destroy a channel: ChannelDestroyed / Hangup, then its CDR."""
        if ch.gone:
            return
        ch.gone = True
        self.channels.pop(ch.id, None)
        apps = set() if ch.dialplan_stasis else set(ch.apps)
        ami = [{"Event": "Hangup", **ch.ami(), "Cause": str(cause),
                "Cause-txt": CAUSE_TEXT.get(cause, "Unknown")}]
        self.emit("ChannelDestroyed", apps=apps,
                  ari={"cause": cause, "cause_txt": CAUSE_TEXT.get(cause, "Unknown"),
                       "channel": self.ari_channel(ch)}, ami=ami)
        for callback in list(ch.on_hangup):
            callback(ch)
        if ch.task is not None and ch.task is not asyncio.current_task():
            ch.task.cancel()
        if ch.dialed_by is None and ch.tech not in ("Snoop", "Recorder"):
            self.ami_event("Cdr", self.cdr(ch))

    def cdr(self, ch: Channel) -> dict[str, str]:
        """The Cdr event cdr_manager writes for a channel."""
        end = self.clock.now()
        dest = ch.dial_dest
        disposition = ch.disposition or ("ANSWERED" if ch.answered_at else "NO ANSWER")
        if dest is not None and dest.answered_at is None and not ch.disposition:
            disposition = "NO ANSWER"
        answer = ch.answered_at if disposition == "ANSWERED" else None
        caller_id = f'"{ch.caller.name}" <{ch.caller.number}>' if ch.caller.number else ""
        return {
            "AccountCode": ch.accountcode, "Source": ch.caller.number,
            "Destination": ch.exten, "DestinationContext": ch.context, "CallerID": caller_id,
            "Channel": ch.name, "DestinationChannel": dest.name if dest else "",
            "LastApplication": ch.app_name, "LastData": ch.app_data,
            "StartTime": self.clock.cdr_time(ch.created),
            "AnswerTime": self.clock.cdr_time(answer),
            "EndTime": self.clock.cdr_time(end),
            "Duration": str(int(end - ch.created)),
            "BillableSeconds": str(int(end - answer)) if answer else "0",
            "Disposition": disposition, "AMAFlags": "DOCUMENTATION", "UniqueID": ch.id,
            "UserField": "",
            # The rendered cdr_manager.conf's [mappings] (linkedid => LinkedID), appended after
            # the standard fields; the traces' Asterisk had no mappings, so no LinkedID there.
            "LinkedID": ch.linkedid,
        }

    def find_by_name(self, name: str) -> Channel | None:
        """A live channel by its name."""
        for ch in self.channels.values():
            if ch.name == name:
                return ch
        return None

    # --- Stasis ---------------------------------------------------------------------------
    def stasis_start(self, ch: Channel, app: str, args: list[str], *, via_dialplan: bool) -> bool:
        """Enter Stasis; False (STASISSTATUS=FAILED) when no WebSocket serves the app."""
        if app not in self.active_apps:
            ch.variables["STASISSTATUS"] = "FAILED"
            return False
        ch.stasis_app, ch.stasis_args = app, list(args)
        ch.dialplan_stasis = via_dialplan
        ch.apps.add(app)
        ch.app_name, ch.app_data = "Stasis", ",".join([app, *args])
        if not via_dialplan:
            self.set_var(ch, "STASISSTATUS", "")
        self.channel_event("StasisStart", ch, args=list(args))
        return True

    def stasis_end(self, ch: Channel) -> None:
        """Leave Stasis (StasisEnd, then STASISSTATUS=SUCCESS)."""
        if ch.stasis_app is None:
            return
        self.channel_event("StasisEnd", ch)
        ch.stasis_app = None
        if ch.dialplan_stasis:
            ch.apps.clear()  # the implicit subscription ends at StasisEnd
            ch.variables["STASISSTATUS"] = "SUCCESS"
        else:
            self.set_var(ch, "STASISSTATUS", "SUCCESS")

    # --- bridges ------------------------------------------------------------------------
    def enter_bridge(self, bridge: Bridge, ch: Channel) -> None:
        """Put a channel into a bridge (moving it out of any other one)."""
        if ch.bridge is not None:
            self.leave_bridge(ch, quiet_vars=True)
        bridge.channels.append(ch)
        ch.bridge = bridge
        self.check_technology(bridge)
        bridge.apps |= ch.apps
        self.emit("ChannelEnteredBridge", apps=set(ch.apps) | bridge.apps,
                  ari={"bridge": self.ari_bridge(bridge), "channel": self.ari_channel(ch)},
                  ami=[{"Event": "BridgeEnter", **bridge.ami(), **ch.ami()}])
        self.refresh_peers(bridge, first=ch)

    def check_technology(self, bridge: Bridge) -> None:
        """Upgrade to softmix once the bridge has more than two parties (recorders count)."""
        if not bridge.upgraded and len(bridge.channels) + len(bridge.recorder_names) > 2:
            bridge.upgraded = True
            bridge.softmix_since = self.clock.now()

    def refresh_peers(self, bridge: Bridge, first: Channel | None = None) -> None:
        """Set BRIDGEPEER on the channels of a bridge with two or more parties."""
        parties = [c.name for c in bridge.channels] + bridge.recorder_names
        if len(parties) < 2:
            return
        members = list(bridge.channels)
        if first is not None:
            members.remove(first)
            members.insert(0, first)
        for ch in members:
            self.set_var(ch, "BRIDGEPEER", ",".join(p for p in parties if p != ch.name))

    def leave_bridge(self, ch: Channel, quiet_vars: bool = False) -> None:
        """Take a channel out of its bridge (ChannelLeftBridge / BridgeLeave)."""
        bridge = ch.bridge
        if bridge is None:
            return
        if not quiet_vars and "BRIDGEPEER" in ch.variables:
            self.set_var(ch, "BRIDGEPEER", "")
        bridge.channels.remove(ch)
        ch.bridge = None
        if not bridge.channels:
            bridge.upgraded = False
        self.emit("ChannelLeftBridge", apps=set(ch.apps) | bridge.apps,
                  ari={"bridge": self.ari_bridge(bridge), "channel": self.ari_channel(ch)},
                  ami=[{"Event": "BridgeLeave", **bridge.ami(), **ch.ami()}])
        if not quiet_vars and bridge.channels:
            self.refresh_peers(bridge)
        for listener in list(bridge.on_leave):
            listener(bridge, ch)
        if not bridge.channels:
            bridge.softmix_since = None  # after the listeners: a recording stopping reads it
