"""``callcenter serve``: a role that cannot run stops the process with a failure."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest

from callcenter.server import run_roles
from callcenter.settings import Settings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_taken_console_port_stops_serve_with_a_failure(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = settings.model_copy(update={"web_bind": f"127.0.0.1:{port}"})
        assert await run_roles(busy, frozenset({"web"})) is False


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_started_process_takes_its_startup_heap_out_of_the_collectors_walk(
    settings: Settings,
) -> None:
    # A full collection walks every tracked object: 0.39 s of a console process's loop at
    # 50 calls a second before the heap alive at start (modules, mappers, compiled
    # statements) was frozen. Once started, what was alive then is no longer walked.
    import gc

    class Alive:
        pass

    alive = Alive()
    alive.cycle = alive  # type: ignore[attr-defined] # tracked by the collector
    walked_before = any(o is alive for o in gc.get_objects())
    seen: dict[str, object] = {}

    async def started(_host: object) -> None:
        seen["walked"] = any(o is alive for o in gc.get_objects())
        seen["frozen"] = gc.get_freeze_count()
        raise asyncio.CancelledError  # stop serving once started

    gc.unfreeze()
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run_roles(settings, frozenset({"notify"}), ready=started)
    finally:
        gc.unfreeze()
    assert walked_before is True
    assert seen == {"walked": False, "frozen": seen["frozen"]} and seen["frozen"] > 1000
