"""A database that refuses connections for a while: devices are told to retry (503)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from ari_apps.alarms.services import AlarmIntake
from callcenter.settings import Settings
from callcenter.store import create_engine, session_factory
from tests.alarms.support import alarm, nothing_started, poster, serve_alarms
from tests.sos.conftest import SosHarness
from tests.support.pg_roles import limited_role


async def test_too_many_connections_answers_503_so_the_device_retries(
    sos: SosHarness, token: str, settings: Settings, database_url: str
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("connection limits are PostgreSQL's")
    async with limited_role(database_url) as role:
        engine = create_engine(role.url)
        try:
            intake = AlarmIntake(sos.app, session_factory(engine), sos.app.settings)
            async with serve_alarms(settings, intake) as http:
                post = poster(http, token)
                await role.refuse()
                status, answer = await post(alarm())
                assert (status, answer["error_id"]) == (503, "store-unavailable"), answer
                assert answer["details"] == {"retry": True}
                assert nothing_started(sos)

                await role.admit()  # the pool is cured: the device's retry goes through
                status, answer = await post(alarm())
                assert status == 202, answer
        finally:
            await engine.dispose()
