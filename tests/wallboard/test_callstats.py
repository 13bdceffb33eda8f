"""The hotline's answer rate as the workflow's evaluation reads it, by area and period."""

from __future__ import annotations

from datetime import timedelta

from ari_apps.wallboard.callstats import HotlineCallStats
from callcenter.crypto import FieldCipher
from callcenter.store.engine import SessionFactory
from tests.factories import make_area, make_elder
from tests.wallboard.support import at, call


async def test_the_answer_rate_counts_an_areas_elders_and_leaves_out_short_abandons(
    sessions: SessionFactory, cipher: FieldCipher,
) -> None:
    async with sessions.begin() as db:
        nankai, heping = await make_area(db, "D1", "南开区"), await make_area(db, "D2", "和平区")
        here = (await make_elder(db, cipher, nankai, "王桂兰")).id
        there = (await make_elder(db, cipher, heping, "李建国")).id
        call(db, started=at(1), elder_id=here)
        call(db, started=at(2), elder_id=here, outcome="abandoned", wait=60)
        call(db, started=at(3), elder_id=here, outcome="short_abandon", wait=2)  # not counted
        call(db, started=at(3), elder_id=here, parent="call-x", queue="general")  # a transfer's part
        call(db, started=at(4), elder_id=there, outcome="abandoned", wait=90)
        call(db, started=at(5))  # an unknown caller: the whole service only
        call(db, started=at(30), elder_id=here)  # tomorrow: outside the period
    stats = HotlineCallStats(sessions)
    day = (at(0), at(24))
    assert await stats.answer_rate(nankai.path, *day) == 1 / 2
    assert await stats.answer_rate(heping.path, *day) == 0.0
    assert await stats.answer_rate(None, *day) == 2 / 4
    assert await stats.answer_rate(nankai.path, at(-24), at(0)) is None  # no calls: no figure
    assert await stats.answer_rate(nankai.path, at(24), at(48) + timedelta(hours=1)) == 1.0
