"""The admins' timers page and ``GET /api/timers``: the durable scheduler's table."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from callcenter.scheduler import TimerState, list_timers
from callcenter.store.models import Role
from webui.api import parse
from webui.auth import require_role
from webui.keys import RUNTIME
from webui.openapi import API, ApiRoute
from webui.pages import render

StateFilter = Literal["pending", "running", "done", "failed", "cancelled"]


class TimersQuery(BaseModel):
    """Filters of the timer list."""

    state: StateFilter | None = None
    kind: str | None = Field(default=None, max_length=64)
    limit: int = Field(default=200, ge=1, le=1000)


class TimerView(BaseModel):
    """One stored timer."""

    model_config = ConfigDict(from_attributes=True)

    kind: str
    key: str
    due_at: datetime
    state: str
    attempts: int
    last_error: str | None
    claimed_by: str | None
    claimed_until: datetime | None
    updated_at: datetime


class TimerList(BaseModel):
    """Timers, the latest due first."""

    items: list[TimerView]


async def _timers(request: web.Request, query: TimersQuery) -> TimerList:
    require_role(request, Role.ADMIN)
    async with request.app[RUNTIME].read_sessions() as db:
        rows = await list_timers(db, state=query.state, kind=query.kind or None,
                                 limit=query.limit)
    return TimerList(items=[TimerView.model_validate(row) for row in rows])


async def get_timers(request: web.Request) -> web.Response:
    """GET /api/timers?state=&kind=&limit= (admins)."""
    found = await _timers(request, parse(TimersQuery, request.query))
    return web.json_response(text=found.model_dump_json())


async def timers_page(request: web.Request) -> web.StreamResponse:
    """GET /timers: the scheduler's timers, filtered by state (admins)."""
    require_role(request, Role.ADMIN)
    params: dict[str, Any] = {k: v for k, v in request.query.items() if v}
    query = parse(TimersQuery, params)
    found = await _timers(request, query)
    return render(request, "timers.html", {
        "timers": found.items, "state": query.state or "", "kind": query.kind or "",
        "states": [s.value for s in TimerState]})


def add_timer_routes(app: web.Application) -> None:
    """The page and its API route."""
    app.router.add_get("/timers", timers_page, name="timers")
    app[API].add(ApiRoute("GET", "/api/timers", get_timers,
                          "The scheduler's timers (admins)", TimerList, query=TimersQuery,
                          errors=(401, 403, 422), tag="admin"))
