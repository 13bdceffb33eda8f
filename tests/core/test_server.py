"""``callcenter serve``: a role that cannot run stops the process with a failure."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket

import pytest
from structlog.testing import capture_logs

from callcenter.feature import Feature, Host
from callcenter.runtime import FULL_COLLECTION_EVERY
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
async def test_a_started_process_freezes_its_startup_heap_and_collects_in_full_rarely(
    settings: Settings,
) -> None:
    # A full collection walks every tracked object: 0.39 s of a console process's loop at
    # 50 calls a second before the heap alive at start (modules, mappers, compiled
    # statements) was frozen. Once started, what was alive then is no longer walked, and a
    # full collection (46-135 ms at that load) comes every 100 generation-1 ones, not 10.
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
        seen["full every"] = gc.get_threshold()[2]
        raise asyncio.CancelledError  # stop serving once started

    thresholds = gc.get_threshold()
    gc.unfreeze()
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await run_roles(settings, frozenset({"notify"}), ready=started)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert walked_before is True
    assert seen == {"walked": False, "frozen": seen["frozen"],
                    "full every": FULL_COLLECTION_EVERY} and seen["frozen"] > 1000


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("how", ["deadline", "second signal"])
async def test_a_stop_that_hangs_names_what_it_waits_for_and_exits(
    settings: Settings, how: str
) -> None:
    """A close that never ends (a consumer that swallowed its cancellation once kept a
    product from stopping for hours) ends the process at the deadline, or at once on a
    second signal, saying where it waits."""
    released = asyncio.Event()
    exits: list[int] = []

    async def hang_on_close() -> None:
        if how == "second signal":
            os.kill(os.getpid(), signal.SIGTERM)
        await released.wait()

    hang_line = hang_on_close.__code__.co_firstlineno + 3
    main = asyncio.current_task().get_name()  # type: ignore[union-attr]

    async def load(host: Host) -> None:
        host.stack.push_async_callback(hang_on_close)

    def exit_now(code: int) -> None:
        exits.append(code)
        released.set()  # the test's own process goes on

    async def started(_host: object) -> None:
        os.kill(os.getpid(), signal.SIGTERM)

    deadline = 0.2 if how == "deadline" else 3600.0
    with capture_logs() as logs:
        await run_roles(settings, frozenset({"notify"}), ready=started,
                        features=(Feature("hangs", load=load),), stop_deadline=deadline,
                        exit_now=exit_now)
    assert exits == [1]
    overdue = [r for r in logs if r["event"] == "stop overdue: exiting now"]
    assert [r["why"] for r in overdue] == [
        "not stopped in time" if how == "deadline" else "signalled again"]
    where = next(w for w in overdue[0]["waiting"] if w.startswith(main + " at "))
    assert f"test_server.py:{hang_line} > " in where
