"""A product restart at the worst moments: during the first ring, right after a press."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from ari_apps.sos.models import Incident, LegRole, LegState
from callcenter.pbxsim.server import PbxSimulator
from callcenter.store import create_engine, session_factory
from callcenter.store.engine import SessionFactory
from tests.sos.conftest import DOCTORS, EMERGENCY, KIN, SOCIAL_WORKER, SosHarness, leg_states
from tests.sos.test_faults import (  # noqa: F401 - fixtures
    Originates,
    Product,
    _log_in_staff,
    _script,
    originates,
    product,
)


async def test_restart_during_the_first_ring_keeps_ringing_legs_and_redials_vanished_ones(
    product: Product, sim: PbxSimulator, originates: Originates,  # noqa: F811
) -> None:
    first = await product.start()
    # Everybody rings for 6 s; kin 1 gives up while the product is down.
    _script(first, **{number: ("answer", 6.0)
                      for number in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER]})
    caller = first.press()
    conference = await first.incident(caller)
    await first.advance(1)
    await conference.wait_for(lambda c: len(c.legs) == 6 and all(
        leg.state is LegState.RINGING for leg in c.legs.values() if leg.is_responder))
    incident = conference.id
    await product.stop(first)
    await sim.advance(2)
    sim.calls.hangup(sim.model.channels[f"{incident}-k0"], 17)  # nobody hears why

    second = await product.start()
    restored = await second.app.wait_for_conference(lambda c: c.id == incident)
    # Still ringing in Asterisk: kept; kin 1 vanished: failed, and kin 3 is dialled.
    await restored.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 3)
    assert leg_states(restored, LegRole.KIN) == [
        (KIN[0], LegState.FAILED), (KIN[1], LegState.RINGING), (KIN[2], LegState.DIALING)]
    assert leg_states(restored, LegRole.SOCIAL_WORKER) == [(SOCIAL_WORKER, LegState.RINGING)]
    assert not restored.exhausted
    await second.advance(10)  # everybody answers, hears who and joins
    await restored.wait_for(lambda c: len(c.parties) == 6)
    assert not restored.exhausted
    ids = originates.of(incident)
    assert len(ids) == len(set(ids)), f"a leg was dialled twice: {ids}"
    await second.settle_store()
    alerts = [m.payload["alert"] for m in second.published
              if m.topic == "sos.alert" and m.payload["incident"] == incident]
    assert alerts == []  # no false recording_failed: the recording goes on
    timeline = await second.timeline(incident)
    assert "recording.failed" not in timeline


async def _kill(running: Product, harness: SosHarness) -> None:
    """The product dies: nothing queued is written, nothing is drained; its own store
    connections close (a dead process holds no SQLite lock)."""
    running.open.remove(harness)
    await harness.scheduler.close()
    await harness.commands.close()
    await harness.app.close()
    await harness.notifier.close(grace=0)
    await harness.recorder.close(grace=0)
    await harness.client.close()
    if harness.sessions is not running.sessions:
        await harness.sessions.kw["bind"].dispose()


async def _mortal(running: Product) -> SosHarness:
    """A product with store connections of its own, to be killed (see ``_kill``)."""
    return await running.start(sessions=session_factory(create_engine(
        running.settings.database_url)))


@pytest.mark.parametrize("first_row", ["journaled", "replayed"])
async def test_a_crash_right_after_a_press_loses_nothing_and_the_elder_is_not_left_alone(
    product: Product, sim: PbxSimulator, sessions: SessionFactory,  # noqa: F811
    first_row: str,
) -> None:
    await _log_in_staff(sessions)
    first = await _mortal(product)
    _script(first, **{n: ("noanswer", 0.0) for n in [EMERGENCY, *KIN, *DOCTORS, SOCIAL_WORKER]})
    never = asyncio.Event()

    async def store_never_answers(batch: object) -> None:
        await never.wait()  # the product dies before its first row reaches the store

    first.recorder._apply = store_never_answers  # type: ignore[method-assign, assignment]
    journaled, write = asyncio.Event(), first.journal.write

    async def journal_write(*args: Any, **kwargs: Any) -> None:
        await write(*args, **kwargs)
        journaled.set()  # on disk (its fsync runs in a thread, beside the bridging)

    first.journal.write = journal_write  # type: ignore[method-assign]
    caller = first.press()
    bridged = asyncio.Event()
    sim.model.sinks.append(
        lambda event: bridged.set() if event.kind == "ChannelEnteredBridge" and event.ari
        and event.ari["channel"]["id"] == caller else None)
    await asyncio.wait_for(bridged.wait(), 10)
    await asyncio.wait_for(journaled.wait(), 10)
    await _kill(product, first)  # ~ms after StasisStart: no row was written
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Incident))).scalar() == 0
    assert first.journal.backlog() > 0  # … but its first row was journaled (fsync'd)
    if first_row == "replayed":
        # Seen on Asterisk 22: the journal's first row reaches the store before the
        # restarted product reads what is active — a row with no legs, not even the caller.
        await first.journal.replay()
        async with sessions() as session:
            row = (await session.execute(select(Incident))).scalar_one()
            assert row.elder_id is None and not row.identified

    second = await product.start()
    adopted = await second.app.wait_for_conference(lambda c: caller in c.legs)
    # The first round of the adopted incident: every role dialled.
    await adopted.wait_for(lambda c: all(leg_states(c, role) for role in (
        LegRole.EMERGENCY, LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER)))
    assert adopted.identified and adopted.parties == {caller}
    assert [n for n, _ in leg_states(adopted, LegRole.KIN)] == KIN[:2]
    assert leg_states(adopted, LegRole.DOCTOR) and leg_states(adopted, LegRole.SOCIAL_WORKER)
    assert len(leg_states(adopted, LegRole.EMERGENCY)) == 1  # 120, dialled first, kept
    await adopted.wait_for(lambda c: c._prompt_playback is not None)  # help is coming
    await second.advance(21)  # nobody answers: the escalation rings the agents on duty
    await adopted.wait_for(lambda c: bool(leg_states(c, LegRole.AGENT)))
    await second.settle_store()
    async with sessions() as session:
        row = await session.get(Incident, adopted.id)
    assert row is not None and row.status == "active" and row.elder_id == second.elder_id


async def test_a_caller_left_in_the_app_before_any_bridge_is_taken_back(
    product: Product, sim: PbxSimulator, sessions: SessionFactory,  # noqa: F811
) -> None:
    first = await _mortal(product)
    arrived = asyncio.Event()

    def dies_at_once(*args: object, **kwargs: object) -> None:
        arrived.set()  # the StasisStart came; the product died before doing anything

    first.app.open_incident = dies_at_once  # type: ignore[assignment, method-assign]
    caller = first.press()
    await asyncio.wait_for(arrived.wait(), 10)
    await _kill(product, first)
    assert not sim.model.bridges  # no bridge, no row: only the caller, in our app

    second = await product.start()
    _script(second)
    adopted = await second.app.wait_for_conference(lambda c: caller in c.legs)
    await adopted.wait_for(lambda c: caller in c.parties and all(
        leg_states(c, role) for role in (LegRole.EMERGENCY, LegRole.KIN)))
    assert adopted.identified  # by the caller's number, as for a new press
    assert sim.model.channels[caller].state == "Up"
    await adopted.wait_for(lambda c: c._prompt_playback is not None)  # not a silent line
