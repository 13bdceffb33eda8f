"""AMI over TCP: login, actions with ActionID, event lists, and the model's events."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from callcenter.pbxsim.calls import EndpointError
from callcenter.pbxsim.dialplan import OriginateRequest
from callcenter.pbxsim.objects import SimEvent
from callcenter.pbxsim.people import extension_exists
from callcenter.pbxsim.queues import QueueError

if TYPE_CHECKING:
    from callcenter.pbxsim.calls import Leg
    from callcenter.pbxsim.server import PbxSimulator

log = structlog.get_logger("pbxsim.ami")
BANNER = "Asterisk Call Manager/11.0.0\r\n"
REASONS = {"ANSWER": 4, "BUSY": 5, "CONGESTION": 8, "NOANSWER": 3}
PRIVILEGE = {"Cdr": "cdr,all", "QueueCallerJoin": "agent,all", "QueueCallerLeave": "agent,all",
             "QueueCallerAbandon": "agent,all", "AgentCalled": "agent,all",
             "AgentConnect": "agent,all", "AgentComplete": "agent,all",
             "AgentRingNoAnswer": "agent,all", "QueueMemberStatus": "agent,all",
             "QueueMemberAdded": "agent,all", "QueueMemberRemoved": "agent,all",
             "QueueMemberPause": "agent,all", "Newexten": "dialplan,all",
             "VarSet": "dialplan,all", "UserEvent": "user,all", "AGIExecStart": "agi,all",
             "AGIExecEnd": "agi,all", "FullyBooted": "system,all",
             "AttendedTransfer": "call,all"}


def event_classes(events: str) -> frozenset[str] | None:
    """A Login's ``Events`` as Asterisk reads it (manager.c strings_to_mask): empty or
    on/yes/true for every class (None), off/no/false or 0 for none, else a comma list of
    class names (a numeric mask other than 0 is taken as every class)."""
    value = events.strip().lower()
    if value.isdigit():
        return None if int(value) else frozenset()
    if value in ("on", "yes", "true", "y", "t", ""):
        return None
    if value in ("off", "no", "false", "n", "f"):
        return frozenset()
    return frozenset(part.strip() for part in value.split(",") if part.strip()) - {"all"}


def encode(fields: dict[str, str]) -> bytes:
    """One AMI message (CRLF lines, blank line at the end)."""
    return ("".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n").encode()


class AmiSession:
    """One AMI client connection."""

    def __init__(self, sim: PbxSimulator, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.sim = sim
        self.reader = reader
        self.writer = writer
        self.authed = False
        #: The classes of events this session asked for at login (None: all of them).
        self.classes: frozenset[str] | None = frozenset()

    def drop(self) -> None:
        """Asterisk goes away: no more events; the socket closes."""
        self.authed = False
        self.writer.close()
        self.reader.feed_eof()

    def send(self, fields: dict[str, str]) -> None:
        """Queue one message on the socket."""
        if not self.writer.is_closing():
            self.writer.write(encode(fields))

    def on_event(self, event: SimEvent) -> None:
        """Model sink: write AMI events (OriginateResponse only to its session)."""
        if not self.authed or self.classes is not None and not self.classes:
            return
        if event.ami_target is not None and event.ami_target is not self:
            return
        for fields in event.ami:
            name = fields["Event"]
            out = {"Event": name}
            if name not in ("QueueParams",):
                privilege = PRIVILEGE.get(name, "call,all")
                if self.classes is not None and self.classes.isdisjoint(privilege.split(",")):
                    continue
                out["Privilege"] = privilege
            out.update({k: v for k, v in fields.items() if k != "Event"})
            self.send(out)

    async def serve(self) -> None:
        """Read actions until the client leaves."""
        self.writer.write(BANNER.encode())
        self.sim.model.sinks.append(self.on_event)
        try:
            while True:
                action = await self._read_action()
                if action is None:
                    break
                if not await self.dispatch(action):
                    break
                await self.writer.drain()
        finally:
            self.sim.model.sinks.remove(self.on_event)
            self.writer.close()

    async def _read_action(self) -> dict[str, str] | None:
        fields: dict[str, str] = {}
        while True:
            line = await self.reader.readline()
            if not line:
                return None
            text = line.decode(errors="replace").rstrip("\r\n")
            if not text:
                if fields:
                    return fields
                continue
            key, _, value = text.partition(":")
            key = key.strip()
            if key.lower() == "variable" and "Variable" in fields:
                # Originate takes several Variable headers (each NAME=value); one line each.
                fields["Variable"] += "\n" + value.strip()
            else:
                fields.setdefault(key, value.strip())

    def respond(self, action: dict[str, str], response: str, message: str, **extra: str) -> None:
        """A Response carrying the action's ActionID."""
        fields = {"Response": response}
        if "ActionID" in action:
            fields["ActionID"] = action["ActionID"]
        fields.update(extra)
        fields["Message"] = message
        self.send(fields)

    def event_list(self, action: dict[str, str], message: str, events: list[dict[str, str]],
                   complete: str) -> None:
        """Response with EventList: start, the items, then the Complete event."""
        aid = {"ActionID": action["ActionID"]} if "ActionID" in action else {}
        self.send({"Response": "Success", **aid, "EventList": "start", "Message": message})
        for item in events:
            self.send({**item, **aid})
        self.send({"Event": complete, **aid, "EventList": "Complete",
                   "ListItems": str(len(events))})

    async def dispatch(self, a: dict[str, str]) -> bool:
        """Run one action; False closes the connection."""
        name = a.get("Action", "").lower()
        if name == "login":
            if a.get("Username") == self.sim.user and a.get("Secret") == self.sim.password:
                self.authed = True
                self.classes = event_classes(a.get("Events", "on"))
                self.respond(a, "Success", "Authentication accepted")
                if self.classes is None or "system" in self.classes:  # as manager.c does
                    self.send({"Event": "FullyBooted", "Privilege": "system,all",
                               "Uptime": str(int(self.sim.clock.elapsed())),
                               "LastReload": str(int(self.sim.clock.elapsed())),
                               "Status": "Fully Booted"})
            else:
                self.respond(a, "Error", "Authentication failed")
            return True
        if name == "logoff":
            self.respond(a, "Goodbye", "Thanks for all the fish.")
            return False
        if not self.authed:
            self.respond(a, "Error", "Authentication Required")
            return True
        handler = getattr(self, f"action_{name}", None)
        if handler is None:
            self.respond(a, "Error", "Invalid/unknown command")
            return True
        await handler(a)
        return True

    # --- actions -----------------------------------------------------------------------------
    async def action_ping(self, a: dict[str, str]) -> None:
        self.respond(a, "Success", "", Ping="Pong", Timestamp=f"{self.sim.clock.now():.6f}")

    async def action_coreshowchannels(self, a: dict[str, str]) -> None:
        now = self.sim.clock.now()
        items = []
        for ch in sorted(self.sim.model.channels.values(), key=lambda c: c.name):
            secs = int(now - ch.created)
            items.append({"Event": "CoreShowChannel", **ch.ami(), "Application": ch.app_name,
                          "ApplicationData": ch.app_data,
                          "Duration": f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}",
                          "BridgeId": ch.bridge.id if ch.bridge else ""})
        self.event_list(a, "Channels will follow", items, "CoreShowChannelsComplete")

    async def action_queuestatus(self, a: dict[str, str]) -> None:
        events = self.sim.queues.status_events(a.get("Queue", ""), a.get("Member", ""))
        self.event_list(a, "Queue status will follow", events, "QueueStatusComplete")

    async def action_queuesummary(self, a: dict[str, str]) -> None:
        events = self.sim.queues.summary_events(a.get("Queue", ""))
        self.event_list(a, "Queue summary will follow", events, "QueueSummaryComplete")

    async def action_queueadd(self, a: dict[str, str]) -> None:
        q = self.sim.queues.queues.get(a.get("Queue", ""))
        if q is None or q.member(a.get("Interface", "")) is not None:
            self.respond(a, "Error", "Unable to add interface to queue: No such queue"
                         if q is None else "Unable to add interface: Already there")
            return
        # The Response goes out before QueueMemberAdded, as on the wire.
        self.respond(a, "Success", "Added interface to queue")
        self.sim.queues.add(q.name, a.get("Interface", ""), a.get("MemberName", ""),
                            int(a.get("Penalty", "0") or 0), _true(a.get("Paused", "")),
                            a.get("Reason", ""))

    async def action_queueremove(self, a: dict[str, str]) -> None:
        try:
            self.sim.queues.remove(a.get("Queue", ""), a.get("Interface", ""))
        except QueueError as err:
            self.respond(a, "Error", str(err))
            return
        self.respond(a, "Success", "Removed interface from queue")

    async def action_queuepause(self, a: dict[str, str]) -> None:
        paused = _true(a.get("Paused", ""))
        interface, queue = a.get("Interface", ""), a.get("Queue", "")
        known = any(q.member(interface) for q in self.sim.queues.queues.values()
                    if not queue or q.name == queue)
        if not known:
            self.respond(a, "Error", "Interface not found")
            return
        self.respond(a, "Success", "Interface paused successfully" if paused
                     else "Interface unpaused successfully")
        try:
            self.sim.queues.pause(queue, interface, paused, a.get("Reason", ""))
        except QueueError as err:
            log.warning("queue pause failed", error=str(err))

    async def action_originate(self, a: dict[str, str]) -> None:
        context, exten = a.get("Context", ""), a.get("Exten", "")
        if not a.get("Application") and context and not extension_exists(context, exten):
            self.respond(a, "Error", "Extension does not exist.")
            return
        req = OriginateRequest(
            endpoint=a.get("Channel", ""), context=context, exten=exten,
            priority=int(a.get("Priority", "1") or 1), application=a.get("Application", ""),
            data=a.get("Data", ""), caller_id=a.get("CallerID", ""),
            timeout=float(a.get("Timeout", "30000") or 30000) / 1000,
            channel_id=a.get("ChannelId"), other_id=a.get("OtherChannelId"),
            variables=_variables(a.get("Variable", "")))
        is_async = _true(a.get("Async", "false"))
        done: asyncio.Future[Leg | None] = asyncio.get_running_loop().create_future()

        def result(leg: Leg) -> None:
            if not done.done():
                done.set_result(leg)
            if is_async:
                self._originate_response(a, req, leg)

        if is_async:
            self.respond(a, "Success", "Originate successfully queued")
        try:
            self.sim.dialplan.originate(req, on_result=result)
        except EndpointError:
            if is_async:
                self.sim.model.ami_event("OriginateResponse", {
                    **_aid(a), "Response": "Failure", "Channel": req.endpoint,
                    **_target(req), "Reason": "0", "Uniqueid": "<unknown>",
                    "CallerIDNum": "<unknown>", "CallerIDName": "<unknown>"}, target=self)
            else:
                self.respond(a, "Error", "Originate failed")
            return
        if not is_async:
            leg = await done
            ok = leg is not None and leg.outcome == "ANSWER"
            self.respond(a, "Success" if ok else "Error",
                         "Originate successfully queued" if ok else "Originate failed")

    def _originate_response(self, a: dict[str, str], req: OriginateRequest, leg: Leg) -> None:
        ok = leg.outcome == "ANSWER"
        self.sim.model.ami_event("OriginateResponse", {
            **_aid(a), "Response": "Success" if ok else "Failure",
            "Channel": leg.ch.name if ok else req.endpoint, **_target(req),
            "Reason": str(REASONS.get(leg.outcome, 0)),
            "Uniqueid": leg.ch.id if ok else "<unknown>",
            "CallerIDNum": leg.ch.caller.number or "<unknown>",
            "CallerIDName": leg.ch.caller.name or "<unknown>"}, target=self)

    async def action_hangup(self, a: dict[str, str]) -> None:
        ch = self.sim.model.find_by_name(a.get("Channel", ""))
        if ch is None:
            self.respond(a, "Error", "No such channel")
            return
        self.respond(a, "Success", "Channel Hungup")
        self.sim.calls.hangup(ch, int(a.get("Cause", "16") or 16))

    async def action_getvar(self, a: dict[str, str]) -> None:
        name = a.get("Variable", "")
        ch = self.sim.model.find_by_name(a.get("Channel", "")) if a.get("Channel") else None
        if a.get("Channel") and ch is None:
            self.respond(a, "Error", "No such channel")
            return
        agi = self.sim.dialplan.agi
        value = (agi.variable(ch, name) if agi is not None else ch.variables.get(name)) or "" \
            if ch is not None else ""
        fields = {"Response": "Success", **_aid(a), "Variable": name, "Value": value}
        self.send(fields)

    async def action_redirect(self, a: dict[str, str]) -> None:
        await self._move(a, "Redirect successful")

    async def action_blindtransfer(self, a: dict[str, str]) -> None:
        await self._move(a, "Transfer succeeded")

    async def _move(self, a: dict[str, str], ok: str) -> None:
        ch = self.sim.model.find_by_name(a.get("Channel", ""))
        if ch is None:
            self.respond(a, "Error", "Channel specified does not exist")
            return
        self.respond(a, "Success", ok)
        self.sim.model.leave_bridge(ch)
        self.sim.model.stasis_end(ch)
        if ch.task is not None:
            ch.task.cancel()
        ch.context, ch.exten = a.get("Context", ch.context), a.get("Exten", ch.exten)
        ch.priority = int(a.get("Priority", "1") or 1)
        ch.task = self.sim.model.spawn(self.sim.dialplan.run_extension(ch))

    async def action_setvar(self, a: dict[str, str]) -> None:
        name = a.get("Variable", "")
        if not name:
            self.respond(a, "Error", "No variable specified")
            return
        ch = self.sim.model.find_by_name(a.get("Channel", "")) if a.get("Channel") else None
        if a.get("Channel") and ch is None:
            self.respond(a, "Error", "Channel not found")
            return
        if ch is not None:
            self.sim.model.set_var(ch, name, a.get("Value", ""))
        self.respond(a, "Success", "Variable Set")

    async def action_atxfer(self, a: dict[str, str]) -> None:
        # manager.c action_atxfer: queue the atxfer feature code, then the extension.
        name, exten = a.get("Channel", ""), a.get("Exten", "")
        if not name:
            self.respond(a, "Error", "No channel specified")
            return
        if not exten:
            self.respond(a, "Error", "No extension specified")
            return
        ch = self.sim.model.find_by_name(name)
        if ch is None:
            self.respond(a, "Error", "Channel specified does not exist")
            return
        xfers = self.sim.transfers
        if not xfers.feature_code:
            self.respond(a, "Error", "No attended transfer feature code found")
            return
        self.respond(a, "Success", "Atxfer successfully queued")
        xfers.start(ch, a.get("Context", ""), exten)

    async def action_cancelatxfer(self, a: dict[str, str]) -> None:
        name = a.get("Channel", "")
        if not name:
            self.respond(a, "Error", "No channel specified")
            return
        ch = self.sim.model.find_by_name(name)
        if ch is None:
            self.respond(a, "Error", "Channel specified does not exist")
            return
        self.respond(a, "Success", "CancelAtxfer successfully queued")
        self.sim.transfers.cancel(ch)

    async def action_command(self, a: dict[str, str]) -> None:
        command = a.get("Command", "").strip()
        if command == "core show version":
            output = ["Asterisk 22.10.1 built by pbxsim (simulator)"]
        elif command.startswith("core show channels"):
            output = [f"{c.name} {c.state}" for c in self.sim.model.channels.values()]
            output.append(f"{len(self.sim.model.channels)} active channels")
        else:
            output = [f"No such command '{command}' (type 'core show help {command}' for other possible commands)"]
        fields = {"Response": "Success", **_aid(a), "Message": "Command output follows"}
        text = "".join(f"{k}: {v}\r\n" for k, v in fields.items())
        text += "".join(f"Output: {line}\r\n" for line in output) + "\r\n"
        self.writer.write(text.encode())


def _variables(headers: str) -> dict[str, str]:
    """Originate's ``Variable: NAME=value`` headers (also comma-separated in one header)."""
    out: dict[str, str] = {}
    for line in headers.splitlines():
        for pair in line.split(","):
            name, sep, value = pair.partition("=")
            if sep and name.strip():
                out[name.strip()] = value
    return out


def _true(value: str) -> bool:
    return value.strip().lower() in ("true", "yes", "1", "on")


def _aid(a: dict[str, str]) -> dict[str, str]:
    return {"ActionID": a["ActionID"]} if "ActionID" in a else {}


def _target(req: OriginateRequest) -> dict[str, str]:
    if req.application:
        return {"Application": req.application, "Data": req.data}
    return {"Context": req.context, "Exten": req.exten}
