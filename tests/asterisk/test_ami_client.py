"""The AMI client against a TCP server replaying recorded Asterisk 22 AMI transcripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from ami_replay import AmiReplayServer, load_ami
from panoramisk.message import Message
from structlog.testing import capture_logs

from callcenter.asterisk import AmiActionError, AmiClient, AmiError, AmiEvent, Backoff
from callcenter.asterisk.ami.protocol import parse_message

WAIT = 5.0


def make_ami(server: AmiReplayServer, **kwargs: object) -> AmiClient:
    kwargs.setdefault("backoff", Backoff(initial=0.01, maximum=0.05))
    return AmiClient("127.0.0.1", server.port, "callcenter", "callcenter", node="pbx1", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def queue_server() -> AsyncIterator[AmiReplayServer]:
    server = AmiReplayServer(*load_ami("ami-queue-answered.txt"))
    await server.start()
    yield server
    await server.close()


async def test_queue_scenario_actions_return_recorded_answers_and_events(queue_server) -> None:
    ami = make_ami(queue_server)
    queue_events: list[AmiEvent] = []
    ami.on("Queue*", queue_events.append)
    agent_done: asyncio.Future[AmiEvent] = asyncio.get_running_loop().create_future()
    ami.on("AgentComplete", lambda e: agent_done.set_result(e))
    booted: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def resync(client: AmiClient) -> None:
        booted.done() or booted.set_result(None)

    ami.on_resync(resync)
    await ami.connect(wait_seconds=WAIT)
    async with asyncio.timeout(WAIT):
        await booted
        added = await ami.queue_add("hotline", "Local/agent1@agents-sim/n", member_name="Agent 1",
                                    penalty=0, paused=False)
        paused = await ami.queue_pause("hotline", "Local/agent1@agents-sim/n", True, reason="coffee")
        await ami.queue_pause("hotline", "Local/agent1@agents-sim/n", False)
        result = await ami.originate("Local/hotline@queue-entry/n", application="Wait", data="60",
                                     caller_id="Caller <5551234>")
        status = await ami.queue_status("hotline")
        summary = await ami.queue_summary("hotline")
        channels = await ami.core_show_channels()
        await ami.queue_status("hotline")
        await ami.hangup("Local/hotline@queue-entry-00000050;1", cause=16)
        complete = await agent_done
        await ami.dispatcher.drain()
    await ami.close()
    assert added.message == "Added interface to queue"
    assert paused.message == "Interface paused successfully"
    assert result.success and result.reason == 4 and result.outcome == "answered"
    assert result.uniqueid and result.channel.endswith(";1")
    assert [e.name for e in status] == ["QueueParams", "QueueMember", "QueueEntry"]
    assert status[2].get("Wait") == "1"
    assert summary and summary[0].get("Queue") == "hotline"
    assert len(channels) == 4
    assert complete.get("Reason") == "caller" and complete.node == "pbx1"
    names = [e.name for e in queue_events]
    assert names.index("QueueCallerJoin") < names.index("QueueCallerLeave")
    assert "QueueMemberPause" in names and "QueueMemberAdded" in names
    assert all(e.name.startswith("Queue") for e in queue_events)


async def test_originate_outcomes_follow_originate_response_reason() -> None:
    greeting, steps = load_ami("ami-originate.txt")
    server = AmiReplayServer(greeting, steps)
    await server.start()
    ami = make_ami(server)
    await ami.connect(wait_seconds=WAIT)
    outcomes = []
    async with asyncio.timeout(WAIT):
        for dial in ["Local/answer@people", "Local/busy@people", "Local/congestion@people",
                     "Local/noanswer@people", "Local/s@no-such-context"]:
            res = await ami.originate(dial, application="Wait", data="2")
            outcomes.append((res.success, res.reason, res.outcome, res.uniqueid))
        with pytest.raises(AmiActionError, match="Extension does not exist"):
            await ami.originate("Local/answer@people", context="no-such-context", exten="s",
                                priority=1)
        foo = await ami.originate("Foo/bar", application="Wait", data="2")
    await ami.close()
    await server.close()
    assert [o[:3] for o in outcomes] == [
        (True, 4, "answered"), (False, 5, "busy"), (False, 8, "congestion"),
        (False, 3, "no_answer"), (False, 0, "failed")]
    assert outcomes[1][3] is None  # Uniqueid: <unknown> on failure
    assert not foo.success and foo.reason == 0


async def test_a_session_deaf_to_call_events_refuses_to_originate_before_dialling() -> None:
    """Its OriginateResponse (class call) would never come: the caller would wait out the
    ring timeout for nothing, while the call may ring somewhere."""
    greeting, steps = load_ami("ami-originate.txt")
    server = AmiReplayServer(greeting, steps)
    await server.start()
    ami = make_ami(server, events="agent")
    await ami.connect(wait_seconds=WAIT)
    try:
        async with asyncio.timeout(WAIT):
            with pytest.raises(AmiError, match="class call") as info:
                await ami.originate("Local/answer@people", application="Wait", data="2")
    finally:
        await ami.close()
        await server.close()
    assert info.value.action == "Originate" and info.value.node == "pbx1"
    assert not [m for m in server.received if m.get("Action") == "Originate"]


async def test_garbage_and_truncated_messages_do_not_crash_and_client_reconnects() -> None:
    greeting, steps = load_ami("ami-queue-answered.txt")
    server = AmiReplayServer(greeting, steps[:1], extra=[
        b"\x00\xff\xfe garbage without structure\r\n\r\n",
        b"no colon here\r\nnor here\r\n\r\n",
        b"Event: UserEvent\r\nUserEvent: Good\r\nChannel: x\r\n\r\n",
        b"Response: Success\r\nActionID: nobody-asked\r\n\r\n",
        b"Event: Trunc",  # truncated: the connection closes mid-message
    ])
    await server.start()
    ami = make_ami(server)
    good: asyncio.Future[AmiEvent] = asyncio.get_running_loop().create_future()
    ami.on("UserEvent", lambda e: good.done() or good.set_result(e))
    boots = asyncio.Queue[int]()

    async def resync(client: AmiClient) -> None:
        boots.put_nowait(1)

    ami.on_resync(resync)
    with capture_logs() as logs:
        await ami.connect(wait_seconds=WAIT)
        async with asyncio.timeout(WAIT):
            event = await good
            await boots.get()
            await boots.get()  # a second FullyBooted: reconnected and logged in again
    await ami.close()
    await server.close()
    assert event.get("UserEvent") == "Good"
    assert server.connections >= 2
    assert any(r["event"] == "ami disconnected" for r in logs)


async def test_refused_connection_is_retried_and_logged() -> None:
    server = AmiReplayServer(*load_ami("ami-queue-answered.txt"))
    await server.start()
    port = server.port
    await server.close()
    ami = AmiClient("127.0.0.1", port, "u", "s", node="pbx1", backoff=Backoff(0.01, 0.02))
    with capture_logs() as logs:
        with pytest.raises(Exception, match="no AMI login"):
            await ami.connect(wait_seconds=0.2)
    await ami.close()
    assert sum(r["event"] == "ami connect failed" for r in logs) >= 2
    assert isinstance(ami.last_error, OSError)


async def test_action_when_disconnected_raises_connection_error() -> None:
    ami = AmiClient("127.0.0.1", 1, "u", "s", node="pbx1")
    from callcenter.asterisk import AmiConnectionError
    with pytest.raises(AmiConnectionError) as info:
        await ami.queue_status()
    assert info.value.node == "pbx1" and info.value.action == "QueueStatus"


async def test_unparseable_ami_bytes_are_logged_and_later_events_still_dispatched() -> None:
    greeting, steps = load_ami("ami-queue-answered.txt")
    server = AmiReplayServer(greeting, steps[:1], extra=[
        b"\x00\xff\xfe\x80 binary junk\r\n\r\n",
        b"no colon here\r\nnor here\r\n\r\n",
        b"x" * 5000 + b"\r\n\r\n",
        b"Event: UserEvent\r\nUserEvent: AfterJunk\r\n\r\n",
        b"Event: Trunc",  # truncated: the connection closes mid-message
    ])
    await server.start()
    ami = make_ami(server)
    good: asyncio.Future[AmiEvent] = asyncio.get_running_loop().create_future()
    ami.on("UserEvent", lambda e: good.done() or good.set_result(e))
    boots = asyncio.Queue[int]()

    async def resync(client: AmiClient) -> None:
        boots.put_nowait(1)

    ami.on_resync(resync)
    with capture_logs() as logs:
        await ami.connect(wait_seconds=WAIT)
        async with asyncio.timeout(WAIT):
            event = await good
            await boots.get()
            await boots.get()  # reconnected: the truncated tail was seen at the disconnect
    await ami.close()
    await server.close()
    assert event.get("UserEvent") == "AfterJunk" and event.node == "pbx1"
    garbage = [r for r in logs if r["event"] == "ami garbage received"]
    assert all(r["log_level"] == "warning" and r["node"] == "pbx1" for r in garbage)
    excerpts = [r["excerpt"] for r in garbage]
    assert r"\x00\xff\xfe\x80 binary junk" in excerpts[0]
    assert "no colon here" in excerpts[1]
    assert len(excerpts[2]) < 200 and garbage[2]["size"] == 5000
    assert any(r["excerpt"] == "Event: Trunc" and r["reason"] == "truncated at disconnect"
               for r in garbage)


def _wire_messages() -> list[str]:
    """Every message Asterisk sent in the recorded AMI transcripts, as its wire text."""
    texts: list[str] = []
    for name in ("ami-originate.txt", "ami-queue-answered.txt", "ami-queue-abandoned.txt"):
        greeting, steps = load_ami(name)
        for reply in [greeting, *(step.reply for step in steps)]:
            texts.extend(block.strip() for block in reply.split("\r\n\r\n") if block.strip())
    return texts


ODD_MESSAGES = [
    "Response: Follows\r\nActionID: 7\r\nPrivilege: Command\r\nline one\r\nline two\r\n--END COMMAND--",
    "Response: Fail\r\nActionID: 8\r\n\r\nMessage: gone",
    "Event: VarSet\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nChanVariable: C=3",
    "Event: AGIExecEnd\r\nResult: 200%20result%3D1%20",
    "Event: Odd\r\nevent: lower\r\nEVENT: upper\r\nno colon here\r\nEmpty: \r\nSpaced:  two",
    "Message: neither an event nor a response",
    "EVENT: shouted\r\nPrivilege: call,all",
    "response: Success\r\nActionID: 9",
    "Response: Success\r\nContent: a header of that name\r\nX: y: z",
]


def test_an_ami_message_parses_as_panoramisk_parses_it() -> None:
    texts = [*_wire_messages(), *ODD_MESSAGES]
    assert len(texts) > 100
    for text in texts:
        ours, theirs = parse_message(text), Message.from_line(text)
        if theirs is None:
            assert ours is None, text
            continue
        assert ours is not None, text
        assert list(ours.items()) == list(theirs.items()), text
        assert (ours.manager, ours.content, ours.id, ours.action_id, ours.success) == (
            theirs.manager, theirs.content, theirs.id, theirs.action_id, theirs.success), text
