"""Recordings fixtures: the store in a temporary folder, a spool, a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from callcenter.runtime import Runtime
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from recordings.capture import CaptureRequest
from recordings.http import install_web
from recordings.models import RecordingSource
from recordings.services import Recordings
from tests.recordings.support import Recorded, make_call, wav_bytes
from tests.webui.conftest import (  # noqa: F401 - the console's fixtures, for these tests too
    ClientAddress,
    FakeClock,
    World,
    client_address,
    clock,
    connect,
    login,
    runtime,
    server,
    world,
)
from webui import create_app

STARTED = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)


class Clock:
    """Now, as the test says (UTC)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def rclock() -> Clock:
    return Clock(datetime(2025, 3, 3, 2, 0, tzinfo=UTC))


@pytest.fixture
def rsettings(settings: Settings, tmp_path: Path) -> Settings:
    spool = tmp_path / "spool"
    spool.mkdir()
    return settings.model_copy(update={"recordings_dir": tmp_path / "store",
                                       "recordings_spool": spool})


@pytest.fixture
def build(rsettings: Settings, sessions: SessionFactory, rclock: Clock
          ) -> Callable[..., Recordings]:
    def make(**kw: object) -> Recordings:
        settings = rsettings.model_copy(update=kw.pop("settings", {}))  # type: ignore[arg-type]
        return Recordings.build(settings, sessions, clock=rclock, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def recordings(build: Callable[..., Recordings]) -> Recordings:
    return build()


@pytest.fixture
def app(runtime: Runtime, clock: FakeClock,  # noqa: F811
        client_address: ClientAddress, recordings: Recordings) -> web.Application:  # noqa: F811
    return create_app(runtime, clock=clock, client_address=client_address,
                      features=[lambda application: install_web(application, recordings)])


@pytest.fixture
async def recorded(recordings: Recordings, world: World) -> Recorded:  # noqa: F811
    spool = recordings.settings.recordings_spool
    assert spool is not None
    audio = {"c1": wav_bytes(4.0, ((0.5, 1.5), (2.0, 3.2)), tone=350),
             "d2": wav_bytes(2.0, ((0.2, 1.0),), tone=650)}
    serials = {}
    for key, elder, agent, caller in (("c1", world.elder_c1, "agent_c1", "13800138001"),
                                      ("d2", world.elder_c3, "agent_d2", "13900139003")):
        async with recordings.sessions.begin() as session:
            await make_call(session, f"call-{key}", STARTED, agent=agent, elder_id=elder,
                            caller=caller)
        (spool / f"call-{key}.wav").write_bytes(audio[key])
        row = await recordings.capture.take(CaptureRequest(
            f"call-{key}.wav", RecordingSource.SPOOL, call_id=f"call-{key}"))
        serials[key] = row.serial
    return Recorded(serials["c1"], serials["d2"], audio["c1"], audio["d2"])
