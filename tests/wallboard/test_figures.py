"""Every figure of the supervisor's view agrees with the stored calls, exactly: the formulas
of the README over rows inserted here, with the edge cases (no calls, only short abandons,
a transferred call's new part, a callback, yesterday's calls, a per-queue T)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from ari_apps.wallboard.services import Wallboard
from callcenter.directory.services import Jurisdiction
from callcenter.passwords import Passwords
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Role
from tests.factories import make_area, make_user
from tests.wallboard.support import NOW, at, call, event

ALL = Jurisdiction(None)


@pytest.fixture
def board(settings: Settings) -> Wallboard:
    tuned = settings.model_copy(update={
        "hotline_short_abandon_seconds": 5, "wallboard_service_level_seconds": 20,
        "wallboard_queue_service_level": {"vip": 10}, "wallboard_queue_areas": {"vip": "D2"}})
    return Wallboard(tuned, lambda: NOW)


@asynccontextmanager
async def reading(sessions: SessionFactory) -> AsyncIterator[AsyncConnection]:
    async with sessions() as db:
        yield await db.connection()


async def _seed(sessions: SessionFactory, passwords: Passwords) -> None:
    async with sessions.begin() as db:
        d1 = await make_area(db, "D1", "南开区")
        d2 = await make_area(db, "D2", "和平区")
        for name, area in (("a", d1), ("b", d1), ("c", d2)):
            await make_user(db, passwords, name, Role.AGENT, area=area)
        # general: T = 20 s, short abandons under 5 s.
        call(db, started=at(1), wait=10, agent="a", talk=100, hold=10, wrapup=20)
        first = call(db, started=at(2), wait=30, outcome="transferred", agent="a", talk=200,
                     wrapup=30)
        # The transfer's new part: its own row, never offered again; its handling counts.
        call(db, started=at(2.1), wait=5, agent="b", talk=50, wrapup=10, parent=first)
        abandoned = call(db, started=at(3), wait=40, outcome="abandoned")
        call(db, started=at(4), wait=3, outcome="short_abandon")
        call(db, started=at(5), wait=2, outcome="abandoned")  # under the threshold: short
        call(db, started=at(6), wait=60, outcome="overflow")
        call(db, started=at(9.9), outcome=None, ended=False)  # still waiting
        call(db, started=at(-1), wait=1, agent="a", talk=999)  # yesterday
        call(db, queue=None, kind="callback", started=at(4), agent="b", talk=40,
             parent=abandoned)
        # vip: T = 10 s by setting; its area is D2.
        call(db, queue="vip", started=at(7), wait=15, agent="a", talk=60)
        # quiet: only short abandons.
        call(db, queue="quiet", started=at(8), wait=1, outcome="short_abandon")
        call(db, queue="quiet", started=at(8.5), wait=4, outcome="short_abandon")
        # a: logged in since yesterday, a 30-minute break; c: in since 09:00, paused since 09:45.
        event(db, "a", "login", at(-1))
        event(db, "a", "pause", at(9), reason="break")
        event(db, "a", "unpause", at(9.5))
        event(db, "c", "login", at(9))
        event(db, "c", "pause", at(9.75), reason="lunch")


async def test_every_figure_agrees_with_the_stored_calls(
    sessions: SessionFactory, passwords: Passwords, board: Wallboard,
) -> None:
    await _seed(sessions, passwords)
    async with reading(sessions) as conn:
        await _check_every_figure(board, conn)


async def _check_every_figure(board: Wallboard, conn: AsyncConnection) -> None:
    await board.resync(conn)
    view = await board.snapshot(conn, ALL)
    queues = {q["queue"]: q for q in view["queues"]}
    general = queues["general"]
    assert {k: general[k] for k in ("offered", "answered", "abandoned", "short_abandoned",
                                    "answered_within", "handling_seconds", "waiting")} == {
        "offered": 7, "answered": 2, "abandoned": 1, "short_abandoned": 2,
        "answered_within": 1, "handling_seconds": 130 + 230 + 60, "waiting": 1}
    assert general["service_level"] == 1 / 3  # within T / (answered + abandoned after 5 s)
    assert general["answer_rate"] == 2 / 5  # answered / (offered − short abandons)
    assert general["abandon_rate"] == 1 / 5
    assert general["asa_seconds"] == (10 + 30) / 2
    assert general["aht_seconds"] == 420 / 2
    assert general["meets_targets"] == [False, False]
    assert general["longest_wait_seconds"] == int((NOW - (at(9.9) + timedelta(seconds=2)))
                                                  .total_seconds())

    vip = queues["vip"]
    assert (vip["service_level_seconds"], vip["service_level"], vip["answer_rate"],
            vip["asa_seconds"], vip["aht_seconds"], vip["meets_targets"]) == (
        10, 0.0, 1.0, 15.0, 60.0, [True, True])

    quiet = queues["quiet"]
    assert (quiet["offered"], quiet["short_abandoned"], quiet["answered"]) == (2, 2, 0)
    assert quiet["service_level"] is None and quiet["answer_rate"] is None
    assert quiet["abandon_rate"] is None and quiet["asa_seconds"] is None

    agents = {a["agent"]: a for a in view["agents"]}
    a, b, c = agents["a"], agents["b"], agents["c"]
    assert (a["calls"], a["handling_seconds"]) == (3, 420)
    assert (a["logged_seconds"], a["paused_seconds"]) == (10 * 3600, 1800)
    assert a["occupancy"] == 420 / (36000 - 1800)
    assert (a["state"], a["since"]) == ("idle", at(9.5).isoformat())
    assert (b["calls"], b["handling_seconds"], b["occupancy"]) == (2, 100, None)
    assert (c["state"], c["reason"], c["logged_seconds"], c["paused_seconds"]) == (
        "paused", "lunch", 3600, 900)
    assert c["occupancy"] == 0.0


async def test_no_calls_gives_no_figures_not_zeros(
    board: Wallboard, sessions: SessionFactory,
) -> None:
    async with reading(sessions) as conn:
        await _check_empty(board, conn)


async def _check_empty(board: Wallboard, conn: AsyncConnection) -> None:
    await board.resync(conn)
    view = await board.snapshot(conn, ALL)
    assert view["queues"] == [] and view["agents"] == []
    assert view["callbacks_pending"] is None  # no callback list in this store
    board.apply("hotline.queue.changed", {"queue": "general", "waiting": 0,
                                          "longest_wait_since": None, "callers": []})
    (general,) = (await board.snapshot(conn, ALL))["queues"]
    assert general["offered"] == 0 and general["service_level"] is None
    assert general["aht_seconds"] is None and general["meets_targets"] == [False, False]


async def test_the_15_minute_history_sums_to_the_days_figures(
    sessions: SessionFactory, passwords: Passwords, board: Wallboard,
) -> None:
    await _seed(sessions, passwords)
    async with reading(sessions) as conn:
        await _check_history(board, conn)


async def _check_history(board: Wallboard, conn: AsyncConnection) -> None:
    start, end = at(0), at(24)
    history = await board.intervals(conn, ALL, start, end)
    assert len(history) == 96 and history[0]["start"] == start.isoformat()
    busy = {row["start"]: row for row in history if row["offered"]}
    assert sorted(busy) == [at(h).isoformat() for h in (1, 2, 3, 4, 5, 6, 7, 8, 8.5, 9.75)]
    assert busy[at(2).isoformat()]["answered"] == 1  # the transfer's part is not offered
    assert sum(r["offered"] for r in history) == 7 + 1 + 2
    assert sum(r["short_abandoned"] for r in history) == 4
    only_vip = await board.intervals(conn, ALL, start, end, queue="vip")
    assert [r["offered"] for r in only_vip if r["offered"]] == [1]


async def test_a_queue_with_an_area_shows_only_inside_it_and_agents_by_their_area(
    sessions: SessionFactory, passwords: Passwords, board: Wallboard,
) -> None:
    await _seed(sessions, passwords)
    async with reading(sessions) as conn:
        await _check_areas(board, conn)


async def _check_areas(board: Wallboard, conn: AsyncConnection) -> None:
    await board.resync(conn)
    d1 = (await board.snapshot(conn, Jurisdiction(board.queue_paths["vip"].replace("D2", "D1"))))
    assert "vip" not in {q["queue"] for q in d1["queues"]}
    assert {a["agent"] for a in d1["agents"]} == {"a", "b"}
    d2 = await board.snapshot(conn, Jurisdiction(board.queue_paths["vip"]))
    assert {q["queue"] for q in d2["queues"]} == {"general", "vip", "quiet"}
    assert {a["agent"] for a in d2["agents"]} == {"c"}


async def test_bad_hotline_messages_change_nothing(board: Wallboard) -> None:
    for topic, payload in (
        ("hotline.queue.changed", {"queue": "", "waiting": 1}),
        ("hotline.queue.changed", {"queue": "q", "waiting": -1}),
        ("hotline.agent.changed", {"agent": "a", "state": "dancing"}),
        ("hotline.callbacks.changed", {"pending": "many"}),
    ):
        changes = board.apply(topic, payload)
        assert not (changes.queues or changes.agents or changes.callbacks)
    assert board.queues == {} and board.agents == {} and board.callbacks_pending is None
