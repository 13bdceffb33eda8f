"""Device alarms run on the SOS app: the SOS scenario fixtures, a device's HTTP and MQTT."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aiohttp
import pytest

from ari_apps.alarms.services import AlarmIntake
from ari_apps.alarms.tokens import issue_token
from callcenter.settings import Settings
from tests.alarms.support import BROKER, Device, Post, device_on, poster, serve_alarms, subscriber
from tests.sos.conftest import DEVICE, SosHarness, seeded, sim, sos  # noqa: F401


@pytest.fixture
async def token(sos: SosHarness) -> str:  # noqa: F811 - the fixture imported above
    async with sos.sessions.begin() as session:
        return await issue_token(session, sos.app.settings.secret_key_bytes(), DEVICE,
                                 actor="test")


@pytest.fixture
def intake(sos: SosHarness) -> AlarmIntake:  # noqa: F811
    return AlarmIntake(sos.app, sos.sessions, sos.app.settings)



@pytest.fixture
async def http(settings: Settings, intake: AlarmIntake) -> AsyncIterator[aiohttp.ClientSession]:
    """A device's HTTP client on the console with the alarm feature."""
    async with serve_alarms(settings, intake) as client:
        yield client


@pytest.fixture
def post(http: aiohttp.ClientSession, token: str) -> Post:
    return poster(http, token)


@pytest.fixture
async def device(intake: AlarmIntake) -> AsyncIterator[Device]:
    """The product's subscriber and a device, on the real broker under a private topic root."""
    root = f"test-{uuid.uuid4().hex[:8]}/devices"
    async with subscriber(BROKER, intake, root), device_on(BROKER, root) as one:
        yield one

