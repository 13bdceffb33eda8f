"""The screen-pop over the product's path: hotline topic on the bus → relay (two prebuilt
queries) → the ringing agent's socket only; kept for a reload; gone on answer elsewhere,
on the end of the ringing and of the call; one-click actions recorded on the call."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from sqlalchemy import update

from ari_apps.screenpop.services import _AROUND_NUMBER, _BY_NUMBER, warm_facts
from callcenter.bus import BusMessage
from callcenter.calls.models import Call
from callcenter.store.direct import EngineReader
from tests.support.plans import index_plan
from tests.wallboard.conftest import CALL_ID, UNKNOWN_NUMBER, Console, seed_history
from tests.webui.conftest import FakeClock, World, csrf_of

END = "test.end"
_markers = itertools.count()


async def _socket(console: Console, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    socket = await http.ws_connect("/ws", headers={"Origin": console.url})
    assert (await socket.receive_json(timeout=5))["topic"] == "ws.ready"
    return socket


async def _frames(console: Console, socket: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """The screenpop frames this socket got, up to an end marker published now (each marker
    its own: every socket receives every marker)."""
    marker = next(_markers)
    await console.runtime.bus.publish(BusMessage(END, {"n": marker}))
    frames = []
    async with asyncio.timeout(10):
        while True:
            message = await socket.receive_json()
            if message["topic"] == END and message["payload"]["n"] == marker:
                return frames
            if message["topic"].startswith("screenpop."):
                frames.append(message)


async def _current(http: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with http.get("/api/screenpop/current") as response:
        assert response.status == 200
        pops: list[dict[str, Any]] = (await response.json())["pops"]
        return pops


async def test_the_pop_reaches_the_ringing_agent_only_survives_reload_and_goes_on_answer_elsewhere(
    console: Console, world: World, clock: FakeClock,
) -> None:
    await seed_history(console.runtime, world, clock)
    c1, street = await console.login("agent_c1"), await console.login("agent_street")
    c1_socket, street_socket = await _socket(console, c1), await _socket(console, street)

    await console.hotline("hotline.call.ringing", console.ringing("agent_c1", elder_id=world.elder_c1))
    (shown,) = await _frames(console, c1_socket)
    assert await _frames(console, street_socket) == []
    assert shown["topic"] == "screenpop.show"
    pop = shown["payload"]
    assert pop["elder"]["name"] == "张秀英" and pop["elder"]["lives_alone"] is True
    assert pop["elder"]["health_notes"] == "高血压" and pop["elder"]["url"] == f"/elders/{world.elder_c1}"
    assert pop["caller"] == {"number": "138****8001", "kind": "elder", "priority": 1}
    assert [c["phone"] for c in pop["contacts"]] == [  # kin first, then doctor, social worker
        "139****0001", "139****0002", "139****0003", "139****0004"]
    assert "13911110001" not in str(pop) and "13800138001" not in str(pop)
    why = {w["kind"]: w for w in pop["why"]}
    assert why["routing"]["text"] == "高危老人优先"
    assert why["open_sos"]["url"] == "/incidents/20250303075500abcd"
    assert why["recent_abandon"]["call"] == "1740990000.3"
    assert [c["id"] for c in pop["calls"]] == ["1740990000.3"]  # not the ringing call itself
    assert [o["number"] for o in pop["work_orders"]] == ["WO-2025-0001"]
    [complaint] = pop["complaints"]  # the open one only
    assert (complaint["number"], complaint["status"], complaint["title"]) == (
        "CP-2025-0001", "investigating", "上门服务迟到")
    assert complaint["url"].startswith("/complaints/")
    assert pop["actions"] == ["work_order", "complaint", "consult_answered"]

    # A reload reads it back from the server; the other agent has none.
    (again,) = await _current(c1)
    assert again["call_id"] == CALL_ID and again["state"] == "ringing"
    assert again["elder"]["name"] == "张秀英"
    assert await _current(street) == []

    # Ring-all: the street agent is rung too, and answers. The pop leaves agent_c1.
    await console.hotline("hotline.call.ringing", console.ringing("agent_street", elder_id=world.elder_c1))
    await console.hotline("hotline.call.answered", {"call_id": CALL_ID, "agent": "agent_street",
                                                    "queue": "general",
                                                    "answered_at": clock.now.isoformat()})
    assert [f["payload"] for f in await _frames(console, c1_socket)] == [
        {"call_id": CALL_ID, "why": "answered_elsewhere"}]
    assert [f["topic"] for f in await _frames(console, street_socket)] == [
        "screenpop.show", "screenpop.answered"]
    assert await _current(c1) == []
    assert [p["state"] for p in await _current(street)] == ["answered"]

    await console.hotline("hotline.call.ended", {"call_id": CALL_ID, "queue": "general",
                                                 "agent": "agent_street", "outcome": "answered",
                                                 "ended_at": clock.now.isoformat()})
    assert [f["payload"]["why"] for f in await _frames(console, street_socket)] == ["ended"]
    assert await _current(street) == []
    for http in (c1, street):
        await http.close()


async def test_stopped_ringing_and_a_stored_end_leave_no_pop_behind(
    console: Console, world: World, clock: FakeClock,
) -> None:
    await seed_history(console.runtime, world, clock)
    c1 = await console.login("agent_c1")
    await console.hotline("hotline.call.ringing", console.ringing("agent_c1", elder_id=world.elder_c1))
    await console.hotline("hotline.call.stopped_ringing", {"call_id": CALL_ID, "agent": "agent_c1"})
    assert await _current(c1) == []

    # Rung again, and the "ended" message is lost: the stored call says it ended.
    await console.hotline("hotline.call.ringing", console.ringing("agent_c1", elder_id=world.elder_c1))
    assert len(await _current(c1)) == 1
    async with console.runtime.sessions.begin() as db:
        await db.execute(update(Call).where(Call.id == CALL_ID).values(ended_at=clock.now))
    assert await _current(c1) == []
    await c1.close()


async def test_an_unknown_caller_gets_register_this_caller_and_their_calls(
    console: Console, world: World, clock: FakeClock,
) -> None:
    await seed_history(console.runtime, world, clock)
    c1 = await console.login("agent_c1")
    await console.hotline("hotline.call.ringing", console.ringing(
        "agent_c1", call_id="1741000001.1", caller_number=UNKNOWN_NUMBER, caller_kind="unknown",
        priority=0, reason=""))
    (pop,) = await _current(c1)
    assert pop["elder"] is None and pop["caller"]["number"] == "139****0000"
    assert pop["actions"] == ["work_order", "complaint", "consult_answered", "register_caller"]
    assert [c["id"] for c in pop["calls"]] == ["1740000000.9"]
    assert pop["why"] == [] and pop["contacts"] == []
    await c1.close()


async def test_a_caller_without_a_number_is_shown_no_calls_of_others_without_a_number(
    console: Console, world: World, clock: FakeClock,
) -> None:
    await seed_history(console.runtime, world, clock)
    async with console.runtime.sessions.begin() as db:
        db.add(Call(id="1740000000.5", kind="hotline", direction="inbound", caller_number="",
                    queue="general", started_at=clock.now - timedelta(days=1),
                    ended_at=clock.now - timedelta(days=1), outcome="abandoned"))
    c1 = await console.login("agent_c1")
    await console.hotline("hotline.call.ringing", console.ringing(
        "agent_c1", call_id="1741000001.2", caller_number="", caller_kind="unknown",
        priority=0, reason=""))
    (pop,) = await _current(c1)
    assert pop["elder"] is None and pop["caller"]["number"] == ""
    assert pop["calls"] == [] and pop["why"] == []
    await c1.close()


async def test_an_unknown_numbers_last_calls_are_found_by_index_not_by_reading_every_call(
    console: Console,
) -> None:
    if console.runtime.engine.dialect.name != "postgresql":
        pytest.skip("the query plan: PostgreSQL")
    plan = await index_plan(console.runtime.engine, _AROUND_NUMBER, {
        "elder_id": -1, "tail": UNKNOWN_NUMBER[::-1], "call_id": "x",
        "recent": datetime(2026, 1, 1, tzinfo=UTC)})
    assert "Seq Scan on calls" not in plan, plan
    assert "ix_calls_caller_tail" in plan, plan


async def test_the_elder_of_a_kins_number_is_found_by_index_not_by_reading_every_contact(
    console: Console,
) -> None:
    if console.runtime.engine.dialect.name != "postgresql":
        pytest.skip("the query plan: PostgreSQL")
    plan = await index_plan(console.runtime.engine, _BY_NUMBER, {"number": UNKNOWN_NUMBER})
    assert "Seq Scan" not in plan, plan
    assert "ix_contacts_phone" in plan, plan


async def test_the_starts_warm_up_of_the_pops_reads_runs_on_either_store(console: Console) -> None:
    """A warm-up that fails is only logged at a start: a broken one would go unseen."""
    async with console.runtime.engine.connect() as conn:
        await warm_facts(EngineReader(conn))


async def test_one_click_actions_are_recorded_on_the_call_and_bad_ones_change_nothing(
    console: Console, world: World, clock: FakeClock,
) -> None:
    await seed_history(console.runtime, world, clock)
    c1, street = await console.login("agent_c1"), await console.login("agent_street")
    await console.hotline("hotline.call.ringing", console.ringing("agent_c1", elder_id=world.elder_c1))
    headers = {"X-CSRF-Token": await csrf_of(c1)}
    path = f"/api/screenpop/{CALL_ID}/intents"
    async with c1.post(path, json={"action": "work_order", "note": "助浴"}, headers=headers) as r:
        assert r.status == 200
        body = await r.json()
    assert body["next_url"] == f"/elders/{world.elder_c1}"
    assert [(i["action"], i["by"], i["note"]) for i in body["intents"]] == [
        ("work_order", "agent_c1", "助浴")]
    async with c1.post(path, json={"action": "dance"}, headers=headers) as r:
        assert r.status == 422
    async with c1.post(path, data=b"[1]", headers=headers) as r:
        assert r.status == 400
    # Not rung for it, did not take it: not theirs.
    async with street.post(path, json={"action": "complaint"},
                           headers={"X-CSRF-Token": await csrf_of(street)}) as r:
        assert r.status == 404 and (await r.json())["error_id"] == "call-not-found"
    # Rung, but the hotline has not stored the call.
    await console.hotline("hotline.call.ringing", console.ringing("agent_c1", call_id="9.9"))
    async with c1.post("/api/screenpop/9.9/intents", json={"action": "complaint"},
                       headers=headers) as r:
        assert r.status == 404
    async with console.runtime.sessions() as db:
        call = await db.get(Call, CALL_ID)
        assert call is not None and [i["action"] for i in call.details["intents"]] == ["work_order"]
    for http in (c1, street):
        await http.close()


@pytest.mark.parametrize("payload", [
    {"agent": "agent_c1"},
    {"call_id": "x", "agent": ""},
    {"call_id": "x", "agent": "agent_c1", "elder_id": "7"},
    {"call_id": "x", "agent": "agent_c1", "caller_kind": "martian"},
    {"call_id": "x" * 65, "agent": "agent_c1"},
])
async def test_a_malformed_ringing_message_pops_nothing(
    console: Console, world: World, payload: dict[str, Any],
) -> None:
    c1 = await console.login("agent_c1")
    socket = await _socket(console, c1)
    await console.hotline("hotline.call.ringing", payload)
    assert await _frames(console, socket) == []
    assert await _current(c1) == []
    await c1.close()


async def test_with_the_store_away_the_pop_still_says_who_rings_and_why(
    console: Console, world: World,
) -> None:
    from ari_apps.screenpop.http import RELAY
    from callcenter.store import create_engine
    from callcenter.store.direct import DirectStatements

    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/gone")
    console.app[RELAY]._reads = DirectStatements(dead)  # noqa: SLF001 - the read pool is away
    c1 = await console.login("agent_c1")
    socket = await _socket(console, c1)
    await console.hotline("hotline.call.ringing", console.ringing("agent_c1", elder_id=world.elder_c1))
    (shown,) = await _frames(console, socket)
    pop = shown["payload"]
    assert pop["degraded"] is True and pop["elder"] is None
    assert pop["caller"]["number"] == "138****8001"
    assert pop["why"] == [{"kind": "routing", "text": "高危老人优先"}]
    await dead.dispose()
    await c1.close()


async def test_a_pop_read_after_the_call_was_answered_elsewhere_is_not_sent(
    console: Console, world: World, clock: FakeClock,
) -> None:
    from ari_apps.screenpop.http import RELAY

    relay = console.app[RELAY]
    read, release = relay.facts_for, asyncio.Event()

    async def slow(ringing: dict[str, Any]) -> Any:
        await release.wait()  # the store is slow to answer
        return await read(ringing)

    prepare, answer_known = relay._prepare, asyncio.Event()  # noqa: SLF001

    async def noting(message: BusMessage) -> Any:
        step = await prepare(message)
        if message.topic == "hotline.call.answered":
            answer_known.set()
        return step

    relay.facts_for = slow  # type: ignore[method-assign]
    relay._prepare = noting  # type: ignore[method-assign]  # noqa: SLF001
    c1 = await console.login("agent_c1")
    socket = await _socket(console, c1)
    before = relay.handled
    await console.runtime.bus.publish(BusMessage("hotline.call.ringing", console.ringing(
        "agent_c1", elder_id=world.elder_c1)))
    await console.runtime.bus.publish(BusMessage("hotline.call.answered", {
        "call_id": CALL_ID, "agent": "agent_street", "queue": "general",
        "answered_at": clock.now.isoformat()}))
    async with asyncio.timeout(10):  # the answer is known before the pop is read
        await answer_known.wait()
    release.set()
    await relay.caught_up(before + 2)
    assert [f["topic"] for f in await _frames(console, socket)] == ["screenpop.gone"]
    assert await _current(c1) == []
    await c1.close()


async def test_the_pop_says_how_to_speak_and_why_and_a_consultation_reaches_its_agent_only(
    console: Console, world: World, clock: FakeClock,
) -> None:
    from callcenter.store.models import Elder

    await seed_history(console.runtime, world, clock)
    async with console.runtime.sessions.begin() as db:
        await db.execute(update(Elder).where(Elder.id == world.elder_c1).values(
            language="cantonese", hearing="hard_of_hearing"))
    c1, street = await console.login("agent_c1"), await console.login("agent_street")
    c1_socket, street_socket = await _socket(console, c1), await _socket(console, street)
    why = "关爱电话：张秀英按2想找人说说话"
    await console.hotline("hotline.call.ringing", console.ringing(
        "agent_c1", elder_id=world.elder_c1, reason="care", care_call="care-1", care_reason=why))
    (shown,) = await _frames(console, c1_socket)
    elder = shown["payload"]["elder"]
    assert (elder["language"], elder["hearing"]) == ("cantonese", "hard_of_hearing")
    # A care call's elder who pressed 2: the pop says so first (not the routing code).
    assert shown["payload"]["why"][0] == {"kind": "care", "care_call": "care-1", "text": why}
    assert not [w for w in shown["payload"]["why"] if w["kind"] == "routing"]
    consult = {"call_id": CALL_ID, "consult_call_id": f"{CALL_ID}-a1", "agent": "agent_c1",
               "to": "agent", "target": "agent_street", "state": "talking", "error": ""}
    await console.hotline("hotline.call.consult", consult)
    (frame,) = await _frames(console, c1_socket)
    assert frame["topic"] == "screenpop.consult"
    assert frame["payload"] == {k: v for k, v in consult.items() if k != "agent"}
    assert await _frames(console, street_socket) == []
    await console.hotline("hotline.call.consult", {"call_id": CALL_ID})  # no agent: dropped
    assert await _frames(console, c1_socket) == []


def _routed(console: Console, **extra: Any) -> dict[str, Any]:
    """``hotline.call.routed`` as the route announces the caller (no agent yet)."""
    ringing = console.ringing("nobody", **extra)
    del ringing["agent"], ringing["rung_at"]
    return ringing


def _counting_reads(console: Console) -> list[dict[str, Any]]:
    from ari_apps.screenpop.http import RELAY

    relay, reads = console.app[RELAY], []
    read = relay.facts_for

    async def counted(caller: dict[str, Any]) -> Any:
        reads.append(caller)
        return await read(caller)

    relay.facts_for = counted  # type: ignore[method-assign]
    return reads


async def test_the_facts_are_read_when_the_call_is_routed_and_the_ringing_pops_from_them(
    console: Console, world: World, clock: FakeClock,
) -> None:
    await seed_history(console.runtime, world, clock)
    reads = _counting_reads(console)
    c1, street = await console.login("agent_c1"), await console.login("agent_street")
    c1_socket, street_socket = await _socket(console, c1), await _socket(console, street)
    await console.hotline("hotline.call.routed", _routed(console, elder_id=world.elder_c1))
    assert [r["call_id"] for r in reads] == [CALL_ID]  # read ahead, before any phone rings
    assert await _frames(console, c1_socket) == []  # nothing shows before the ringing

    for agent, socket in (("agent_c1", c1_socket), ("agent_street", street_socket)):
        await console.hotline("hotline.call.ringing", console.ringing(agent, elder_id=world.elder_c1))
        (shown,) = await _frames(console, socket)
        assert shown["payload"]["elder"]["name"] == "张秀英"
        assert [o["number"] for o in shown["payload"]["work_orders"]] == ["WO-2025-0001"]
    assert len(reads) == 1  # both pops from the one read ahead

    # A call routed for another caller than the one that rings (a transfer's new caller
    # on the same id): read anew, never the wrong elder's card.
    await console.hotline("hotline.call.routed", _routed(console, call_id="other-call",
                                                         elder_id=world.elder_c1))
    await console.hotline("hotline.call.ringing", console.ringing(
        "agent_c1", call_id="other-call", caller_number="13700000000", caller_kind="unknown"))
    (shown,) = await _frames(console, c1_socket)
    assert shown["payload"]["elder"] is None and len(reads) == 3
    for http in (c1, street):
        await http.close()


async def test_facts_read_long_before_the_ringing_show_at_once_and_a_changed_pop_follows(
    console: Console, world: World, clock: FakeClock,
) -> None:
    from ari_apps.screenpop.http import RELAY
    from ari_apps.screenpop.notifier import FRESH_SECONDS
    from workflow.models import WorkOrder

    await seed_history(console.runtime, world, clock)
    c1 = await console.login("agent_c1")
    socket = await _socket(console, c1)
    relay = console.app[RELAY]
    await console.hotline("hotline.call.routed", _routed(console, elder_id=world.elder_c1))
    await relay._ahead[CALL_ID].part  # noqa: SLF001
    relay._ahead[CALL_ID].at -= FRESH_SECONDS + 1  # noqa: SLF001  # the caller waited
    async with console.runtime.sessions.begin() as db:  # meanwhile a work order was opened
        db.add(WorkOrder(number="WO-2025-0002", type="service", elder_id=world.elder_c1,
                         title="送餐", created_by="agent_c1", created_at=clock.now))
    before = relay.handled
    await console.runtime.bus.publish(BusMessage("hotline.call.ringing", console.ringing(
        "agent_c1", elder_id=world.elder_c1)))
    await relay.caught_up(before + 1)
    frames = await _frames(console, socket)
    assert [sorted(o["number"] for o in f["payload"]["work_orders"]) for f in frames] == [
        ["WO-2025-0001"], ["WO-2025-0001", "WO-2025-0002"]]

    # Rung again soon after: the facts just read are fresh, one pop, no second read.
    await console.hotline("hotline.call.ringing", console.ringing("agent_c1", elder_id=world.elder_c1))
    assert len(await _frames(console, socket)) == 1
    await c1.close()


async def test_a_ringing_pops_in_the_publishers_own_step_unless_the_call_closed_before_it(
    console: Console, world: World, clock: FakeClock,
) -> None:
    from ari_apps.screenpop.http import RELAY
    from webui.ws import HUB

    await seed_history(console.runtime, world, clock)
    c1, street = await console.login("agent_c1"), await console.login("agent_street")
    c1_socket, street_socket = await _socket(console, c1), await _socket(console, street)
    relay, hub = console.app[RELAY], console.app[HUB]
    await console.hotline("hotline.call.routed", _routed(console, elder_id=world.elder_c1))
    await relay._ahead[CALL_ID].part  # noqa: SLF001
    queued = {c.principal.username: c for c in hub.clients}
    written = {name: _writes_of(client.socket) for name, client in queued.items()}
    before = relay.handled

    console.runtime.bus.publish_nowait(BusMessage("hotline.call.ringing", console.ringing(
        "agent_c1", elder_id=world.elder_c1)))
    # No await since: the relay has handled nothing, yet the pop is written to agent_c1's
    # socket (not queued for its sender: the loop's other ready work does not go first).
    assert relay.handled == before
    assert written["agent_c1"] == ["screenpop.show"]
    assert queued["agent_c1"]._queue.qsize() == 0  # noqa: SLF001

    # An answer published before a second ringing keeps its place: no pop for the latecomer.
    console.runtime.bus.publish_nowait(BusMessage("hotline.call.answered", {
        "call_id": CALL_ID, "agent": "agent_c1", "queue": "general",
        "answered_at": clock.now.isoformat()}))
    console.runtime.bus.publish_nowait(BusMessage("hotline.call.ringing", console.ringing(
        "agent_street", elder_id=world.elder_c1)))
    assert queued["agent_street"]._queue.qsize() == 0 and written["agent_street"] == []  # noqa: SLF001
    await relay.caught_up(before + 3)
    assert [f["topic"] for f in await _frames(console, c1_socket)] == [
        "screenpop.show", "screenpop.answered"]
    assert await _frames(console, street_socket) == []
    assert relay._closing == {}  # noqa: SLF001
    for http in (c1, street):
        await http.close()


def _writes_of(socket: Any) -> list[str]:
    """The topics of the frames written to a console's socket from now on."""
    topics: list[str] = []
    send_str = socket.send_str

    async def recorded(data: str, compress: int | None = None) -> None:
        topics.append(orjson.loads(data)["topic"])
        await send_str(data, compress)

    socket.send_str = recorded
    return topics


async def test_a_console_process_pops_on_agentcalled_read_off_its_own_ami_session_once(
    runtime: Any, world: World, clock: FakeClock,
) -> None:
    """A console process without the calls role reads AgentCalled off its own AMI session
    (agent events only): the pop of a routed call goes out as the event is read, before the
    hotline's ringing message arrives over the bus; that message (or, the other way round,
    an AgentCalled after it) shows nothing twice, and the pop is still kept for a reload."""
    from aiohttp.test_utils import TestServer

    from ari_apps.screenpop.http import RELAY
    from ari_apps.screenpop.http import install_web as install_screenpop
    from callcenter.asterisk.ami import AmiClient
    from callcenter.pbxsim.server import PbxSimulator
    from tests.wallboard.conftest import Console
    from webui import create_app

    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as sim:
        ami = AmiClient(sim.host, sim.ami_port, sim.user, sim.password, events="agent")
        app = create_app(runtime, clock=clock, features=[lambda a: install_screenpop(a, [ami])])
        async with TestServer(app) as server:
            console = Console(str(server.make_url("")).rstrip("/"), app, runtime, clock)
            await ami.wait_connected()
            await seed_history(runtime, world, clock)
            relay = app[RELAY]
            c1, street = await console.login("agent_c1"), await console.login("agent_street")
            c1_socket, street_socket = await _socket(console, c1), await _socket(console, street)
            await console.hotline("hotline.call.routed", {
                **_routed(console, elder_id=world.elder_c1), "uniqueid": "1741000000.16"})
            await relay._ahead[CALL_ID].part  # noqa: SLF001
            handled = relay.handled

            def agent_called(agent: str) -> None:
                sim.model.ami_event("AgentCalled", {
                    "Uniqueid": "1741000000.16", "Linkedid": CALL_ID, "Queue": "general",
                    "Interface": f"PJSIP/{agent}", "MemberName": agent})

            agent_called("agent_c1")
            async with asyncio.timeout(10):
                shown = await c1_socket.receive_json()
                while not shown["topic"].startswith("screenpop."):  # the bus's own frames
                    shown = await c1_socket.receive_json()
            assert shown["topic"] == "screenpop.show" and relay.handled == handled
            assert shown["payload"]["elder"]["name"] == "张秀英"
            assert shown["payload"]["caller"]["priority"] == 1
            await console.hotline("hotline.call.ringing",
                                  console.ringing("agent_c1", elder_id=world.elder_c1))
            assert await _frames(console, c1_socket) == []  # not shown twice
            assert [p["call_id"] for p in await _current(c1)] == [CALL_ID]  # kept for a reload

            # The ringing message first this time: the AgentCalled read after it adds nothing.
            await console.hotline("hotline.call.ringing",
                                  console.ringing("agent_street", elder_id=world.elder_c1))
            agent_called("agent_street")
            frames = await _frames(console, street_socket)
            assert [f["topic"] for f in frames] == ["screenpop.show"]
            # An AgentCalled for a channel never routed here is left to the ringing message.
            sim.model.ami_event("AgentCalled", {"Uniqueid": "999.1", "Linkedid": "999.1",
                                                "Queue": "general", "MemberName": "agent_c1"})
            assert await _frames(console, c1_socket) == []
            for http in (c1, street):
                await http.close()
