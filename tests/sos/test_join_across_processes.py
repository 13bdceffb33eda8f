"""A console process without call control rings a softphone into an SOS that another
process hosts: the "join" command crosses processes over the Redis bus (PostgreSQL store)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

import ari_apps.sos.http as sos_http
from ari_apps.sos.models import Incident
from callcenter.bus import BusMessage
from callcenter.bus.redis import RedisBus
from callcenter.composition import open_product
from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from callcenter.server import web_installers
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from tests.conftest import REDIS_URL, TEST_SECRET
from tests.sos.conftest import AGENT_ENDPOINT, ELDER_PHONE
from tests.webui.conftest import csrf_of, submit_login
from webui.app import create_app

pytestmark = [pytest.mark.postgres, pytest.mark.redis,
              pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]
ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0


async def _calls_process(sim: PbxSimulator, database_url: str, data_dir: Path
                         ) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLCENTER_")},
        "PYTHONPATH": str(ROOT),
        "CALLCENTER_DATABASE_URL": database_url, "CALLCENTER_REDIS_URL": REDIS_URL,
        "CALLCENTER_ARI_URL": sim.ari_url, "CALLCENTER_AMI_PORT": str(sim.ami_port),
        "CALLCENTER_SECRET_KEY": TEST_SECRET, "CALLCENTER_DATA_DIR": str(data_dir),
        "CALLCENTER_LOG_FORMAT": "json",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "callcenter", "serve", "--role", "calls", env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    try:
        async with asyncio.timeout(WAIT):  # up once its SOS app has resynchronised
            while b"ari resynced" not in (line := await process.stdout.readline()):
                assert line, "the calls process ended before it was ready"
    except BaseException:
        process.kill()
        await process.wait()
        raise
    yield process
    process.terminate()
    await process.wait()


@pytest.fixture
async def calls_process(
    sim: PbxSimulator, database_url: str, seeded: int, tmp_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    async for process in _calls_process(sim, database_url, tmp_path / "calls"):
        yield process


@pytest.fixture
async def web_only(settings: Settings) -> AsyncIterator[TestServer]:
    """A process of the web role alone: no Asterisk adapters, the Redis bus."""
    configured = settings.model_copy(update={"redis_url": REDIS_URL})
    async with open_product(configured, frozenset({"web"})) as host:
        assert host.cluster is None
        app = create_app(host.runtime, features=web_installers(host))
        async with TestServer(app) as server:
            yield server


async def _agent(server: TestServer) -> tuple[aiohttp.ClientSession, str]:
    http = aiohttp.ClientSession(base_url=server.make_url(""),
                                 cookie_jar=aiohttp.CookieJar(unsafe=True))
    response = await submit_login(http, "agent1")
    assert response.status == 303
    return http, await csrf_of(http)


async def _stored(sessions: SessionFactory, incident_id: str) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            async with sessions() as session:
                if await session.get(Incident, incident_id) is not None:
                    return
            await asyncio.sleep(0.05)  # the recorder writes off the call path, in batches


async def test_a_console_process_rings_a_softphone_into_another_process_s_sos(
    calls_process: Any, web_only: TestServer, sim: PbxSimulator, sessions: SessionFactory,
) -> None:
    sim.set_person(AGENT_ENDPOINT, Person(behaviour="answer", ring_seconds=5.0))
    bus = RedisBus(REDIS_URL)
    started = await bus.subscribe("sos.started")
    try:
        sim.dialplan.inbound(ELDER_PHONE, "12349", app="callcenter", args=["sos"])
        async with asyncio.timeout(WAIT):
            message: BusMessage = await anext(aiter(started))
        incident_id = str(message.payload["incident"])
        await _stored(sessions, incident_id)

        http, csrf = await _agent(web_only)
        async with http:
            async with http.post(f"/api/sos/{incident_id}/join",
                                 headers={"X-CSRF-Token": csrf}) as response:
                body = await response.json()
        assert response.status == 200, body
        assert body["endpoint"] == AGENT_ENDPOINT
        leg = sim.model.channels[body["leg"]]  # rung by the calls process, on the PBX
        assert AGENT_ENDPOINT in leg.name
    finally:
        await started.close()
        await bus.close()


async def test_without_any_call_control_process_join_answers_503_in_bounded_time(
    web_only: TestServer, sessions: SessionFactory, seeded: int, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ari_apps.sos.models import IncidentStatus
    from callcenter.store.models import utcnow

    monkeypatch.setattr(sos_http, "JOIN_WITHIN", 0.5)
    async with sessions.begin() as session:
        session.add(Incident(id="20261130000000abcdef", kind="sos", caller_number=ELDER_PHONE,
                             status=IncidentStatus.ACTIVE.value, started_at=utcnow(),
                             bridge_id="sos-20261130000000abcdef",
                             identified=False))
    http, csrf = await _agent(web_only)
    async with http:
        async with http.post("/api/sos/20261130000000abcdef/join",
                             headers={"X-CSRF-Token": csrf}) as response:
            body = await response.json()
    assert response.status == 503
    assert body["error_id"] == "call-control-unavailable"
