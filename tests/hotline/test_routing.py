"""Step 1: who is calling, which queue, which priority; FastAGI and the pyst2 fallback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from ari_apps.hotline.models import HighRiskFlag
from ari_apps.hotline.routing import _ROUTE, warm_route
from ari_apps.sos.models import Incident, IncidentStatus
from callcenter.calls.models import Call
from callcenter.pbxsim.agi import agi_words
from callcenter.store.direct import EngineReader
from callcenter.store.engine import SessionFactory
from tests.hotline.conftest import (
    ELDER_PHONE,
    KIN_PHONE,
    PROVIDER_PHONE,
    RISKY_PHONE,
    STRANGER,
    HotlineHarness,
    Seeded,
    sim_now,
)
from tests.support.plans import index_plan


async def queued(hotline: HotlineHarness, channel_id: str) -> Call:
    """The call row once the caller waits in the queue."""
    return await hotline.row_with(hotline.linkedid(channel_id), "queued_at")


def variables(hotline: HotlineHarness, channel_id: str) -> dict[str, str]:
    return hotline.sim.model.channels[channel_id].variables


def positions(hotline: HotlineHarness, queue: str = "hotline") -> list[str]:
    """Callers' uniqueids in queue order, as Asterisk holds them."""
    return [e.ch.id for e in hotline.sim.queues.queues[queue].callers]


async def test_an_elder_is_identified_and_queued_with_the_decision_on_the_channel(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    channel = hotline.call_in(ELDER_PHONE)
    row = await queued(hotline, channel)
    assert (row.kind, row.caller_kind, row.elder_id, row.queue, row.priority) == (
        "hotline", "elder", seeded.elder_id, "hotline", 0)
    assert row.caller_number == ELDER_PHONE and row.details["routed_by"] == "fastagi"
    chan = variables(hotline, channel)
    assert chan["CALLCENTER_AGI_STATUS"] == "OK" and chan["CALLCENTER_CALLER_KIND"] == "elder"
    assert chan["CALLCENTER_ELDER_ID"] == str(seeded.elder_id) and chan["QUEUE_PRIO"] == "0"


async def test_kin_provider_and_stranger_are_told_apart(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    kinds = {}
    for number in (KIN_PHONE, PROVIDER_PHONE, STRANGER):
        row = await queued(hotline, hotline.call_in(number))
        kinds[number] = (row.caller_kind, row.elder_id)
    assert kinds == {KIN_PHONE: ("kin", seeded.elder_id), PROVIDER_PHONE: ("provider", None),
                     STRANGER: ("unknown", None)}


async def test_a_high_risk_elder_goes_before_callers_already_waiting(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    async with hotline.sessions.begin() as db:
        db.add(HighRiskFlag(elder_id=seeded.risky_id, reason="独居、心脏病", set_by="sup1"))
    first = hotline.call_in(STRANGER)
    await queued(hotline, first)
    risky = hotline.call_in(RISKY_PHONE)
    row = await queued(hotline, risky)
    assert row.priority == 8 and row.details["reason"] == "high_risk"
    assert positions(hotline) == [risky, first]


async def test_an_elder_with_an_open_sos_goes_first_of_all(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    async with hotline.sessions.begin() as db:
        db.add(HighRiskFlag(elder_id=seeded.risky_id, set_by="sup1"))
        db.add(Incident(id="20261130000000cccccc", kind="sos", caller_number=ELDER_PHONE,
                        status=IncidentStatus.ACTIVE.value, elder_id=seeded.elder_id,
                        started_at=sim_now(hotline.sim), bridge_id="sos-x", identified=True))
    risky = hotline.call_in(RISKY_PHONE)
    await queued(hotline, risky)
    elder = hotline.call_in(ELDER_PHONE)
    row = await queued(hotline, elder)
    assert row.priority == 10 and row.details["reason"] == "sos"
    assert positions(hotline) == [elder, risky]


async def test_calling_again_within_ten_minutes_goes_first(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    first = hotline.call_in(STRANGER)
    first_row = await queued(hotline, first)
    assert first_row.priority == 0
    hotline.hang_up(first)
    other = hotline.call_in(KIN_PHONE)
    await queued(hotline, other)
    await hotline.advance(60, timers=False)  # (the callback of the first call waits)
    again = hotline.call_in(STRANGER)
    row = await queued(hotline, again)
    assert row.priority == 5 and row.details["reason"] == "repeat"
    assert positions(hotline) == [again, other]


async def test_outside_opening_hours_calls_go_to_the_after_hours_queue(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    now = sim_now(hotline.sim).astimezone()
    closed_from = (now + timedelta(hours=1)).strftime("%H:00")
    closed_to = (now + timedelta(hours=2)).strftime("%H:00")
    hotline.service.route.settings = hotline.service.route.settings.model_copy(update={
        "hotline_hours": f"{closed_from}-{closed_to}", "hotline_after_hours_queue": "vip",
        "time_zone": "UTC"})
    hotline.service.route.settings.time_zone = "UTC"
    row = await queued(hotline, hotline.call_in(ELDER_PHONE))
    assert row.queue == "vip"


async def raw_agi(port: int, env: dict[str, str]) -> list[str]:
    """A FastAGI conversation as Asterisk holds it: the commands the route sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write("".join(f"{k}: {v}\n" for k, v in env.items()).encode() + b"\n")
    commands = []
    async with asyncio.timeout(10):
        while line := await reader.readline():
            command = line.decode().strip()
            commands.append(command)
            reply = "200 result=0" if command.startswith("GET VARIABLE") else "200 result=1"
            writer.write(reply.encode() + b"\n")
            await writer.drain()
    writer.close()
    return commands


def variables_set(commands: list[str]) -> dict[str, str]:
    """The channel variables a route's commands set, by ``EXEC MSet`` or SET VARIABLE."""
    found: dict[str, str] = {}
    for command in commands:
        words = agi_words(command)
        if words[:2] == ["EXEC", "MSet"]:
            found.update(pair.split("=", 1) for pair in words[2].split(","))
        elif words[:2] == ["SET", "VARIABLE"]:
            found[words[2]] = words[3]
    return found


async def test_the_route_takes_the_channel_facts_from_its_arguments_and_sets_all_at_once(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    """The rendered dialplan passes a care call's priority and id and the linkedid as the
    route's arguments: nothing is asked back, and the decision goes out in one MSet."""
    assert hotline.service.agi is not None
    env = {"agi_network": "yes", "agi_network_script": "hotline", "agi_uniqueid": "2.1",
           "agi_callerid": ELDER_PHONE, "agi_arg_1": "high", "agi_arg_2": "care-7-1",
           "agi_arg_3": "2.0"}
    sent = await raw_agi(hotline.service.agi.port, env)
    assert sent == [
        'GET VARIABLE CALLCENTER_REASON',  # a care call's own words: free text, asked for
        'EXEC MSet "CALLCENTER_QUEUE=hotline,QUEUE_PRIO=8,CALLCENTER_CALLER_KIND=elder,'
        f'CALLCENTER_ELDER_ID={seeded.elder_id},CALLCENTER_REASON=care,CALLCENTER_OPEN=1,'
        'CALLCENTER_ROUTED_BY=fastagi,CALLCENTER_AGI_STATUS=OK"']
    (row,) = await hotline.calls()
    assert (row.id, row.care_call_id, row.priority) == ("2.0", "care-7-1", 8)


async def test_a_route_without_its_three_arguments_asks_for_the_facts(
        hotline: HotlineHarness) -> None:
    """A dialplan rendered before the arguments (or a value with a comma, which splits):
    the route asks the channel, as it did."""
    assert hotline.service.agi is not None
    for args in ({}, {"agi_arg_1": "", "agi_arg_2": "a", "agi_arg_3": "b", "agi_arg_4": "c"}):
        sent = await raw_agi(hotline.service.agi.port, {
            "agi_network": "yes", "agi_network_script": "hotline", **args})
        assert sent[:3] == ["GET VARIABLE CALLCENTER_PRIORITY", "GET VARIABLE CALLCENTER_CARE_CALL",
                            "GET VARIABLE CHANNEL(linkedid)"], sent


async def test_agi_requests_with_odd_or_missing_variables_still_route(
        hotline: HotlineHarness) -> None:
    assert hotline.service.agi is not None
    port = hotline.service.agi.port
    cases = [
        {"agi_network_script": "hotline"},  # nothing but the script
        {"agi_network_script": "hotline", "agi_callerid": "unknown", "agi_uniqueid": "1.1"},
        {"agi_network_script": "hotline?x=%ZZ", "agi_callerid": "abc<>'\"", "agi_uniqueid": ""},
        {"agi_network_script": "hotline", "agi_callerid": "+86" + "9" * 40},
    ]
    for env in cases:
        sent = await raw_agi(port, {"agi_network": "yes", **env})
        assert variables_set(sent) == {
            "CALLCENTER_QUEUE": "hotline", "QUEUE_PRIO": "0", "CALLCENTER_CALLER_KIND": "unknown",
            "CALLCENTER_ELDER_ID": "", "CALLCENTER_REASON": "", "CALLCENTER_OPEN": "1",
            "CALLCENTER_ROUTED_BY": "fastagi", "CALLCENTER_AGI_STATUS": "OK"}, (env, sent)
        assert sent[-1].startswith("EXEC MSet")  # the status went with the decision
    # Only the request with a channel id made a call row (a row needs its channel).
    assert [c.id for c in await hotline.calls()] == ["1.1"]


async def test_an_unknown_agi_script_answers_noroute_and_the_dialplan_falls_back(
        hotline: HotlineHarness) -> None:
    assert hotline.service.agi is not None
    sent = await raw_agi(hotline.service.agi.port, {"agi_network_script": "nope"})
    assert sent == ['SET VARIABLE CALLCENTER_AGI_STATUS "NOROUTE"']


async def test_fastagi_down_the_pyst2_script_routes_from_the_snapshot(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    async with hotline.sessions.begin() as db:
        db.add(HighRiskFlag(elder_id=seeded.risky_id, set_by="sup1"))
    await hotline.service.snapshot.refresh()
    assert hotline.service.agi is not None
    await hotline.service.agi.close()  # the product's FastAGI server does not answer
    waiting = hotline.call_in(STRANGER)
    risky = hotline.call_in(RISKY_PHONE)
    row = await queued(hotline, risky)
    chan = variables(hotline, risky)
    assert chan["AGISTATUS"] == "SUCCESS" and chan["CALLCENTER_ROUTED_BY"] == "fallback"
    assert "CALLCENTER_AGI_STATUS" not in chan
    assert (row.caller_kind, row.elder_id, row.priority) == ("elder", seeded.risky_id, 8)
    assert row.details["routed_by"] == "fallback"
    await queued(hotline, waiting)
    assert positions(hotline)[0] == risky


async def test_no_snapshot_at_all_still_queues_the_call(hotline: HotlineHarness) -> None:
    assert hotline.service.agi is not None
    await hotline.service.agi.close()
    hotline.sim.dialplan.hotline.snapshot = "/nonexistent/snapshot.json"
    channel = hotline.call_in(ELDER_PHONE)
    row = await queued(hotline, channel)
    assert row.queue == "hotline" and row.caller_kind == "unknown"
    assert variables(hotline, channel)["CALLCENTER_ROUTED_BY"] == "fallback"


async def test_an_elder_who_pressed_2_on_a_care_call_goes_before_callers_already_waiting(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    first = hotline.call_in(STRANGER)
    await queued(hotline, first)
    # What the care call leaves on the channel before it continues in [hotline-entry].
    care = hotline.sim.dialplan.inbound(ELDER_PHONE, "12349", context="hotline-entry")
    care.variables.update(CALLCENTER_PRIORITY="high", CALLCENTER_REASON="关怀电话中按2要求通话")
    row = await queued(hotline, care.id)
    assert row.priority == 8 and row.details["reason"] == "care"
    assert positions(hotline) == [care.id, first]


async def test_fastagi_down_the_pyst2_script_also_puts_a_care_calls_elder_first(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    await hotline.service.snapshot.refresh()
    assert hotline.service.agi is not None
    await hotline.service.agi.close()  # the classic script, as Asterisk runs it, routes
    first = hotline.call_in(STRANGER)
    await queued(hotline, first)
    care = hotline.sim.dialplan.inbound(ELDER_PHONE, "12349", context="hotline-entry")
    care.variables.update(CALLCENTER_PRIORITY="high", CALLCENTER_REASON="关爱电话：按2",
                          CALLCENTER_CARE_CALL=care.linkedid)
    # The row links the care call without taking its id (the care call's row has it).
    row = await hotline.row_with(f"{care.linkedid}-hotline", "queued_at")
    chan = variables(hotline, care.id)
    assert (chan["CALLCENTER_ROUTED_BY"], chan["QUEUE_PRIO"], chan["CALLCENTER_REASON"]) == (
        "fallback", "8", "care")
    assert (row.priority, row.details["reason"], row.elder_id) == (8, "care", seeded.elder_id)
    assert positions(hotline) == [care.id, first]
    assert row.care_call_id == care.linkedid


async def test_a_care_calls_hotline_call_links_it_and_tells_the_pop_why(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    from ari_apps.hotline.schemas import CallView

    await hotline.service.agents.login("agent1", ["hotline"])
    care = hotline.sim.dialplan.inbound(ELDER_PHONE, "12349", context="hotline-entry")
    why = "关爱电话：王秀英按2想找人说说话"
    care.variables.update(CALLCENTER_PRIORITY="high", CALLCENTER_REASON=why,
                          CALLCENTER_CARE_CALL=care.linkedid)
    row = await hotline.row_with(f"{care.linkedid}-hotline", "answered_at")
    assert (row.care_call_id, row.details["care_reason"], row.details["reason"]) == (
        care.linkedid, why, "care")
    assert CallView.model_validate(row, from_attributes=True).care_call_id == care.linkedid
    (rung,) = hotline.topics("hotline.call.ringing")
    assert (rung["care_call"], rung["care_reason"], rung["priority"]) == (care.linkedid, why, 8)
    async with hotline.sessions() as db:  # the care call's own id is free for its own row
        assert await db.get(Call, care.linkedid) is None


async def test_the_consoles_hear_of_a_routed_call_before_the_route_sets_its_variables(
        hotline: HotlineHarness, seeded: Seeded) -> None:
    """``hotline.call.routed`` starts every console reading the pop's facts: it goes out
    as the route decides, not after the route's round trips to set the channel's
    variables (the agent's phone may ring as soon as they are set)."""
    subscription = await hotline.bus.subscribe("hotline.call.routed")
    channel = hotline.call_in(ELDER_PHONE)
    at_announce: list[dict[str, str]] = []
    subscription.tap = lambda _message: at_announce.append(dict(variables(hotline, channel)))
    row = await queued(hotline, channel)
    assert row.elder_id == seeded.elder_id
    (before,) = at_announce
    assert "CALLCENTER_ELDER_ID" not in before and "CALLCENTER_CALLER_KIND" not in before
    assert variables(hotline, channel)["CALLCENTER_ELDER_ID"] == str(seeded.elder_id)
    await subscription.close()


async def test_the_routes_read_finds_the_number_by_index_in_every_table_it_asks(
        sessions: SessionFactory) -> None:
    """A kin's, a provider's or a staff member's number was found by reading every contact
    (15 000 rows of a 3 000-elder directory: 1.2 ms of PostgreSQL's time on each call's
    route, growing with the directory)."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "postgresql":
        pytest.skip("the query plan: PostgreSQL")
    plan = await index_plan(engine, _ROUTE, {
        "number": KIN_PHONE, "tail": KIN_PHONE[::-1], "this_call": "x",
        "since": datetime(2026, 1, 1, tzinfo=UTC)})
    assert "Seq Scan" not in plan, plan
    for index in ("ix_contacts_phone", "ix_providers_phone", "ix_provider_staff_phone"):
        assert index in plan, plan


async def test_the_starts_warm_up_of_the_route_runs_on_either_store(
        sessions: SessionFactory) -> None:
    """A warm-up that fails is only logged at a start: a broken one would go unseen."""
    async with sessions.kw["bind"].connect() as conn:
        await warm_route(EngineReader(conn))
