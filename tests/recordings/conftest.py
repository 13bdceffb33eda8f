"""Recordings fixtures: the store in a temporary folder, a spool, a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from recordings.services import Recordings


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
