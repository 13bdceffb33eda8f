"""The start of an SOS is one unit: a caller who cannot be taken in strands nobody.

Answering the caller, bridging them and dialling the roles into that bridge make sense
only together. When the answer fails (a 5xx from ARI, a StasisStart for a channel that
is gone, a caller who hangs up at once), no role is dialled into a bridge that was never
made, 120 is hung up, the incident ends as ``caller_lost`` (never "completed"), the
agents are alerted and the elder is called back through the alarm flow. The roles are
rung once the answer has succeeded and the bridge exists, while the caller's entry into
the bridge is on its way: when that entry fails, every leg rung is hung up, those whose
originate was still on its way too.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
import pytest

from ari_apps.alarms.flows import AlarmConference
from ari_apps.sos.conference import SosConference
from ari_apps.sos.models import LegRole, LegState
from tests.sos.conftest import ELDER_PHONE, EMERGENCY, KIN, SosHarness, leg_states

#: The roles of the first round besides 120: the first doctor, two kin, the social worker.
FIRST_ROUND_ROLES = 4


async def _lost(sos: SosHarness, caller: str) -> SosConference:
    """The incident of a caller who could not be taken in, once it ended."""
    conference = await sos.app.wait_for_conference(lambda c: caller in c.legs)
    await conference.wait_for(lambda c: c.done.is_set())
    return conference


async def _assert_nobody_stranded(sos: SosHarness, lost: SosConference, *,
                                  roles_rung: bool = False) -> None:
    assert lost.outcome == "caller_lost"
    # No bridge, no responder left up: 120 (dialled first, for speed) was hung up and,
    # unless the bridge existed and the answer had succeeded, kin, doctor and social
    # worker were never dialled.
    assert lost.bridge_id not in sos.sim.model.bridges
    assert not [c for c in sos.sim.model.channels if c.startswith(lost.id)]
    if not roles_rung:
        assert {leg.role for leg in lost.legs.values() if leg.is_responder} <= {LegRole.EMERGENCY}
    assert all(leg.state is LegState.FAILED for leg in lost.legs.values() if leg.is_responder)
    assert leg_states(lost, LegRole.EMERGENCY)
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
    # The answer had succeeded and the bridge existed: the roles may have been rung
    # before the refusal came back, and are hung up.
    await _assert_nobody_stranded(sos, lost, roles_rung=True)
    await _assert_called_back(sos, lost)


class Originates:
    """The originates of the first incident pressed, as they leave and as they return
    (the channel then exists in Asterisk), by role."""

    def __init__(self, sos: SosHarness) -> None:
        self.sent: list[str] = []
        self.returned: list[str] = []
        self.incident: str | None = None
        self._changed = asyncio.Condition()
        originate = sos.client.channels.originate

        async def watched(*args: Any, **kwargs: Any) -> Any:
            _, incident, role = str(kwargs["app_args"]).split(",")
            self.incident = self.incident or incident
            mine = incident == self.incident
            if mine:
                await self._note(self.sent, role)
            channel = await originate(*args, **kwargs)
            if mine:
                await self._note(self.returned, role)
            return channel

        sos.client.channels.originate = watched  # type: ignore[method-assign]

    async def _note(self, where: list[str], role: str) -> None:
        async with self._changed:
            where.append(role)
            self._changed.notify_all()

    @staticmethod
    def roles(where: list[str]) -> list[str]:
        """Besides 120."""
        return [role for role in where if role != LegRole.EMERGENCY.value]

    async def wait(self, where: list[str], roles: int) -> None:
        async with asyncio.timeout(5), self._changed:
            await self._changed.wait_for(lambda: len(self.roles(where)) >= roles)


async def test_the_roles_are_rung_while_the_callers_entry_into_the_bridge_is_on_its_way(
    sos: SosHarness,
) -> None:
    # The caller's addChannel is answered only when the test moves the clock on.
    sos.sim.faults.delay("POST", "/ari/bridges/*/addChannel", 1.0)
    originates = Originates(sos)
    caller = sos.press()
    await asyncio.wait_for(sos.sim.faults.wait_held(1), 5)
    # Every first-round role's originate has returned (its channel exists) before the
    # caller's entry into the bridge came back.
    await originates.wait(originates.returned, FIRST_ROUND_ROLES)
    conference = await sos.app.wait_for_conference(lambda c: caller in c.legs)
    bridge = sos.sim.model.bridges[conference.bridge_id]
    assert caller not in [ch.id for ch in bridge.channels]
    assert sos.sim.faults.held == 1
    await sos.advance(1)
    await asyncio.wait_for(conference.first_round_done.wait(), 10)
    assert caller in [ch.id for ch in bridge.channels]
    assert conference.outcome is None and not conference.done.is_set()
    assert [n for n, _ in leg_states(conference, LegRole.KIN)] == KIN[:2]
    assert leg_states(conference, LegRole.DOCTOR) and leg_states(conference, LegRole.SOCIAL_WORKER)


@pytest.mark.parametrize("originates_out", [False, True], ids=["originates-returned",
                                                              "originates-on-their-way"])
async def test_a_caller_lost_at_the_bridge_after_the_roles_were_rung_leaves_none_ringing(
    sos: SosHarness, originates_out: bool
) -> None:
    sos.person(ELDER_PHONE)
    # The answer succeeds, the bridge is made, the roles are rung; then the caller's
    # entry into the bridge is refused (they hung up in that millisecond).
    sos.sim.faults.fail("POST", "/ari/bridges/*/addChannel", status=500, delay=1.0)
    originates = Originates(sos)
    if originates_out:
        # 120's and the roles' originates are answered only after that refusal: the
        # lost-caller path must wait for them, then hang their channels up.
        sos.sim.faults.delay("POST", "/ari/channels", 2.0, times=1 + FIRST_ROUND_ROLES)
    caller = sos.press()
    conference = await sos.app.wait_for_conference(lambda c: caller in c.legs)
    if originates_out:
        await asyncio.wait_for(sos.sim.faults.wait_held(1 + 1 + FIRST_ROUND_ROLES), 5)
        assert originates.returned == []
    else:
        await originates.wait(originates.returned, FIRST_ROUND_ROLES)
    assert len(originates.roles(originates.sent)) == FIRST_ROUND_ROLES
    # The simulator's clock alone: the conference is busy with its start meanwhile.
    await sos.sim.advance(1)  # the caller's entry is refused
    if originates_out:
        await sos.sim.advance(1)  # the originates come back: their people's phones ring
    await conference.wait_for(lambda c: c.done.is_set())
    await sos.advance(2)  # whatever else was still held comes through
    await _assert_nobody_stranded(sos, conference, roles_rung=True)
    assert {leg.role for leg in conference.legs.values() if leg.is_responder} == {
        LegRole.EMERGENCY, LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER}
    # Each originate ran its course (none cut short), then its leg was hung up.
    assert len(originates.roles(originates.returned)) == FIRST_ROUND_ROLES
    await _assert_called_back(sos, conference)


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
        async with http.post(url, json={"method": "post", "path": "/ari/bridges/*/addChannel",
                                        "status": None, "delay": 0.5}) as response:
            assert response.status == 201  # carried out half a second late
        async with http.post(url, json={"method": "post", "path": "/ari/bridges/*",
                                        "status": None}) as response:
            assert response.status == 400  # late by nothing: not a fault
        assert [(f.status, f.delay) for f in sos.sim.faults.pending] == [(503, 0.0), (None, 0.5)]
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


