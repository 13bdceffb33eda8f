"""The workflow store over the test store: a small directory, providers, a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from callcenter.bus import BusMessage, MemoryBus
from callcenter.crypto import FieldCipher
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Provider, ProviderArea
from tests.factories import make_area, make_elder, make_provider
from workflow.casebook import Casebook
from workflow.machines import Actor

#: Tuesday 8 September 2026, 10:00 in Shanghai: the week before is plain, National Day ahead.
T0 = datetime(2026, 9, 8, 2, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass(frozen=True)
class Directory:
    elder_id: int  # in C1, designated provider P1
    elder_c3: int  # in district D2
    p1: int  # home_care, covers C1 (designated)
    p2: int  # home_care + meals, covers street S1, rated higher
    p3: int  # meals, covers D2 only
    path_c1: str
    path_s1: str
    path_d2: str


AGENT = "agent_c1"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def directory(sessions: SessionFactory, cipher: FieldCipher) -> Directory:
    async with sessions.begin() as db:
        d1 = await make_area(db, "D1", "南开区")
        s1 = await make_area(db, "S1", "长虹街道", d1)
        c1 = await make_area(db, "C1", "长江里社区", s1)
        d2 = await make_area(db, "D2", "和平区")
        s2 = await make_area(db, "S2", "劝业场街道", d2)
        c3 = await make_area(db, "C3", "花园路社区", s2)
        p1 = await make_provider(db, "P1", "乐康居家养老服务中心", "02287654321")
        p2 = await make_provider(db, "P2", "安心助老服务社")
        p3 = await make_provider(db, "P3", "和平助餐点")
        p1.capacity, p1.rating = 10, 3.5
        p2.capacity, p2.rating, p2.service_types = 10, 4.8, ["home_care", "meals"]
        p3.capacity, p3.rating, p3.service_types = 10, 5.0, ["meals"]
        db.add_all([ProviderArea(provider_id=p1.id, area_id=c1.id),
                    ProviderArea(provider_id=p2.id, area_id=s1.id),
                    ProviderArea(provider_id=p3.id, area_id=d2.id)])
        elder = await make_elder(db, cipher, c1, "张秀英", phones=["13800138001"], provider=p1)
        e3 = await make_elder(db, cipher, c3, "张桂兰", phones=["13900139003"])
        await db.flush()
        assert isinstance(p1, Provider)
    return Directory(elder.id, e3.id, p1.id, p2.id, p3.id, c1.path, s1.path, d2.path)


@pytest.fixture
def agent(directory: Directory) -> Actor:
    return Actor(AGENT, "agent", directory.path_s1)


@pytest.fixture
def supervisor(directory: Directory) -> Actor:
    return Actor("super_d1", "supervisor", directory.path_s1.rsplit("/", 2)[0] + "/")


class Published(list[BusMessage]):
    pass


@pytest.fixture
async def casebook(sessions: SessionFactory, settings: Settings, clock: Clock,
                   directory: Directory) -> AsyncIterator[Casebook]:
    yield Casebook(sessions, settings, MemoryBus(), None, clock)
