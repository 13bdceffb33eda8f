"""AMI and FastAGI behaviours the product relies on, through AmiClient and FastAgiServer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from callcenter.asterisk import AgiRequest, AgiSession, AmiEvent, FastAgiServer
from contract.conftest import REAL, Ami, Pbx, ami_event

QUEUE_ANSWERED = ["QueueCallerJoin", "AgentCalled", "QueueMemberStatus", "QueueCallerLeave",
                  "AgentConnect", "AgentComplete"]


def names(ami: Ami, wanted: set[str], start: int = 0) -> list[str]:
    """Event names of interest, in wire order."""
    return [e.name for e in ami.in_wire_order(start) if e.name in wanted]


async def test_login_sends_fully_booted(ami: Ami) -> None:
    # panoramisk only records a version from an "Asterisk Call Manager/<version>" banner.
    assert ami.client.protocol_version
    await ami.seen.wait_for(ami_event("FullyBooted"))


async def test_originate_busy_gives_reason_5_and_cause_17(pbx: Pbx, ami: Ami) -> None:
    # AmiClient.originate sends Async=true, checks "Originate successfully queued" and
    # returns the OriginateResponse of its ActionID.
    result = await pbx.run(ami.client.originate("Local/busy@people", application="Wait",
                                                data="1"))
    assert result.response is not None
    assert result.response.message == "Originate successfully queued"
    assert not result.success and result.reason == 5 and result.outcome == "busy"
    assert result.uniqueid is None and result.event is not None
    assert result.event.get("Uniqueid") == "<unknown>"
    hangup = await ami.seen.wait_for(
        lambda e: e.name == "Hangup" and e.get("Channel").startswith("Local/busy@people")
        and e.get("Cause") == "17")
    assert hangup.get("Channel").endswith(";2")


async def test_answered_queue_call_event_sequence(pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    await client.queue_add("hotline", "Local/agent1@agents-sim/n", member_name="Agent 1",
                           penalty=0, paused=False)
    start = ami.seen.mark()
    try:
        result = await pbx.run(client.originate(
            "Local/hotline@queue-entry/n", application="Wait", data="60",
            caller_id="Caller <5551234>"))
        assert result.success and result.reason == 4
        connect = await ami.seen.wait_for(ami_event("AgentConnect"), start)
        caller_phone = connect.get("Channel").replace(";2", ";1")
        await pbx.advance(3)
        await client.hangup(caller_phone, cause=16)
        done = await ami.seen.wait_for(ami_event("AgentComplete"), start)
        assert done.get("Reason") == "caller"
        await ami.seen.wait_for(ami_event("QueueMemberStatus", Status="1", CallsTaken="1"), start)
        seen = names(ami, set(QUEUE_ANSWERED), start)
        assert [n for n in seen if n != "QueueMemberStatus"] == [
            "QueueCallerJoin", "AgentCalled", "QueueCallerLeave", "AgentConnect", "AgentComplete"]
        assert seen.index("QueueMemberStatus") < seen.index("QueueCallerLeave")
        cdrs = [e for e in ami.seen.events[start:] if e.name == "Cdr"]
        assert any(c.get("LastApplication") == "Queue" and c.get("Disposition") == "ANSWERED"
                   for c in cdrs)
    finally:
        await client.queue_remove("hotline", "Local/agent1@agents-sim/n")


async def test_abandoned_queue_call_event_sequence(pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    await client.queue_add("hotline", "Local/agent_ring@agents-sim/n", member_name="Agent Ring",
                           paused=False)
    start = ami.seen.mark()
    try:
        await pbx.run(client.originate("Local/hotline@queue-entry/n", application="Wait",
                                       data="60", caller_id="Caller <5551234>"))
        join = await ami.seen.wait_for(ami_event("QueueCallerJoin"), start)
        await ami.seen.wait_for(ami_event("DialState", DialStatus="RINGING"), start)
        await pbx.advance(4)
        await client.hangup(join.get("Channel").replace(";2", ";1"), cause=16)
        abandon = await ami.seen.wait_for(ami_event("QueueCallerAbandon"), start)
        assert abandon.get("Position") == "1" and abandon.get("OriginalPosition") == "1"
        assert int(abandon.get("HoldTime")) >= 4
        await ami.seen.wait_for(ami_event("QueueCallerLeave"), start)
        seen = names(ami, {"QueueCallerJoin", "AgentCalled", "QueueCallerAbandon",
                           "QueueCallerLeave"}, start)
        assert seen == ["QueueCallerJoin", "AgentCalled", "QueueCallerAbandon", "QueueCallerLeave"]
        assert any(e.name == "DialEnd" and e.get("DialStatus") == "CANCEL"
                   for e in ami.seen.events[start:])
    finally:
        await client.queue_remove("hotline", "Local/agent_ring@agents-sim/n")


T = TypeVar("T")


async def through_agi_test(pbx: Pbx, ami: Ami, route: Callable[[AgiSession], Awaitable[T]]
                           ) -> tuple[T, AmiEvent]:
    """A call into ``[agi-test]`` served by ``route``: what it returned, and the
    ``AGIResult`` UserEvent the dialplan sends after the AGI."""
    served: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    async def serve(session: AgiSession) -> None:
        outcome = await route(session)
        if not served.done():
            served.set_result(outcome)

    # The real dialplan calls agi://127.0.0.1:4573; the simulator is pointed at our port.
    agi = FastAgiServer("127.0.0.1:4573" if REAL else "127.0.0.1:0", request_timeout=5)
    agi.add_route("route", serve)
    await agi.start()
    try:
        if pbx.sim is not None:
            pbx.sim.dialplan.agi_url = f"agi://127.0.0.1:{agi.port}/route?lang=zh"
        start = ami.seen.mark()
        await pbx.run(ami.client.originate("Local/agi@agi-test/n", application="Wait",
                                           data="10", caller_id="Caller <5551234>"))
        outcome = await pbx.run(served)
        result = await ami.seen.wait_for(ami_event("UserEvent", UserEvent="AGIResult"), start)
    finally:
        await agi.close()
    return outcome, result


async def test_fastagi_request_carries_the_agi_variables(pbx: Pbx, ami: Ami) -> None:
    async def route(session: AgiSession) -> tuple[AgiRequest, str | None]:
        caller = await session.get_variable("CALLERID(num)")
        await session.set_variable("QUEUE_PRIORITY", "5")
        return session.request, caller

    (request, caller), result = await through_agi_test(pbx, ami, route)
    assert request.env["agi_network"] == "yes"
    assert request.env["agi_network_script"] == "route?lang=zh"
    assert request.script == "route" and request.params == {"lang": "zh"}
    assert request.env["agi_request"].endswith("/route?lang=zh") and request.callerid == "5551234"
    assert request.context == "agi-test" and request.extension == "agi"
    assert caller == "5551234"  # GET VARIABLE answered "200 result=1 (5551234)"
    assert result.get("AGIStatus") == "SUCCESS" and result.get("QueuePriority") == "5"


async def test_fastagi_mset_sets_several_variables_in_one_command(pbx: Pbx, ami: Ami) -> None:
    """The hotline route's decision goes out in one ``EXEC MSet``: each variable set as by
    SET VARIABLE, an empty value included (read back as set, empty), none other touched."""
    async def route(session: AgiSession) -> dict[str, str | None]:
        await session.set_variables({"CALLCENTER_QUEUE": "vip", "QUEUE_PRIORITY": "8",
                                     "CALLCENTER_ELDER_ID": ""})
        return {name: await session.get_variable(name) for name in (
            "CALLCENTER_QUEUE", "QUEUE_PRIORITY", "CALLCENTER_ELDER_ID", "CALLCENTER_NOT_SET")}

    values, result = await through_agi_test(pbx, ami, route)
    assert values == {"CALLCENTER_QUEUE": "vip", "QUEUE_PRIORITY": "8",
                      "CALLCENTER_ELDER_ID": "", "CALLCENTER_NOT_SET": None}
    assert result.get("QueuePriority") == "8"  # read by the dialplan after the AGI
