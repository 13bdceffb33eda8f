"""The AMI queue and agent actions and events the hotline relies on (agents.py, calls.py,
callbacks.py, transfer.py), through the product's AmiClient, on the traces' dialplan."""

from __future__ import annotations

import pytest

from callcenter.asterisk import AmiActionError, AmiClient, AmiEvent
from callcenter.asterisk.ami import ami_client_for
from contract.conftest import Ami, Pbx, Seen, ami_event

MEMBER = "Local/agent1@agents-sim/n"
RINGER = "Local/agent_ring@agents-sim/n"


async def call_the_queue(pbx: Pbx, client: AmiClient, wait: int = 30) -> None:
    """A caller (its phone half waits ``wait`` s) enters ``[queue-entry]``."""
    await pbx.run(client.originate("Local/hotline@queue-entry/n", application="Wait",
                                   data=str(wait), caller_id="Caller <5551234>"))


async def test_member_added_paused_with_a_reason_listed_then_removed(pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    start = ami.seen.mark()
    await client.queue_add("hotline", MEMBER, member_name="agent1", paused=False)
    try:
        added = await ami.seen.wait_for(ami_event("QueueMemberAdded", Interface=MEMBER), start)
        assert added.get("MemberName") == "agent1" and added.get("Paused") == "0"
        assert added.get("Queue") == "hotline" and added.get("Status").isdigit()
        with pytest.raises(AmiActionError):  # the same member twice: a clear error
            await client.queue_add("hotline", MEMBER, member_name="agent1")
        await client.queue_pause(None, MEMBER, True, reason="training")
        paused = await ami.seen.wait_for(ami_event("QueueMemberPause", Interface=MEMBER,
                                                   Paused="1"), start)
        assert paused.get("PausedReason") == "training" and paused.get("MemberName") == "agent1"
        listed = [e for e in await client.queue_status("hotline", member=MEMBER)
                  if e.name == "QueueMember"]
        assert [(m.get("Name"), m.get("Location"), m.get("Paused"), m.get("PausedReason"))
                for m in listed] == [("agent1", MEMBER, "1", "training")]
        assert listed[0].get("InCall") == "0"
        await client.queue_pause("hotline", MEMBER, False)
        await ami.seen.wait_for(ami_event("QueueMemberPause", Interface=MEMBER, Paused="0"),
                                start)
    finally:
        await client.queue_remove("hotline", MEMBER)
    await ami.seen.wait_for(ami_event("QueueMemberRemoved", Interface=MEMBER), start)
    with pytest.raises(AmiActionError):
        await client.queue_remove("hotline", MEMBER)
    with pytest.raises(AmiActionError):
        await client.queue_pause(None, MEMBER, True, reason="gone")


async def test_a_waiting_caller_is_listed_with_its_uniqueid_and_read_by_getvar(
        pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    await client.queue_add("hotline", MEMBER, member_name="agent1", paused=True)
    start = ami.seen.mark()
    caller = ""
    try:
        await call_the_queue(pbx, client)
        join = await ami.seen.wait_for(ami_event("QueueCallerJoin"), start)
        caller = join.get("Channel").replace(";2", ";1")
        await pbx.advance(2)
        entries = [e for e in await client.queue_status("hotline") if e.name == "QueueEntry"
                   and e.get("Uniqueid") == join.get("Uniqueid")]
        assert [(e.get("Position"), e.get("Priority")) for e in entries] == [
            (join.get("Position"), "0")]
        assert int(entries[0].get("Wait")) >= 2
        read = await client.send_action({"Action": "Getvar", "Channel": join.get("Channel"),
                                         "Variable": "CALLERID(num)"})
        assert read.headers.get("Value") == "5551234"
        await client.hangup(caller, cause=16)
        caller = ""
        await ami.seen.wait_for(ami_event("QueueCallerAbandon", Uniqueid=join.get("Uniqueid")),
                                start)
    finally:
        if caller:
            await client.hangup(caller, cause=16)
        await client.queue_remove("hotline", MEMBER)


async def test_ring_no_answer_names_the_member_and_its_ring_time(pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    await client.queue_add("hotline", RINGER, member_name="ringer", paused=False)
    start = ami.seen.mark()
    try:
        await call_the_queue(pbx, client, wait=60)
        called = await ami.seen.wait_for(ami_event("AgentCalled", Interface=RINGER), start)
        assert called.get("MemberName") == "ringer" and called.get("Linkedid")
        await pbx.advance(16)
        missed = await ami.seen.wait_for(ami_event("AgentRingNoAnswer", Interface=RINGER), start)
        assert missed.get("MemberName") == "ringer" and int(missed.get("RingTime")) >= 14000
        assert missed.get("Uniqueid") == called.get("Uniqueid")
        await client.hangup(called.get("Channel").replace(";2", ";1"), cause=16)
        await ami.seen.wait_for(ami_event("QueueCallerAbandon"), start)
    finally:
        await client.queue_remove("hotline", RINGER)


async def test_a_talking_member_is_listed_in_call_and_named_at_the_end_then_not_in_use(
        pbx: Pbx, ami: Ami) -> None:
    # What a restarted product reads of a queue call it did not route (recovery.py) and how
    # it learns the end of it (calls.py): the caller in Queue and the member's leg in
    # AppQueue share a bridge; QueueStatus says InCall 1; AgentComplete names the member;
    # its device then reads "Not in use" (Status 1) with InCall 0.
    client = ami.client
    await client.queue_add("hotline", MEMBER, member_name="agent1", paused=False)
    start = ami.seen.mark()
    caller = ""
    try:
        await call_the_queue(pbx, client)
        connect = await ami.seen.wait_for(ami_event("AgentConnect", Interface=MEMBER), start)
        caller = connect.get("Channel").replace(";2", ";1")
        # Asterisk 22 sends AgentConnect before the bridge exists (BridgeCreate and the two
        # BridgeEnter follow): CoreShowChannels is read once both are in it.
        for uniqueid in (connect.get("Uniqueid"), connect.get("DestUniqueid")):
            await ami.seen.wait_for(ami_event("BridgeEnter", Uniqueid=uniqueid), start)
        channels = {c.get("Uniqueid"): c for c in await client.core_show_channels()}
        queued = channels[connect.get("Uniqueid")]
        leg = channels[connect.get("DestUniqueid")]
        assert (queued.get("Application"), leg.get("Application")) == ("Queue", "AppQueue")
        assert queued.get("ApplicationData").split(",")[0] == "hotline"
        assert queued.get("BridgeId") and queued.get("BridgeId") == leg.get("BridgeId")
        assert leg.get("Channel").startswith("Local/agent1@agents-sim-")
        assert all(part.isdigit() for part in queued.get("Duration").split(":"))
        listed = [e for e in await client.queue_status("hotline", member=MEMBER)
                  if e.name == "QueueMember"]
        assert [m.get("InCall") for m in listed] == ["1"]
        at_end = ami.seen.mark()
        await client.hangup(caller, cause=16)
        caller = ""
        done = await ami.seen.wait_for(ami_event("AgentComplete", Interface=MEMBER), at_end)
        assert (done.get("MemberName"), done.get("Queue")) == ("agent1", "hotline")
        free = await ami.seen.wait_for(ami_event("QueueMemberStatus", Interface=MEMBER,
                                                 Status="1"), at_end)
        assert (free.get("InCall"), free.get("MemberName")) == ("0", "agent1")
    finally:
        if caller:
            await client.hangup(caller, cause=16)
        await client.queue_remove("hotline", MEMBER)


async def test_a_session_logged_in_for_agent_events_hears_the_ring_and_no_channel_event(
        pbx: Pbx, ami: Ami) -> None:
    # The screen-pop's own AMI session in a console process (Events: agent): AgentCalled
    # with the caller's Uniqueid and the member's name, and nothing of the call's channels.
    client = ami.client
    agents_only = ami_client_for(pbx.node, events="agent")
    heard: Seen[AmiEvent] = Seen(pbx)
    agents_only.on("*", heard.add)
    await agents_only.connect(wait_seconds=10)
    await client.queue_add("hotline", RINGER, member_name="ringer", paused=False)
    start = ami.seen.mark()
    try:
        await call_the_queue(pbx, client, wait=60)
        join = await heard.wait_for(ami_event("QueueCallerJoin"))
        called = await heard.wait_for(ami_event("AgentCalled", Interface=RINGER))
        assert called.get("MemberName") == "ringer"
        assert called.get("Uniqueid") == join.get("Uniqueid") and called.get("Linkedid")
        await ami.seen.wait_for(ami_event("Newchannel"), start)  # the full session saw them
        assert all("agent" in e.get("Privilege", "").split(",") for e in heard.events), \
            sorted({e.name for e in heard.events})
        await client.hangup(called.get("Channel").replace(";2", ";1"), cause=16)
        await heard.wait_for(ami_event("QueueCallerAbandon"))
    finally:
        await client.queue_remove("hotline", RINGER)
        await agents_only.close()
