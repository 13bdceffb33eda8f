"""The start of an SOS is one unit: a caller who cannot be taken in strands nobody.

Answering the caller, bridging them and dialling the roles into that bridge make sense
only together. When the answer fails (a 5xx from ARI, a StasisStart for a channel that
is gone, a caller who hangs up at once), no role is dialled into a bridge that was never
made, 120 is hung up, the incident ends as ``caller_lost`` (never "completed"), the
agents are alerted and the elder is called back through the alarm flow.
"""

from __future__ import annotations

import aiohttp
import orjson
import pytest

from ari_apps.alarms.flows import AlarmConference
from ari_apps.sos.conference import SosConference
from ari_apps.sos.models import LegRole, LegState
from tests.sos.conftest import ELDER_PHONE, EMERGENCY, SosHarness, leg_states


async def _lost(sos: SosHarness, caller: str) -> SosConference:
    """The incident of a caller who could not be taken in, once it ended."""
    conference = await sos.app.wait_for_conference(lambda c: caller in c.legs)
    await conference.wait_for(lambda c: c.done.is_set())
    return conference


async def _assert_nobody_stranded(sos: SosHarness, lost: SosConference) -> None:
    assert lost.outcome == "caller_lost"
    # No bridge, no responder left up: only 120 (dialled first, for speed) was ever
    # dialled, and it was hung up; kin, doctor, social worker were never dialled.
    assert lost.bridge_id not in sos.sim.model.bridges
    assert not [c for c in sos.sim.model.channels if c.startswith(lost.id)]
    assert {leg.role for leg in lost.legs.values() if leg.is_responder} <= {LegRole.EMERGENCY}
    assert all(state is LegState.FAILED for _, state in leg_states(lost, LegRole.EMERGENCY))
    timeline = await sos.timeline(lost.id)
    assert "caller.lost" in timeline and timeline[-1] == "ended"
    assert "work_order.opened" not in timeline and "notify.queued" not in timeline
    assert not [k for k in timeline if k in ("leg.answered", "joined")]
    alerts = [m.payload for m in sos.published
              if m.topic == "sos.alert" and m.payload["incident"] == lost.id]
    assert [a["alert"] for a in alerts] == ["caller_lost"]
    assert set(alerts[0]["detail"]) == {"reason", "callback"}


async def _assert_called_back(sos: SosHarness, lost: SosConference) -> None:
    """The alarm flow calls the elder back, then dials every role into its own bridge."""
    callback = await sos.app.wait_for_conference(lambda c: c.id != lost.id)
    assert isinstance(callback, AlarmConference)
    assert callback.detail == {"after": lost.id, "reason": "caller_lost"}
    await callback.wait_for(lambda c: f"{c.id}-c0" in c.legs)
    assert callback.legs[f"{callback.id}-c0"].candidate.number == ELDER_PHONE  # type: ignore[union-attr]
    await sos.advance(1)  # the elder answers the callback: the roles are dialled
    await callback.wait_for(lambda c: bool(leg_states(c, LegRole.KIN)))
    assert leg_states(callback, LegRole.EMERGENCY)[0][0] == EMERGENCY


@pytest.mark.parametrize(("status", "message"), [
    (500, "Internal Server Error"),
    (404, "Channel not found"),  # a StasisStart for a channel that no longer exists
], ids=["ari-5xx", "channel-gone"])
async def test_answer_refused_dials_nobody_alerts_agents_and_calls_the_elder_back(
    sos: SosHarness, status: int, message: str
) -> None:
    sos.person(ELDER_PHONE)
    sos.sim.faults.fail("POST", "/ari/channels/*/answer", status=status, message=message)
    lost = await _lost(sos, sos.press())
    await _assert_nobody_stranded(sos, lost)
    await _assert_called_back(sos, lost)


async def test_bridge_refused_is_a_lost_caller_too(sos: SosHarness) -> None:
    sos.person(ELDER_PHONE)
    sos.sim.faults.fail("POST", "/ari/bridges/*/addChannel", status=500)
    lost = await _lost(sos, sos.press())
    await _assert_nobody_stranded(sos, lost)
    await _assert_called_back(sos, lost)


async def test_caller_hanging_up_right_after_stasis_start_strands_nobody(sos: SosHarness) -> None:
    sos.person(ELDER_PHONE)
    channel = sos.sim.dialplan.inbound(ELDER_PHONE, "12349", app="callcenter", args=["sos"],
                                       hangup_after=0)
    lost = await _lost(sos, channel.id)
    await _assert_nobody_stranded(sos, lost)
    await _assert_called_back(sos, lost)


async def test_an_unknown_caller_lost_is_an_alert_without_a_callback(sos: SosHarness) -> None:
    sos.sim.faults.fail("POST", "/ari/channels/*/answer", status=500)
    lost = await _lost(sos, sos.press("13312345678"))
    await _assert_nobody_stranded(sos, lost)
    assert lost.card is None
    await sos.settle_store()
    assert list(sos.app.conferences) == []  # nobody to call back: agents act on the alert


async def test_faults_are_injected_over_the_control_api(sos: SosHarness) -> None:
    url = f"http://127.0.0.1:{sos.sim.ports['control']}/control/faults"
    async with aiohttp.ClientSession() as http:
        async with http.post(url, json={"method": "post", "path": "/ari/channels/*/answer",
                                        "status": 503, "times": 2}) as response:
            assert response.status == 201
        async with http.post(url, json={"method": "post", "path": "/x"}) as response:
            assert response.status == 400
        assert [f.times for f in sos.sim.faults.pending] == [2]
        async with http.delete(url) as response:
            assert response.status == 204
    assert sos.sim.faults.pending == []


# -- pops before identification --------------------------------------------------------------


def _unfiltered(sos: SosHarness) -> list[bytes]:
    """Every pop addressed to agents of any area (no jurisdiction on its audience)."""
    return [orjson.dumps(m.payload) for m in sos.published
            if m.topic.startswith("sos.") and "area_path" not in m.audience]


async def test_no_pop_of_an_identified_elder_reaches_another_area(sos: SosHarness) -> None:
    conference = await sos.incident(sos.press(ELDER_PHONE))
    await sos.notifier.drain()
    assert conference.identified and conference.card is not None
    # Held until the caller is known (2 s at most): every pop then has the elder's area.
    pops = [m for m in sos.published if m.topic.startswith("sos.")]
    assert pops, "the agents of the area are told"
    assert all(m.audience.get("area_path") == conference.card.area_path for m in pops)
    assert _unfiltered(sos) == []


async def test_pops_of_an_unknown_caller_reach_every_area_without_personal_data(
    sos: SosHarness,
) -> None:
    number = "13312345678"
    await sos.incident(sos.press(number))
    await sos.notifier.drain()
    everyone = _unfiltered(sos)
    assert everyone, "agents of every area still learn that an SOS came in"
    assert not [p for p in everyone if number.encode() in p]
    assert all(orjson.loads(p)["elder"] is None for p in everyone)
    masked = number[:3] + "****" + number[-4:]
    assert all(orjson.loads(p)["caller_number"] == masked for p in everyone)


