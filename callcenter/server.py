"""``callcenter serve`` and ``callcenter demo``: run the product's roles until stopped."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from typing import Any

from callcenter.logs import configure_logging, get_logger
from callcenter.runtime import Runtime, open_runtime
from callcenter.settings import Settings, parse_bind
from callcenter.store import migrate

log = get_logger(__name__)

RoleRunner = Callable[[Runtime], Coroutine[Any, Any, None]]


async def _run_web(runtime: Runtime) -> None:
    from webui.app import run_web

    host, port = parse_bind(runtime.settings.web_bind)
    await run_web(runtime, host=host, port=port)


#: Each role runs until cancelled; ``--role`` picks a subset to split them over processes.
ROLES: dict[str, RoleRunner] = {"web": _run_web}


def prepare_store(settings: Settings) -> None:
    """Bring the store to the newest schema (creates it on first start)."""
    before = migrate.current(settings.database_url)
    migrate.upgrade(settings.database_url)
    after = migrate.current(settings.database_url)
    if before != after:
        log.info("store migrated", revision_from=before, revision_to=after)


async def run_roles(
    settings: Settings,
    roles: list[str],
    ready: Callable[[Runtime], Awaitable[None]] | None = None,
) -> None:
    """Run ``roles`` over one runtime until SIGINT/SIGTERM or until one of them fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with open_runtime(settings) as runtime:
        tasks = {asyncio.create_task(ROLES[name](runtime), name=f"role-{name}") for name in roles}
        if ready is not None:
            await ready(runtime)
        stopper = asyncio.create_task(stop.wait(), name="stop-signal")
        try:
            done, _ = await asyncio.wait({*tasks, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done - {stopper}:
                if not task.cancelled() and task.exception() is not None:
                    log.error("role failed", role=task.get_name(), error=repr(task.exception()))
        finally:
            for task in (*tasks, stopper):
                task.cancel()
            await asyncio.gather(*tasks, stopper, return_exceptions=True)
            log.info("stopped")


def serve(settings: Settings, roles: list[str]) -> None:
    """Configure logging, migrate the store, run the roles."""
    configure_logging(settings.log_level, settings.log_format, settings.env)
    prepare_store(settings)
    asyncio.run(run_roles(settings, roles))
