"""The one-key call to kin: kin in priority order, failover, recorded, on the timeline."""

from __future__ import annotations

from sqlalchemy import select

from ari_apps.care.kin import KinCall
from callcenter.calls.models import Call
from tests.care.conftest import ELDER_PHONE, KIN, CareHarness


async def test_the_kin_button_fails_over_to_the_next_kin_and_records_the_call(
    care: CareHarness,
) -> None:
    care.person(KIN[0], behaviour="busy", ring=2)
    care.person(KIN[1], ring=4)
    caller = care.sim.dialplan.inbound(ELDER_PHONE, "12349", app="callcenter", args=["kin"])
    call = await care.app.kin.wait_for()
    await care.until(lambda: _joined(call), limit=600)
    assert call.joined == f"kin-{call.id}-2", "the second kin answered after the first was busy"
    bridge = care.sim.model.bridges[call.bridge]
    assert {caller.id, call.joined} <= {ch.id for ch in bridge.channels}
    assert call.bridge in care.sim.media.live, "the call is recorded"
    assert care.originated(KIN[0]) == [f"kin-{call.id}-1"]

    care.sim.calls.hangup(caller, 16)
    await care.until(lambda: _over(call), limit=600)
    timeline = await care.timeline(care.elders.wang[1])
    assert timeline == ["kin.started", "kin.dialling", "kin.failed", "kin.dialling",
                        "kin.answered", "kin.left", "kin.ended"]
    async with care.sessions() as session:
        rows = {c.id: c for c in (await session.execute(select(Call))).scalars()}
    assert rows[f"kin-{call.id}-1"].outcome == "busy"
    assert rows[f"kin-{call.id}-2"].answered_at is not None
    elder_row = rows[caller.id]
    assert (elder_row.kind, elder_row.direction, elder_row.recording_name) == (
        "care", "inbound", call.bridge)


async def test_no_kin_reached_goes_to_the_hotline_at_high_priority(care: CareHarness) -> None:
    care.person(KIN[0], behaviour="busy", ring=1)
    care.person(KIN[1], behaviour="noanswer", ring=0)
    caller = care.sim.dialplan.inbound(ELDER_PHONE, "12349", app="callcenter", args=["kin"])
    call = await care.app.kin.wait_for()
    await care.until(lambda: _over(call), limit=120, step=2)
    channel = care.sim.model.channels[caller.id]
    assert (channel.context, channel.exten) == ("hotline-entry", "12349")
    assert channel.variables["CALLCENTER_PRIORITY"] == "high"
    assert "家属均未接通" in channel.variables["CALLCENTER_REASON"]
    timeline = await care.timeline(care.elders.wang[1])
    assert timeline.count("kin.failed") == 2 and "kin.to_hotline" in timeline


async def _joined(call: KinCall) -> bool:
    return call.joined is not None


async def _over(call: KinCall) -> bool:
    return call.done.is_set()
