"""``callcenter serve`` and ``callcenter demo``: run the product's roles until stopped."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from contextlib import suppress

from callcenter.composition import ALL_ROLES, Product, asterisk_check, open_product
from callcenter.logs import configure_logging, get_logger
from callcenter.settings import Settings, parse_bind
from callcenter.store import migrate

log = get_logger(__name__)

ROLES = ALL_ROLES


async def serve_web(product: Product) -> None:
    """The console and its API until cancelled."""
    from ari_apps.sos.http import sos_feature
    from webui.app import run_web
    from webui.health import default_checks

    runtime = product.runtime
    checks = default_checks(runtime)
    checks.register("asterisk", asterisk_check(product))
    host, port = parse_bind(runtime.settings.web_bind)
    await run_web(runtime, host=host, port=port, health=checks,
                  features=[sos_feature(product.sos)])


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
    ready: Callable[[Product], Awaitable[None]] | None = None,
) -> None:
    """Run ``roles`` until SIGINT/SIGTERM, or until the web role fails."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    async with open_product(settings, roles) as product:
        tasks = {asyncio.create_task(stop.wait(), name="stop-signal")}
        if "web" in roles:
            tasks.add(asyncio.create_task(serve_web(product), name="role-web"))
        if ready is not None:
            await ready(product)
        log.info("callcenter running", roles=sorted(roles))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("role failed", role=task.get_name(), error=repr(task.exception()))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    log.info("stopped")


def serve(settings: Settings, roles: frozenset[str]) -> None:
    """Configure logging, migrate the store, run the roles."""
    configure_logging(settings.log_level, settings.log_format, settings.env)
    prepare_store(settings)
    asyncio.run(run_roles(settings, roles))
