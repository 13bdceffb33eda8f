"""The console's composition: routes, middlewares, app-scoped objects, background listeners."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

import callcenter
from callcenter.apitokens import hashing_key
from callcenter.logs import get_logger
from callcenter.runtime import Runtime, freeze_heap
from callcenter.store.models import utcnow
from webui import auth, views
from webui.api import build_registry
from webui.auth import SESSIONS, SessionStore, auth_middleware
from webui.errors import add_security_headers, error_middleware
from webui.health import HEALTH, HealthChecks, default_checks
from webui.i18n import CATALOGS, Catalogs, switch_language
from webui.keys import CLOCK, RUNTIME, Clock
from webui.openapi import API
from webui.pages import NAV, NAV_ITEMS, PARTS
from webui.throttle import CLIENT_ADDRESS, THROTTLE, ClientAddress, LoginThrottle, peer_address
from webui.timefmt import install_time_filters
from webui.timers import add_timer_routes
from webui.tokens import API_TOKEN_KEY
from webui.validation import query_guard
from webui.ws import HUB, WsHub, close_sockets, hub_context, websocket

log = get_logger(__name__)
HERE = Path(__file__).parent
MAX_BODY = 64 * 1024  # the console posts short forms only
WEB_SHUTDOWN_SECONDS = 10.0  # requests still running at a stop (aiohttp waits 60 s)

#: A feature's web part: adds its pages, API routes (``app[API].add``) and app keys.
WebInstaller = Callable[[web.Application], None]


def create_app(
    runtime: Runtime,
    *,
    clock: Clock = utcnow,
    health: HealthChecks | None = None,
    session_cache_seconds: float = 5.0,
    features: Sequence[WebInstaller] = (),
    client_address: ClientAddress = peer_address,
) -> web.Application:
    """Build the console application over ``runtime``; ``clock`` is injectable for tests.

    ``client_address`` names the machine behind a request for the login throttle.
    """
    app = web.Application(middlewares=[error_middleware, query_guard, auth_middleware],
                          client_max_size=MAX_BODY)
    app[RUNTIME] = runtime
    app[CLOCK] = clock
    app[CATALOGS] = Catalogs()
    app[SESSIONS] = SessionStore(
        runtime.sessions,
        ttl_seconds=runtime.settings.session_ttl_seconds,
        clock=clock,
        cache_seconds=session_cache_seconds,
    )
    settings = runtime.settings
    app[CLIENT_ADDRESS] = client_address
    app[THROTTLE] = LoginThrottle(
        max_failures=settings.login_max_failures_per_address,
        window_seconds=settings.login_address_window_seconds,
        block_seconds=settings.login_address_block_seconds,
        clock=clock,
    )
    app[API_TOKEN_KEY] = hashing_key(settings.secret_key_bytes())
    app[HEALTH] = health or default_checks(runtime)
    app[HUB] = WsHub(clock=clock)
    app[API] = build_registry(callcenter.__version__)
    app[NAV_ITEMS] = list(NAV)
    app[PARTS] = []

    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    install_time_filters(aiohttp_jinja2.get_env(app), settings.time_zone)
    app.on_response_prepare.append(add_security_headers)
    app.cleanup_ctx.append(hub_context)
    app.on_shutdown.append(close_sockets)

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
    features: Sequence[WebInstaller] = (),
    reuse_port: bool = False,
) -> None:
    """Serve the console on ``host:port`` until cancelled, then shut down cleanly.

    ``reuse_port``: several worker processes listen on the same port (SO_REUSEPORT).
    """
    app = create_app(runtime, health=health, features=features)
    # Requests still running at a stop get this long to end (the process's own stop
    # deadline, callcenter.server.STOP_DEADLINE, is longer); console sockets are closed
    # at once (close_sockets).
    runner = web.AppRunner(app, access_log=None, handle_signals=False,
                           shutdown_timeout=WEB_SHUTDOWN_SECONDS)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None)
        await site.start()
        log.info("web console listening", addresses=[str(a) for a in runner.addresses],
                 frozen_objects=freeze_heap())  # the console's templates, routes, schemas
        await asyncio.Event().wait()  # until the caller cancels us
    finally:
        await runner.cleanup()
