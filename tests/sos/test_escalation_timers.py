"""SOS escalation on the durable scheduler: stored, cancelled at the end, run where the
conference is, and an incident that runs nowhere is not silently forgotten."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from ari_apps.sos.models import Incident, IncidentStatus
from ari_apps.sos.timers import KIND, NotRunningAnywhere
from callcenter.scheduler import Timer, TimerState, list_timers
from callcenter.store.models import utcnow
from tests.sos.conftest import SosHarness, sim_now
from tests.sos.test_scenarios import _all_in


async def _steps(sos: SosHarness, incident_id: str) -> dict[str, str]:
    await sos.scheduler.drain()
    async with sos.sessions() as session:
        rows = await list_timers(session, kind=KIND)
    return {row.key.split(":")[1]: row.state for row in rows if row.key.startswith(incident_id)}


async def test_an_sos_arms_its_escalation_as_stored_timers_and_its_end_cancels_them(
    sos: SosHarness,
) -> None:
    conference = await sos.incident(sos.press())
    steps = await _steps(sos, conference.id)
    assert steps == {"agents": TimerState.PENDING.value,
                     "supervisors": TimerState.PENDING.value}
    async with sos.sessions() as session:
        agents = next(t for t in await list_timers(session, kind=KIND)
                      if t.key == f"{conference.id}:agents")
    # Due 20 s (SOS_AGENT_AFTER_SECONDS) after the press, on the clock the calls run on.
    assert abs((agents.due_at.replace(tzinfo=sim_now(sos.sim).tzinfo) - sim_now(sos.sim))
               - timedelta(seconds=20)) < timedelta(seconds=2)

    await _all_in(sos, conference, 5)
    for leg in list(conference.legs.values()):
        if leg.is_responder:
            sos.sim.calls.hangup(sos.sim.model.channels[leg.id], 16)
    await conference.wait_for(lambda c: c.done.is_set())
    assert set((await _steps(sos, conference.id)).values()) == {TimerState.CANCELLED.value}


async def test_a_step_of_an_incident_that_ended_elsewhere_is_done_quietly(
    sos: SosHarness,
) -> None:
    async with sos.sessions.begin() as session:
        session.add(Incident(id="20261130000000aaaaaa", kind="sos", caller_number="",
                             status=IncidentStatus.ENDED.value, started_at=utcnow(),
                             bridge_id="sos-20261130000000aaaaaa", identified=False))
    timer = Timer(KIND, "20261130000000aaaaaa:agents", utcnow(),
                  {"incident": "20261130000000aaaaaa", "step": "agents"}, 1, utcnow())
    await sos.app.escalation.run(timer)  # nothing to do, no error


async def test_a_step_of_an_active_incident_that_runs_nowhere_fails_to_be_retried(
    sos: SosHarness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("ari_apps.sos.timers.HOST_WITHIN", 0.2)
    async with sos.sessions.begin() as session:
        session.add(Incident(id="20261130000000bbbbbb", kind="sos", caller_number="",
                             status=IncidentStatus.ACTIVE.value, started_at=utcnow(),
                             bridge_id="sos-20261130000000bbbbbb", identified=False,
                             node="a-node-whose-process-is-down"))
    timer = Timer(KIND, "20261130000000bbbbbb:agents", utcnow(),
                  {"incident": "20261130000000bbbbbb", "step": "agents"}, 1, utcnow())
    with pytest.raises(NotRunningAnywhere):
        await sos.app.escalation.run(timer)


async def test_a_restore_pass_never_brings_back_an_incident_this_process_ended(
    sos: SosHarness,
) -> None:
    from tests.sos.test_scenarios import _all_in

    conference = await sos.incident(sos.press())
    await _all_in(sos, conference, 5)
    await sos.settle_store()  # its rows say "active"
    held = asyncio.Event()
    apply = sos.recorder._apply

    async def slow_store(batch: Any) -> None:
        await held.wait()  # the "ended" rows are still on their way
        await apply(batch)

    sos.recorder._apply = slow_store  # type: ignore[method-assign]
    for leg in list(conference.legs.values()):
        if leg.is_responder:
            sos.sim.calls.hangup(sos.sim.model.channels[leg.id], 16)
    await conference.wait_for(lambda c: c.done.is_set())

    await sos.app._restore(sos.client, {}, {})  # a reconnect's pass reads it as active
    assert conference.id not in sos.app.conferences
    held.set()
    await sos.settle_store()
    async with sos.sessions() as session:
        row = await session.get(Incident, conference.id)
    assert row is not None and (row.status, row.outcome) == ("ended", "completed")
