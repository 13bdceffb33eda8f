"""AMI and FastAGI behaviours the product relies on."""

from __future__ import annotations

import asyncio

from contract.conftest import Pbx
from contract.wire import AmiClient, event

QUEUE_ANSWERED = ["QueueCallerJoin", "AgentCalled", "QueueMemberStatus", "QueueCallerLeave",
                  "AgentConnect", "AgentComplete"]


def names(ami: AmiClient, wanted: set[str], start: int = 0) -> list[str]:
    """Event names of interest, in wire order."""
    return [m["Event"] for m in ami.messages[start:] if m.get("Event") in wanted]


async def test_login_sends_fully_booted(ami: AmiClient) -> None:
    assert ami.banner.startswith("Asterisk Call Manager/")
    await ami.wait_for(event("FullyBooted"))


async def test_originate_busy_gives_reason_5_and_cause_17(pbx: Pbx, ami: AmiClient) -> None:
    aid = await ami.send("Originate", Channel="Local/busy@people", Application="Wait",
                         Data="1", Async="true")
    resp = await ami.wait_for(lambda m: m.get("ActionID") == aid and "Response" in m)
    assert resp["Message"] == "Originate successfully queued"
    result = await ami.wait_for(event("OriginateResponse", ActionID=aid), advance=pbx.tick)
    assert result["Response"] == "Failure" and result["Reason"] == "5"
    assert result["Uniqueid"] == "<unknown>"
    hangups = [m for m in ami.messages if m.get("Event") == "Hangup"
               and m["Channel"].startswith("Local/busy@people")]
    assert {m["Cause"] for m in hangups} >= {"17"}


async def test_answered_queue_call_event_sequence(pbx: Pbx, ami: AmiClient) -> None:
    await ami.action("QueueAdd", Queue="hotline", Interface="Local/agent1@agents-sim/n",
                     MemberName="Agent 1", Penalty="0", Paused="false")
    start = len(ami.messages)
    try:
        await ami.send("Originate", Channel="Local/hotline@queue-entry/n", Application="Wait",
                       Data="60", CallerID="Caller <5551234>", Async="true")
        connect = await ami.wait_for(event("AgentConnect"), start, advance=pbx.tick)
        caller_phone = connect["Channel"].replace(";2", ";1")
        await pbx.advance(3)
        await ami.action("Hangup", Channel=caller_phone, Cause="16")
        done = await ami.wait_for(event("AgentComplete"), start, advance=pbx.tick)
        assert done["Reason"] == "caller"
        await ami.wait_for(event("QueueMemberStatus", Status="1", CallsTaken="1"), start,
                           advance=pbx.tick)
        seen = names(ami, set(QUEUE_ANSWERED), start)
        assert [n for n in seen if n != "QueueMemberStatus"] == [
            "QueueCallerJoin", "AgentCalled", "QueueCallerLeave", "AgentConnect", "AgentComplete"]
        assert seen.index("QueueMemberStatus") < seen.index("QueueCallerLeave")
        cdrs = [m for m in ami.messages[start:] if m.get("Event") == "Cdr"]
        assert any(c["LastApplication"] == "Queue" and c["Disposition"] == "ANSWERED" for c in cdrs)
    finally:
        await ami.action("QueueRemove", Queue="hotline", Interface="Local/agent1@agents-sim/n")


async def test_abandoned_queue_call_event_sequence(pbx: Pbx, ami: AmiClient) -> None:
    await ami.action("QueueAdd", Queue="hotline", Interface="Local/agent_ring@agents-sim/n",
                     MemberName="Agent Ring", Paused="false")
    start = len(ami.messages)
    try:
        await ami.send("Originate", Channel="Local/hotline@queue-entry/n", Application="Wait",
                       Data="60", CallerID="Caller <5551234>", Async="true")
        join = await ami.wait_for(event("QueueCallerJoin"), start, advance=pbx.tick)
        await ami.wait_for(event("DialState", DialStatus="RINGING"), start, advance=pbx.tick)
        await pbx.advance(4)
        await ami.action("Hangup", Channel=join["Channel"].replace(";2", ";1"), Cause="16")
        abandon = await ami.wait_for(event("QueueCallerAbandon"), start, advance=pbx.tick)
        assert abandon["Position"] == "1" and abandon["OriginalPosition"] == "1"
        assert int(abandon["HoldTime"]) >= 4
        await ami.wait_for(event("QueueCallerLeave"), start, advance=pbx.tick)
        seen = names(ami, {"QueueCallerJoin", "AgentCalled", "QueueCallerAbandon",
                           "QueueCallerLeave"}, start)
        assert seen == ["QueueCallerJoin", "AgentCalled", "QueueCallerAbandon", "QueueCallerLeave"]
        cancel = [m for m in ami.messages[start:] if m.get("Event") == "DialEnd"
                  and m.get("DialStatus") == "CANCEL"]
        assert cancel
    finally:
        await ami.action("QueueRemove", Queue="hotline", Interface="Local/agent_ring@agents-sim/n")


async def test_fastagi_request_carries_the_agi_variables(pbx: Pbx, ami: AmiClient) -> None:
    received: asyncio.Queue[dict[str, str]] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        env: dict[str, str] = {}
        while (line := (await reader.readline()).decode().rstrip("\n")):
            key, _, value = line.partition(": ")
            env[key] = value
        writer.write(b"GET VARIABLE CALLERID(num)\n")
        env["reply"] = (await reader.readline()).decode().strip()
        writer.write(b"SET VARIABLE QUEUE_PRIORITY 5\n")
        await reader.readline()
        writer.close()
        received.put_nowait(env)

    port = 4573
    if pbx.sim is not None:
        port = 0
    server = await asyncio.start_server(serve, "127.0.0.1", port)
    port = server.sockets[0].getsockname()[1]
    if pbx.sim is not None:
        pbx.sim.dialplan.agi_url = f"agi://127.0.0.1:{port}/route?lang=zh"
    try:
        await ami.send("Originate", Channel="Local/agi@agi-test/n", Application="Wait",
                       Data="10", CallerID="Caller <5551234>", Async="true")
        async with asyncio.timeout(10):
            while received.empty():
                await pbx.tick()
                await asyncio.sleep(0.01) if pbx.sim is None else None
                if received.empty():
                    await asyncio.wait([asyncio.ensure_future(received.get())], timeout=0.05)
        env = received.get_nowait() if not received.empty() else None
    finally:
        server.close()
    assert env is not None
    assert env["agi_network"] == "yes" and env["agi_network_script"] == "route?lang=zh"
    assert env["agi_request"].endswith("/route?lang=zh") and env["agi_callerid"] == "5551234"
    assert env["agi_context"] == "agi-test" and env["agi_extension"] == "agi"
    assert env["reply"] == "200 result=1 (5551234)"
    result = await ami.wait_for(event("UserEvent", UserEvent="AGIResult"), advance=pbx.tick)
    assert result["AGIStatus"] == "SUCCESS" and result["QueuePriority"] == "5"
