"""``callcenter serve`` and ``callcenter demo``: run the product's roles until stopped."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from functools import partial
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from aiohttp import web

from callcenter import eventloop
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
#: Seconds a stop may take (the web role's handlers, calls handed over, closes) before the
#: process names what it waits for and exits.
STOP_DEADLINE = 30.0


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
    *,
    features: Sequence[Feature] = FEATURES,
    stop_deadline: float = STOP_DEADLINE,
    exit_now: Callable[[int], object] = os._exit,
) -> bool:
    """Run ``roles`` until SIGINT/SIGTERM (True), or until the web role fails (False).

    A stop that is not over ``stop_deadline`` seconds after it began, or a second signal,
    names what it still waits for and ends the process (``exit_now(1)``): a service that
    never stops cannot be restarted, and its calls are taken back by the next start."""
    failed = False
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    overdue: asyncio.TimerHandle | None = None
    try:
        async with open_product(settings, roles, features=features) as product:
            tasks: set[asyncio.Task[object]] = {
                asyncio.create_task(stop.wait(), name="stop-signal")}
            if "web" in roles:
                tasks.add(asyncio.create_task(serve_web(product, features), name="role-web"))
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
                        log.error("role failed", role=task.get_name(),
                                  error=repr(task.exception()))
            finally:
                log.info("stopping", deadline_seconds=stop_deadline)
                give_up = partial(_stop_overdue, exit_now)
                overdue = loop.call_later(stop_deadline, give_up, "not stopped in time")
                for signum in signals:
                    with suppress(NotImplementedError, RuntimeError):
                        loop.add_signal_handler(signum, give_up, "signalled again")
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if overdue is not None:
            overdue.cancel()
        for signum in signals:
            with suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    log.info("stopped")
    return not failed


def _stop_overdue(exit_now: Callable[[int], object], why: str) -> None:
    """The stop waits on something that does not end: say what, and end the process."""
    waiting = [f"{task.get_name()} at {_innermost(task)}" for task in asyncio.all_tasks()]
    log.error("stop overdue: exiting now", why=why, waiting=sorted(waiting))
    sys.stdout.flush()
    sys.stderr.flush()
    exit_now(1)


#: The frame and the awaited object of a coroutine, a generator-based one, an async generator
#: and the awaitable of its asend/athrow.
_FRAMES = ("cr_frame", "gi_frame", "ag_frame")
_AWAITS = ("cr_await", "gi_yieldfrom", "ag_await")


def _innermost(task: asyncio.Task[Any], depth: int = 3) -> str:
    """Where a task waits: the innermost frames of its chain of awaits, outer first."""
    frames: list[str] = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = next((f for f in (getattr(awaited, a, None) for a in _FRAMES) if f), None)
        if frame is not None:
            frames.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")
        inner = next((a for a in (getattr(awaited, a, None) for a in _AWAITS) if a), None)
        if inner is None and type(awaited).__name__.startswith("async_generator_a"):
            # asend/athrow of an async generator (an async with's exit): its generator.
            inner = next((r for r in gc.get_referents(awaited) if hasattr(r, "ag_frame")), None)
        awaited = inner
    return " > ".join(frames[-depth:]) or "not started"


def serve(settings: Settings, roles: frozenset[str]) -> None:
    """Configure logging, migrate the store, run the roles (the web role in N processes)."""
    configure_logging(settings.log_level, settings.log_format, settings.env)
    if settings.web_workers > 1 and roles != {"web"}:
        # Calls and notifications keep per-call state in memory: one process each.
        raise SystemExit("callcenter: CALLCENTER_WEB_WORKERS > 1 needs `serve --role web` alone")
    prepare_store(settings)
    if settings.web_workers > 1:
        raise SystemExit(asyncio.run(supervise_web_workers(settings)))
    if not eventloop.run(run_roles(settings, roles)):
        raise SystemExit("callcenter: stopped because a role failed (see the log above)")


def _web_worker(settings: Settings) -> None:
    """One web worker process: its own runtime, stopped by SIGTERM like ``serve``."""
    configure_logging(settings.log_level, settings.log_format, settings.env)
    eventloop.run(run_roles(settings, frozenset({"web"})))


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
