"""The console with the screen-pop and the live view, over the webui fixtures' seeded world,
and the hotline's messages as the hotline publishes them on the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ari_apps.screenpop.http import RELAY
from ari_apps.screenpop.http import install_web as install_screenpop
from ari_apps.sos.models import Incident
from ari_apps.wallboard.http import install_web as install_wallboard
from callcenter.bus import BusMessage
from callcenter.calls.models import Call
from callcenter.runtime import Runtime
from tests.webui import conftest as webui_fixtures
from tests.webui.conftest import FakeClock, World, submit_login
from webui import create_app
from workflow.models import Complaint, WorkOrder

# The seeded console's fixtures (runtime, world, clock), shared with tests/webui.
runtime = webui_fixtures.runtime
world = webui_fixtures.world
clock = webui_fixtures.clock
client_address = webui_fixtures.client_address

CALL_ID = "1741000000.17"
ELDER_NUMBER = "13800138001"
UNKNOWN_NUMBER = "13999990000"


def with_features(runtime: Runtime, clock: FakeClock) -> web.Application:
    return create_app(runtime, clock=clock, features=[install_screenpop, install_wallboard])


@dataclass
class Console:
    url: str
    app: web.Application
    runtime: Runtime
    clock: FakeClock

    async def hotline(self, topic: str, payload: dict[str, Any]) -> None:
        """Publish as the hotline does, then wait until the pop relay has handled it."""
        relay = self.app[RELAY]
        expected = relay.handled + (1 if topic.startswith("hotline.call.") else 0)
        await self.runtime.bus.publish(BusMessage(topic, payload))
        await relay.caught_up(expected)

    def ringing(self, agent: str, call_id: str = CALL_ID, **extra: Any) -> dict[str, Any]:
        return {"call_id": call_id, "agent": agent, "queue": "general",
                "caller_number": ELDER_NUMBER, "elder_id": extra.pop("elder_id", None),
                "caller_kind": "elder", "priority": 1, "reason": "高危老人优先",
                "rung_at": self.clock.now.isoformat(), **extra}

    async def login(self, username: str) -> aiohttp.ClientSession:
        http = aiohttp.ClientSession(base_url=self.url + "/",
                                     cookie_jar=aiohttp.CookieJar(unsafe=True))
        assert (await submit_login(http, username)).status == 303
        return http


@pytest.fixture
async def console(runtime: Runtime, clock: FakeClock, world: World) -> AsyncIterator[Console]:
    app = with_features(runtime, clock)
    async with TestServer(app) as server:
        yield Console(str(server.make_url("")).rstrip("/"), app, runtime, clock)


async def seed_history(runtime: Runtime, world: World, clock: FakeClock) -> None:
    """Around 张秀英: this call (waiting), an abandoned one an hour ago, an open SOS, an open
    work order, an open and a closed complaint; and one earlier call from an unknown number."""
    now = clock.now
    async with runtime.sessions.begin() as db:
        db.add(Call(id=CALL_ID, kind="hotline", direction="inbound", caller_number=ELDER_NUMBER,
                    elder_id=world.elder_c1, caller_kind="elder", queue="general", priority=1,
                    started_at=now - timedelta(seconds=20), queued_at=now - timedelta(seconds=18)))
        db.add(Call(id="1740990000.3", kind="hotline", direction="inbound",
                    caller_number=ELDER_NUMBER, elder_id=world.elder_c1, queue="general",
                    started_at=now - timedelta(hours=1), queued_at=now - timedelta(hours=1),
                    ended_at=now - timedelta(minutes=59), wait_seconds=42, outcome="abandoned"))
        db.add(Call(id="1740000000.9", kind="hotline", direction="inbound",
                    caller_number=UNKNOWN_NUMBER, queue="general", agent="agent_street",
                    started_at=now - timedelta(days=3), answered_at=now - timedelta(days=3),
                    ended_at=now - timedelta(days=3) + timedelta(minutes=2), wait_seconds=8,
                    talk_seconds=110, outcome="answered"))
        db.add(Incident(id="20250303075500abcd", elder_id=world.elder_c1, identified=True,
                        caller_number=ELDER_NUMBER, area_path=world.path_c1, bridge_id="sos-x",
                        started_at=now - timedelta(minutes=5)))
        db.add(WorkOrder(number="WO-2025-0001", type="service", elder_id=world.elder_c1,
                         title="助浴上门服务", created_by="agent_c1",
                         created_at=now - timedelta(days=1)))
        db.add(Complaint(number="CP-2025-0001", elder_id=world.elder_c1, status="investigating",
                         title="上门服务迟到", created_by="agent_c1",
                         created_at=now - timedelta(days=2)))
        db.add(Complaint(number="CP-2024-0009", elder_id=world.elder_c1, status="closed",
                         title="已办结的投诉", created_by="agent_c1",
                         created_at=now - timedelta(days=90)))


@pytest.fixture
async def served(runtime: Runtime, clock: FakeClock, world: World) -> AsyncIterator[Console]:
    """The console on a free loopback port for a browser, on the real time (the browser's
    own clock ticks the live times)."""
    from callcenter.store.models import utcnow

    clock.now = utcnow()
    app = with_features(runtime, clock)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield Console(f"http://{host}:{port}", app, runtime, clock)
    finally:
        await runner.cleanup()
