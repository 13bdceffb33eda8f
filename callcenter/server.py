"""``callcenter serve`` and ``callcenter demo``: run the product's roles until stopped."""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from aiohttp import web

from callcenter.composition import ALL_ROLES, health_checks, open_product
from callcenter.feature import Feature, Host
from callcenter.logs import configure_logging, get_logger
from callcenter.registry import FEATURES
from callcenter.runtime import freeze_heap
from callcenter.settings import Settings, parse_bind
from callcenter.store import migrate

if TYPE_CHECKING:
    from webui.app import WebInstaller

log = get_logger(__name__)

ROLES = ALL_ROLES


async def serve_web(host: Host, features: Sequence[Feature] = FEATURES) -> None:
    """The console and its API, with every feature's pages and routes, until cancelled."""
    from webui.app import run_web

    runtime = host.runtime
    checks = health_checks(host)
    bind_host, port = parse_bind(runtime.settings.web_bind)
    installers = web_installers(host, features)
    await run_web(runtime, host=bind_host, port=port, health=checks, features=installers,
                  reuse_port=runtime.settings.web_workers > 1)


def web_installers(host: Host, features: Sequence[Feature] = FEATURES) -> list[WebInstaller]:
    """Every feature's web part, bound to this process's ``host``, for ``webui.create_app``."""
    return [_installer(f.web, host) for f in features if f.web is not None]


def _installer(install: Callable[[web.Application, Host], None], host: Host) -> WebInstaller:
    return lambda app: install(app, host)


def prepare_store(settings: Settings) -> None:
    """Bring the store to the newest schema (creates it on first start)."""
    before = migrate.current(settings.database_url)
    migrate.upgrade(settings.database_url)
    after = migrate.current(settings.database_url)
    if before != after:
        log.info("store migrated", revision_from=before, revision_to=after)


async def run_roles(
    settings: Settings,
    roles: frozenset[str],
    ready: Callable[[Host], Awaitable[None]] | None = None,
) -> bool:
    """Run ``roles`` until SIGINT/SIGTERM (True), or until the web role fails (False)."""
    failed = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with open_product(settings, roles) as product:
        tasks: set[asyncio.Task[object]] = {asyncio.create_task(stop.wait(), name="stop-signal")}
        if "web" in roles:
            tasks.add(asyncio.create_task(serve_web(product), name="role-web"))
        # The web role freezes once its console listens (run_web), after what it builds.
        frozen = freeze_heap() if "web" not in roles else None
        if ready is not None:
            await ready(product)
        log.info("callcenter running", roles=sorted(roles), frozen_objects=frozen)
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    failed = True
                    log.error("role failed", role=task.get_name(), error=repr(task.exception()))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    log.info("stopped")
    return not failed


def serve(settings: Settings, roles: frozenset[str]) -> None:
    """Configure logging, migrate the store, run the roles (the web role in N processes)."""
    configure_logging(settings.log_level, settings.log_format, settings.env)
    if settings.web_workers > 1 and roles != {"web"}:
        # Calls and notifications keep per-call state in memory: one process each.
        raise SystemExit("callcenter: CALLCENTER_WEB_WORKERS > 1 needs `serve --role web` alone")
    prepare_store(settings)
    if settings.web_workers > 1:
        raise SystemExit(asyncio.run(supervise_web_workers(settings)))
    if not asyncio.run(run_roles(settings, roles)):
        raise SystemExit("callcenter: stopped because a role failed (see the log above)")


def _web_worker(settings: Settings) -> None:
    """One web worker process: its own runtime, stopped by SIGTERM like ``serve``."""
    configure_logging(settings.log_level, settings.log_format, settings.env)
    asyncio.run(run_roles(settings, frozenset({"web"})))


async def supervise_web_workers(settings: Settings, stop_timeout: float = 30.0) -> int:
    """Run ``web_workers`` web processes sharing the port; SIGINT/SIGTERM or the exit of
    any worker stops them all (a supervisor such as systemd restarts the service).
    Returns the exit status: 0 after a signal, 1 when a worker ended on its own."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited loop
    workers = [
        context.Process(target=_web_worker, args=(settings,), name=f"web-{n}")
        for n in range(settings.web_workers)
    ]
    for worker in workers:
        worker.start()
    log.info("web workers started", pids=[w.pid for w in workers])
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    ended = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, signalled.set)
    for worker in workers:
        loop.add_reader(worker.sentinel, ended.set)
    waits = [asyncio.create_task(signalled.wait()), asyncio.create_task(ended.wait())]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        for worker in workers:
            loop.remove_reader(worker.sentinel)
            if worker.is_alive():
                worker.terminate()  # SIGTERM: the worker shuts down cleanly
        await asyncio.gather(*waits, return_exceptions=True)
        await asyncio.to_thread(_join_all, workers, stop_timeout)
    failed = {w.name: w.exitcode for w in workers if w.exitcode not in (0, -signal.SIGTERM)}
    if failed or not signalled.is_set():
        log.error("web worker ended", exit_codes=failed)
        return 1
    return 0


def _join_all(workers: Sequence[BaseProcess], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            log.warning("web worker did not stop in time; killing it", pid=worker.pid)
            worker.kill()
            worker.join()
