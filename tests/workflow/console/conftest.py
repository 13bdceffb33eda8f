"""The console app with the workflow feature's web part, over the console's seeded world."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer

from callcenter.runtime import Runtime
from callcenter.store.models import Area, Provider, ProviderArea
from tests.webui.conftest import (  # noqa: F401 - the console's fixtures, shared
    FakeClock,
    World,
    client_address,
    clock,
    connect,
    login,
    runtime,
    world,
)
from webui import create_app
from workflow.feature import install_console


@pytest.fixture
async def server(runtime: Runtime, clock: FakeClock, world: World) -> AsyncIterator[TestServer]:  # noqa: F811
    """The console with the workflow pages and API; provider P1 serves community C1."""
    async with runtime.sessions.begin() as db:
        provider = (await db.execute(Provider.__table__.select())).first()
        c1 = (await db.execute(Area.__table__.select().where(Area.code == "C1"))).first()
        assert provider is not None and c1 is not None
        db.add(ProviderArea(provider_id=provider.id, area_id=c1.id))
    app = create_app(runtime, clock=clock, features=[lambda a: install_console(a, None)])
    async with TestServer(app) as started:
        yield started
