"""The AMI actions the product sends (queues, Originate, transfers, CLI) over any sender."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

from callcenter.asterisk.ami.errors import AmiActionError, AmiError
from callcenter.asterisk.ami.messages import AmiEvent, AmiResponse, OriginateResult


def compact(action: dict[str, Any]) -> dict[str, Any]:
    """The action without its unset (None) headers."""
    return {k: v for k, v in action.items() if v is not None}


def hears(events: str, event_class: str) -> bool:
    """Whether a session logged in with ``Events: events`` (``on``, or a comma list of
    classes, as this client sends them) is sent the events of ``event_class``."""
    classes = {part.strip().lower() for part in events.split(",")}
    return bool(classes & {"on", "yes", "true", "all", event_class})


class AmiActions(ABC):
    """Typed AMI actions; a subclass provides the connection (``_send``)."""

    node: str
    action_timeout: float
    #: The session's Login ``Events`` (``on`` or a comma list of classes).
    events: str

    @abstractmethod
    async def _send(self, action: Mapping[str, Any], *, as_list: bool | None = None,
                   timeout: float | None = None) -> AmiResponse:  # noqa: ASYNC109 -- per-action bound
        """Send one action and wait for its complete answer, whatever the ``Response``."""

    async def send_action(self, action: Mapping[str, Any], *, as_list: bool | None = None,
                          check: bool = True) -> AmiResponse:
        """Send any action; ``check`` raises :class:`AmiActionError` on ``Response: Error``."""
        resp = await self._send(action, as_list=as_list)
        if check and not resp.success:
            raise AmiActionError(resp.message or resp.response, action=resp.action,
                                 action_id=resp.action_id, node=self.node, response=resp)
        return resp

    async def ping(self) -> AmiResponse:
        """Ping."""
        return await self.send_action({"Action": "Ping"})

    async def core_show_channels(self) -> list[AmiEvent]:
        """CoreShowChannels: one CoreShowChannel event per channel."""
        resp = await self.send_action({"Action": "CoreShowChannels"})
        return resp.items("CoreShowChannel")

    async def queue_status(self, queue: str | None = None, member: str | None = None) -> list[AmiEvent]:
        """QueueStatus: QueueParams, QueueMember and QueueEntry events."""
        action = compact({"Action": "QueueStatus", "Queue": queue, "Member": member})
        return (await self.send_action(action)).items()

    async def queue_summary(self, queue: str | None = None) -> list[AmiEvent]:
        """QueueSummary: one QueueSummary event per queue."""
        action = compact({"Action": "QueueSummary", "Queue": queue})
        return (await self.send_action(action)).items("QueueSummary")

    async def queue_add(self, queue: str, interface: str, *, member_name: str | None = None,
                        penalty: int | None = None, paused: bool | None = None,
                        state_interface: str | None = None) -> AmiResponse:
        """QueueAdd ('Added interface to queue'; QueueMemberAdded follows)."""
        # panoramisk treats 'Added ... to queue' as the start of a list; as_list=False
        # stops it waiting for a *Complete that Asterisk 22 never sends for QueueAdd.
        return await self.send_action(compact({
            "Action": "QueueAdd", "Queue": queue, "Interface": interface,
            "MemberName": member_name, "Penalty": penalty,
            "Paused": None if paused is None else ("true" if paused else "false"),
            "StateInterface": state_interface,
        }), as_list=False)

    async def queue_remove(self, queue: str, interface: str) -> AmiResponse:
        """QueueRemove (QueueMemberRemoved follows)."""
        return await self.send_action({"Action": "QueueRemove", "Queue": queue,
                                       "Interface": interface})

    async def queue_pause(self, queue: str | None, interface: str, paused: bool,
                          reason: str | None = None) -> AmiResponse:
        """QueuePause true/false (QueueMemberPause follows); ``queue`` None = every queue."""
        return await self.send_action(compact({
            "Action": "QueuePause", "Queue": queue, "Interface": interface,
            "Paused": "true" if paused else "false", "Reason": reason,
        }))

    async def originate(
        self,
        channel: str,
        *,
        context: str | None = None,
        exten: str | None = None,
        priority: int | None = None,
        application: str | None = None,
        data: str | None = None,
        caller_id: str | None = None,
        ring_timeout_ms: int = 30000,
        variables: Mapping[str, str] | None = None,
        account: str | None = None,
        channel_id: str | None = None,
    ) -> OriginateResult:
        """Originate with Async=true and wait for the OriginateResponse of our ActionID.

        Asterisk 22: 'Originate successfully queued' first, then OriginateResponse with
        Reason 4 answered, 5 busy, 8 congestion, 3 no answer, 0 failure. A bad dialplan
        target answers ``Response: Error`` at once (raised as AmiActionError). A session
        that does not hear the ``call`` class never gets that OriginateResponse: refused
        before anything is dialled.
        """
        if not hears(self.events, "call"):
            raise AmiError(f"this AMI session (Events: {self.events}) does not hear "
                           "OriginateResponse (class call)", action="Originate", node=self.node)
        action = compact({
            "Action": "Originate", "Channel": channel, "Context": context, "Exten": exten,
            "Priority": priority, "Application": application, "Data": data,
            "CallerID": caller_id, "Timeout": ring_timeout_ms, "Account": account,
            "ChannelId": channel_id, "Async": "true",
        })
        if variables:
            action["Variable"] = [f"{k}={v}" for k, v in variables.items()]
        resp = await self._send(action, timeout=ring_timeout_ms / 1000 + self.action_timeout)
        if not resp.success:
            raise AmiActionError(resp.message or resp.response, action="Originate",
                                 action_id=resp.action_id, node=self.node, response=resp)
        event = next((e for e in resp.events if e.name == "OriginateResponse"), None)
        if event is None:
            raise AmiError("no OriginateResponse", action="Originate",
                           action_id=resp.action_id, node=self.node, response=resp)
        reason = event.get("Reason", "0")
        uniqueid = event.get("Uniqueid") or None
        return OriginateResult(
            success=event.get("Response") == "Success",
            reason=int(reason) if str(reason).isdigit() else 0,
            channel=str(event.get("Channel")),
            # On failure Asterisk 22 reports Uniqueid '<unknown>'.
            uniqueid=None if uniqueid == "<unknown>" else uniqueid,
            event=event,
            response=resp,
        )

    async def redirect(self, channel: str, context: str, exten: str, priority: int = 1, *,
                       extra_channel: str | None = None) -> AmiResponse:
        """Redirect a channel (and optionally its peer) to a dialplan location."""
        return await self.send_action(compact({
            "Action": "Redirect", "Channel": channel, "Context": context, "Exten": exten,
            "Priority": priority, "ExtraChannel": extra_channel,
            "ExtraContext": context if extra_channel else None,
            "ExtraExten": exten if extra_channel else None,
            "ExtraPriority": priority if extra_channel else None,
        }))

    async def blind_transfer(self, channel: str, context: str, exten: str) -> AmiResponse:
        """BlindTransfer a bridged channel's peer to ``exten@context``."""
        return await self.send_action({"Action": "BlindTransfer", "Channel": channel,
                                       "Context": context, "Exten": exten})

    async def attended_transfer(self, channel: str, context: str, exten: str) -> AmiResponse:
        """Atxfer: ``channel`` (the transferer) consults ``exten@context``, its peer held.

        Asterisk 22 queues the ``atxfer`` feature code of features.conf, then ``exten``, as
        DTMF on the channel ('Atxfer successfully queued'); only a channel whose bridge lets
        it transfer (Dial/Queue option ``t``) starts the transfer. ``TRANSFER_EXTEN`` on the
        channel, when it names an extension of the context, wins over the digits.
        """
        # panoramisk reads '... successfully queued' as an async Originate's list: not one.
        return await self.send_action({"Action": "Atxfer", "Channel": channel,
                                       "Context": context, "Exten": exten}, as_list=False)

    async def cancel_attended_transfer(self, channel: str) -> AmiResponse:
        """CancelAtxfer: the ``atxferabort`` code on the transferer; back to its peer."""
        return await self.send_action({"Action": "CancelAtxfer", "Channel": channel},
                                      as_list=False)

    async def set_var(self, channel: str, variable: str, value: str) -> AmiResponse:
        """Setvar on a channel."""
        return await self.send_action({"Action": "Setvar", "Channel": channel,
                                       "Variable": variable, "Value": value})

    async def hangup(self, channel: str, cause: int | None = None) -> AmiResponse:
        """Hangup a channel (name or regex ``/.../``)."""
        return await self.send_action(compact({"Action": "Hangup", "Channel": channel,
                                               "Cause": cause}))

    async def command(self, command: str) -> list[str]:
        """A CLI command; its output lines."""
        resp = await self.send_action({"Action": "Command", "Command": command})
        output = resp.headers.get("Output", [])
        return output if isinstance(output, list) else [output]
