"""app_queue in the simulator: strategies, penalties, pause, wrap-up and the ring timeout.

Event shapes are compared with the real Asterisk 22.10.1 transcripts
(``ami-queue-*.txt``) and with what the same scenarios gave on a real 22.10.1
(queue ``hotline``: ringall, timeout 15, retry 2): after the ring timeout,
``AgentRingNoAnswer`` (RingTime in ms) then ``DialEnd NOANSWER`` and ``DialEnd CANCEL``,
and the same penalty-0 member is rung again; a penalty-1 member is never rung
while a penalty-0 one is available; a paused penalty-0 member is skipped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from pbxsim.wire import AmiClient, event, trace_messages

RING = "Local/agent_ring@agents-sim/n"  # rings, never answers
AGENTS = ["PJSIP/7001", "PJSIP/7002", "PJSIP/7003"]  # answer after 1 s, hang up after 3 s
SHAPE = {"QueueCallerJoin", "AgentCalled", "DialState", "AgentRingNoAnswer", "DialEnd",
         "AgentConnect", "AgentComplete", "QueueCallerAbandon", "QueueCallerLeave"}


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as s:
        for iface in AGENTS:
            s.set_person(iface.split("/")[1], Person(behaviour="answer", ring_seconds=1,
                                                     hangup_after=3))
        yield s


@pytest.fixture
async def ami(sim: PbxSimulator) -> AsyncIterator[AmiClient]:
    client = AmiClient(sim.host, sim.ami_port, "callcenter", "callcenter")
    await client.connect()
    yield client
    await client.close()


async def configure(sim: PbxSimulator, **settings: Any) -> None:
    """PUT /control/queues/hotline, as a developer configures the simulator."""
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{sim.control_url}/control/queues/hotline", json=settings) as r:
            assert r.status == 200, await r.text()


async def add(ami: AmiClient, interface: str, penalty: int = 0, paused: bool = False) -> None:
    resp = await ami.action("QueueAdd", Queue="hotline", Interface=interface,
                            MemberName=interface, Penalty=str(penalty),
                            Paused="true" if paused else "false")
    assert resp["Response"] == "Success", resp


async def queue_call(sim: PbxSimulator, ami: AmiClient) -> dict[str, str]:
    """A caller enters the queue; returns its QueueCallerJoin."""
    start = len(ami.messages)
    await ami.send("Originate", Channel="Local/hotline@queue-entry/n", Application="Wait",
                   Data="60", CallerID="Caller <5551234>", Async="true")
    return await ami.wait_for(event("QueueCallerJoin"), start, advance=tick(sim))


def tick(sim: PbxSimulator, seconds: float = 0.25) -> Any:
    return lambda: sim.advance(seconds)


async def answered_by(sim: PbxSimulator, ami: AmiClient) -> str:
    """One whole queue call: who took it (the call ends when the agent hangs up)."""
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    same = {"Channel": join["Channel"]}
    connect = await ami.wait_for(event("AgentConnect", **same), start, advance=tick(sim))
    await ami.wait_for(event("AgentComplete", **same), start, advance=tick(sim))
    await ami.wait_for(event("QueueMemberStatus", Interface=connect["Interface"], Status="1"),
                       start, advance=tick(sim))
    await sim.advance(1)  # calls are a second apart: leastrecent orders by the end time
    return connect["Interface"]


def shape(messages: list[dict[str, str]]) -> list[str]:
    """Queue and dial events from the caller's QueueCallerJoin, as ``Event [STATUS]``."""
    out: list[str] = []
    for m in messages:
        name = m.get("Event", "")
        if not out and name != "QueueCallerJoin":
            continue  # the originate's own DialBegin/DialEnd
        if name in SHAPE:
            out.append(f"{name} {m['DialStatus']}" if "DialStatus" in m else name)
    return out


async def test_leastrecent_rings_the_member_idle_longest(sim: PbxSimulator, ami: AmiClient) -> None:
    await configure(sim, strategy="leastrecent")
    for iface in AGENTS:
        await add(ami, iface)
    takers = [await answered_by(sim, ami) for _ in range(4)]
    assert sorted(takers[:3]) == AGENTS  # never-called members first, one call each
    assert takers[3] == takers[0]  # then whoever finished longest ago


async def test_leastrecent_rings_one_member_at_a_time(sim: PbxSimulator, ami: AmiClient) -> None:
    await configure(sim, strategy="leastrecent")
    for iface in AGENTS:
        await add(ami, iface)
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    await ami.wait_for(event("AgentConnect", Channel=join["Channel"]), start, advance=tick(sim))
    assert len([m for m in ami.messages[start:] if m.get("Event") == "AgentCalled"]) == 1


async def test_rrmemory_goes_round_the_members_in_order(sim: PbxSimulator, ami: AmiClient) -> None:
    await configure(sim, strategy="rrmemory")
    for iface in AGENTS:
        await add(ami, iface)
    assert [await answered_by(sim, ami) for _ in range(4)] == [*AGENTS, AGENTS[0]]


async def test_rrmemory_skips_a_paused_member_and_remembers_its_place(
        sim: PbxSimulator, ami: AmiClient) -> None:
    await configure(sim, strategy="rrmemory")
    for iface in AGENTS:
        await add(ami, iface)
    assert await answered_by(sim, ami) == AGENTS[0]
    await ami.action("QueuePause", Queue="hotline", Interface=AGENTS[1], Paused="true")
    assert await answered_by(sim, ami) == AGENTS[2]
    await ami.action("QueuePause", Queue="hotline", Interface=AGENTS[1], Paused="false")
    assert await answered_by(sim, ami) == AGENTS[0]


async def test_ring_timeout_moves_rrmemory_to_the_next_member(
        sim: PbxSimulator, ami: AmiClient) -> None:
    await configure(sim, strategy="rrmemory", timeout=15, retry=2)
    await add(ami, RING)
    await add(ami, AGENTS[0])
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    connect = await ami.wait_for(event("AgentConnect", Channel=join["Channel"]), start,
                                 advance=tick(sim))
    assert connect["Interface"] == AGENTS[0]
    # 15 s ringing the first member, 2 s retry, 1 s ringing the second one.
    assert connect["HoldTime"] == "18" and connect["RingTime"] == "1"
    no_answer = next(m for m in ami.messages[start:] if m.get("Event") == "AgentRingNoAnswer")
    assert no_answer["Interface"] == RING and no_answer["RingTime"] == "15000"  # milliseconds
    assert shape(ami.messages[start:]) == [
        "QueueCallerJoin", "AgentCalled", "DialState RINGING", "AgentRingNoAnswer",
        "DialEnd NOANSWER", "DialEnd CANCEL",
        "AgentCalled", "DialState RINGING", "DialEnd ANSWER", "QueueCallerLeave", "AgentConnect"]


async def test_ringall_rings_only_the_lowest_penalty_again_after_the_timeout(
        sim: PbxSimulator, ami: AmiClient) -> None:
    await add(ami, RING, penalty=0)
    await add(ami, AGENTS[0], penalty=1)
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    await sim.advance(21)
    await ami.action("Hangup", Channel=join["Channel"].replace(";2", ";1"), Cause="16")
    await ami.wait_for(event("QueueCallerLeave"), start, advance=tick(sim))
    called = [m["Interface"] for m in ami.messages[start:] if m.get("Event") == "AgentCalled"]
    assert called == [RING, RING]  # as on the real 22.10.1: penalty 1 waits
    assert shape(ami.messages[start:]) == [
        "QueueCallerJoin", "AgentCalled", "DialState RINGING", "AgentRingNoAnswer",
        "DialEnd NOANSWER", "DialEnd CANCEL", "AgentCalled", "DialState RINGING",
        "DialEnd CANCEL", "DialEnd CANCEL", "QueueCallerAbandon", "QueueCallerLeave"]


async def test_paused_lowest_penalty_member_lets_the_next_penalty_ring(
        sim: PbxSimulator, ami: AmiClient) -> None:
    await add(ami, RING, penalty=0, paused=True)
    await add(ami, AGENTS[0], penalty=1)
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    connect = await ami.wait_for(event("AgentConnect", Channel=join["Channel"]), start,
                                 advance=tick(sim))
    assert connect["Interface"] == AGENTS[0]
    assert [m["Interface"] for m in ami.messages[start:]
            if m.get("Event") == "AgentCalled"] == [AGENTS[0]]


async def test_paused_member_is_not_rung_and_the_caller_abandons_like_the_trace(
        sim: PbxSimulator, ami: AmiClient) -> None:
    await add(ami, "Local/agent1@agents-sim/n", paused=True)
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    await sim.advance(3)
    await ami.action("Hangup", Channel=join["Channel"].replace(";2", ";1"), Cause="16")
    abandon = await ami.wait_for(event("QueueCallerAbandon"), start, advance=tick(sim))
    await ami.wait_for(event("QueueCallerLeave"), start, advance=tick(sim))
    real = trace_messages("ami-queue-abandoned.txt")
    case_b = next(i for i, m in enumerate(real) if "case B" in m.get("Note", ""))
    assert shape(ami.messages[start:]) == shape(real[:case_b])
    assert abandon["HoldTime"] == "3" and abandon["OriginalPosition"] == "1"


async def test_unpausing_rings_the_member_for_a_waiting_caller(
        sim: PbxSimulator, ami: AmiClient) -> None:
    await add(ami, AGENTS[0], paused=True)
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    await sim.advance(5)
    assert not any(m.get("Event") == "AgentCalled" for m in ami.messages[start:])
    resp = await ami.action("QueuePause", Queue="hotline", Interface=AGENTS[0], Paused="false")
    assert resp["Message"] == "Interface unpaused successfully"
    connect = await ami.wait_for(event("AgentConnect", Channel=join["Channel"]), start,
                                 advance=tick(sim))
    assert int(connect["HoldTime"]) in (6, 7)  # picked up within the next second's check


async def test_abandon_while_ringing_matches_the_trace(sim: PbxSimulator, ami: AmiClient) -> None:
    await add(ami, RING)
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    await sim.advance(4)
    await ami.action("Hangup", Channel=join["Channel"].replace(";2", ";1"), Cause="16")
    await ami.wait_for(event("QueueCallerLeave"), start, advance=tick(sim))
    real = trace_messages("ami-queue-abandoned.txt")
    case_b = next(i for i, m in enumerate(real) if "case B" in m.get("Note", ""))
    assert shape(ami.messages[start:]) == shape(real[case_b:])  # DialEnd CANCEL twice


async def test_wrapup_time_keeps_the_member_free_of_calls_after_each_call(
        sim: PbxSimulator, ami: AmiClient) -> None:
    await add(ami, AGENTS[0])
    await configure(sim, wrapuptime=5)  # after QueueAdd: read when ringing, not copied
    assert await answered_by(sim, ami) == AGENTS[0]  # ends 1 s before the next call
    start = len(ami.messages)
    join = await queue_call(sim, ami)
    await sim.advance(3)  # 4 s after the call ended: still wrapping up
    assert not any(m.get("Event") == "AgentCalled" for m in ami.messages[start:])
    connect = await ami.wait_for(event("AgentConnect", Channel=join["Channel"]), start,
                                 advance=tick(sim))
    assert connect["Interface"] == AGENTS[0] and int(connect["HoldTime"]) >= 4


async def test_a_softphone_member_reads_ringing_then_in_use_then_not_in_use(
        sim: PbxSimulator, ami: AmiClient) -> None:
    # A PJSIP member's device: ringing (6) while rung, in use (2) once it answers, not in
    # use (1) after the call with InCall 0 (app_queue's update_status: the call completed).
    # A Local member reads in use from its first ring instead (ami-queue-answered.txt).
    await add(ami, AGENTS[0])
    start = len(ami.messages)
    await answered_by(sim, ami)
    statuses = [(m["Status"], m["InCall"]) for m in ami.messages[start:]
                if m.get("Event") == "QueueMemberStatus" and m["Interface"] == AGENTS[0]]
    assert [s for s, _ in statuses] == ["6", "2", "1"]
    assert statuses[-1][1] == "0"
    local = [(m["Status"], m["InCall"]) for m in trace_messages("ami-queue-answered.txt")
             if m.get("Event") == "QueueMemberStatus"]
    assert local == [("2", "0"), ("1", "0")]


async def test_a_session_that_asks_for_agent_events_gets_those_only(
    sim: PbxSimulator, ami: AmiClient,
) -> None:
    """``Events: agent`` at login (manager.c strings_to_mask): that session hears the queue's
    agent-class events of a call and none of its channel, dialplan or system events."""
    agents_only = AmiClient(sim.host, sim.ami_port, "callcenter", "callcenter", events="agent")
    await agents_only.connect()
    try:
        await add(ami, AGENTS[0])
        await answered_by(sim, ami)
        await agents_only.wait_for(event("AgentComplete"), advance=tick(sim))
        heard = [m for m in agents_only.messages if "Event" in m]
        assert {"QueueCallerJoin", "AgentCalled", "AgentConnect", "AgentComplete",
                "QueueMemberStatus"} <= {m["Event"] for m in heard}
        assert all("agent" in m["Privilege"].split(",") for m in heard), heard
        everything = {m.get("Event") for m in ami.messages}
        assert {"FullyBooted", "Newchannel", "Hangup", "AgentCalled"} <= everything
    finally:
        await agents_only.close()


async def test_a_queue_that_refuses_the_empty_lets_no_caller_in_while_nobody_can_be_rung(
    sim: PbxSimulator, ami: AmiClient,
) -> None:
    """``joinempty = unavailable,invalid``: QUEUESTATUS JOINEMPTY, no queue event; a bad
    setting is refused and changes nothing."""
    async with aiohttp.ClientSession() as session:
        async with session.put(f"{sim.control_url}/control/queues/hotline",
                               json={"refuse_empty": "yes", "maxlen": 3}) as r:
            assert r.status == 400 and "refuse_empty" in await r.text()
    assert (sim.queues.queues["hotline"].refuse_empty, sim.queues.queues["hotline"].maxlen) == (
        False, 0)
    await configure(sim, refuse_empty=True)
    start = len(ami.messages)
    await ami.send("Originate", Channel="Local/hotline@queue-entry/n", Application="Wait",
                   Data="60", CallerID="Caller <5551234>", Async="true")
    result = await ami.wait_for(event("UserEvent", UserEvent="QueueResult"), start,
                                advance=tick(sim))
    assert result["QueueStatus"] == "JOINEMPTY"
    assert not [m for m in ami.messages[start:] if m.get("Event", "").startswith("QueueCaller")]
    await add(ami, AGENTS[0])
    assert (await queue_call(sim, ami))["Queue"] == "hotline"  # someone to ring: let in
