"""The console's composition: routes, middlewares, app-scoped objects, background listeners."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

import callcenter
from callcenter.logs import get_logger
from callcenter.runtime import Runtime
from callcenter.store.models import utcnow
from webui import auth, views
from webui.api import build_registry
from webui.auth import SESSIONS, SessionStore, auth_middleware
from webui.errors import add_security_headers, error_middleware
from webui.health import HEALTH, HealthChecks, default_checks
from webui.i18n import CATALOGS, Catalogs, switch_language
from webui.keys import CLOCK, RUNTIME, Clock
from webui.openapi import API
from webui.timers import add_timer_routes
from webui.ws import HUB, WsHub, hub_context, websocket

log = get_logger(__name__)
HERE = Path(__file__).parent
MAX_BODY = 64 * 1024  # the console posts short forms only

#: A feature adds its pages, API routes (``app[API].add``) and app keys to the console.
Feature = Callable[[web.Application], None]


def create_app(
    runtime: Runtime,
    *,
    clock: Clock = utcnow,
    health: HealthChecks | None = None,
    session_cache_seconds: float = 5.0,
    features: Sequence[Feature] = (),
) -> web.Application:
    """Build the console application over ``runtime``; ``clock`` is injectable for tests."""
    app = web.Application(middlewares=[error_middleware, auth_middleware], client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app[CLOCK] = clock
    app[CATALOGS] = Catalogs()
    app[SESSIONS] = SessionStore(
        runtime.sessions,
        ttl_seconds=runtime.settings.session_ttl_seconds,
        clock=clock,
        cache_seconds=session_cache_seconds,
    )
    app[HEALTH] = health or default_checks(runtime)
    app[HUB] = WsHub(clock=clock)
    app[API] = build_registry(callcenter.__version__)

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(hub_context)

    router = app.router
    router.add_get("/login", auth.login_page, name="login")
    router.add_post("/login", auth.login_submit)
    router.add_post("/logout", auth.logout, name="logout")
    router.add_get("/lang/{code}", switch_language, name="lang")
    router.add_get("/ws", websocket, name="ws")
    router.add_static("/static/", HERE / "static", name="static")
    views.add_page_routes(app)
    add_timer_routes(app)
    for feature in features:
        feature(app)
    app[API].install(router)
    return app


async def run_web(
    runtime: Runtime,
    *,
    host: str,
    port: int,
    health: HealthChecks | None = None,
    features: Sequence[Feature] = (),
    reuse_port: bool = False,
) -> None:
    """Serve the console on ``host:port`` until cancelled, then shut down cleanly.

    ``reuse_port``: several worker processes listen on the same port (SO_REUSEPORT).
    """
    app = create_app(runtime, health=health, features=features)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        log.info("web console listening", addresses=[str(a) for a in runner.addresses])
        await asyncio.Event().wait()  # until the caller cancels us
    finally:
        await runner.cleanup()
