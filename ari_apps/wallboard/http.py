"""The supervisor's live view on the console: the page, its chart, ``GET /api/queues`` and
``GET /api/queues/intervals``, and the live pushes of this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiohttp import web

from ari_apps.wallboard.charts import history_svg
from ari_apps.wallboard.notifier import LivePush, run
from ari_apps.wallboard.schemas import IntervalsQuery, IntervalsView, QueuesQuery, QueuesView
from ari_apps.wallboard.services import Wallboard
from callcenter.store.engine import ReadLease
from callcenter.store.models import Role
from webui.api import parse
from webui.auth import read_for, require_role
from webui.i18n import translator
from webui.keys import CLOCK, RUNTIME
from webui.openapi import API, ApiRoute
from webui.pages import NavItem, add_nav, add_web_dir, render
from webui.ws import HUB

WEB_DIR = Path(__file__).parent / "web"
VIEW_ROLES = (Role.SUPERVISOR, Role.ADMIN)
BOARD = web.AppKey("wallboard", Wallboard)
PUSH = web.AppKey("wallboard_push", LivePush)


async def _view(request: web.Request, query: QueuesQuery) -> dict[str, Any]:
    principal = require_role(request, *VIEW_ROLES)
    board = request.app[BOARD]
    return await read_for(request, lambda conn: board.snapshot(
        conn, principal.jurisdiction, query.period, query.start, query.end))


async def get_queues(request: web.Request) -> web.Response:
    """GET /api/queues: §7's figures of a window, in my jurisdiction."""
    view = await _view(request, parse(QueuesQuery, request.query))
    return web.json_response(text=QueuesView.model_validate(view).model_dump_json())


def _day_bounds(day: date | None, now: datetime, zone: str) -> tuple[date, datetime, datetime]:
    tz = ZoneInfo(zone)
    day = day or now.astimezone(tz).date()
    start = datetime.combine(day, time(), tz)
    return day, start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


async def _intervals(request: web.Request, query: IntervalsQuery) -> tuple[date, list[dict[str, Any]]]:
    principal = require_role(request, *VIEW_ROLES)
    board = request.app[BOARD]
    day, start, end = _day_bounds(query.day, request.app[CLOCK](),
                                  request.app[RUNTIME].settings.time_zone)
    rows = await read_for(request, lambda conn: board.intervals(
        conn, principal.jurisdiction, start, end, query.queue))
    return day, rows


async def get_intervals(request: web.Request) -> web.Response:
    """GET /api/queues/intervals: a day of 15-minute history (kept for reports)."""
    query = parse(IntervalsQuery, request.query)
    day, rows = await _intervals(request, query)
    view = IntervalsView.model_validate({"day": day, "queue": query.queue, "intervals": rows})
    return web.json_response(text=view.model_dump_json())


async def history_chart(request: web.Request) -> web.Response:
    """GET /wallboard/history.svg: the day's intervals drawn on the server."""
    _, rows = await _intervals(request, parse(IntervalsQuery, request.query))
    svg = history_svg(rows, request.app[RUNTIME].settings.time_zone, translator(request))
    return web.Response(text=svg, content_type="image/svg+xml",
                        headers={"Cache-Control": "no-store"})


async def wallboard_page(request: web.Request) -> web.StreamResponse:
    """GET /wallboard: the live view (supervisors and admins, their jurisdiction)."""
    view = await _view(request, QueuesQuery())
    day, rows = await _intervals(request, IntervalsQuery())
    chart = history_svg(rows, request.app[RUNTIME].settings.time_zone, translator(request))
    return render(request, "wallboard.html", {
        "view_json": orjson.dumps(QueuesView.model_validate(view).model_dump(mode="json")).decode(),
        "chart": chart, "day": day, "short_abandon_seconds": view["short_abandon_seconds"],
    })


async def push_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the live state read once, then the hotline topics pushed to the view."""
    push = app[PUSH]
    subscription = await app[RUNTIME].bus.subscribe("hotline.*")
    await push.start()
    task = asyncio.create_task(run(push, subscription), name="wallboard-live")
    try:
        yield
    finally:
        await subscription.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def install_web(app: web.Application) -> None:
    """The live view's page, chart, API and pushes."""
    runtime = app[RUNTIME]
    board = Wallboard(runtime.settings, app[CLOCK])
    app[BOARD] = board
    read_engine = runtime.read_sessions.kw["bind"]
    app[PUSH] = LivePush(board, app[HUB], lambda: ReadLease(read_engine))
    app.cleanup_ctx.append(push_context)
    add_web_dir(app, "wallboard", WEB_DIR)
    add_nav(app, NavItem("wallboard", "nav.wallboard", frozenset(VIEW_ROLES)))
    app.router.add_get("/wallboard", wallboard_page, name="wallboard")
    app.router.add_get("/wallboard/history.svg", history_chart, name="wallboard-chart")
    api = app[API]
    api.add(ApiRoute("GET", "/api/queues", get_queues,
                     "The supervisor's figures per queue and agent, and the callback list "
                     "(supervisors, admins; my jurisdiction)", QueuesView, query=QueuesQuery,
                     errors=(401, 403, 422), tag="hotline"))
    api.add(ApiRoute("GET", "/api/queues/intervals", get_intervals,
                     "A day's 15-minute interval history (supervisors, admins)", IntervalsView,
                     query=IntervalsQuery, errors=(401, 403, 422), tag="hotline"))
