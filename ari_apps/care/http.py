"""The care API and the care page: today's calls and results, elders not reached, an
elder's care history, campaigns paused and resumed. Jurisdiction applies in the SQL:
an elder outside the user's area is a 404 and never listed.
"""

from __future__ import annotations

from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.care import broadcasts
from ari_apps.care.app import CAMPAIGN_TOPIC, CareApp
from ari_apps.care.exceptions import BroadcastNotFound, ElderNotFound
from ari_apps.care.imports import PlanInput, check_plan, save_plans
from ari_apps.care.models import CareCampaign, CareEvent, CareKind, CarePlan, CareTask, PlanSource
from ari_apps.care.schemas import (
    BroadcastCancelled,
    BroadcastInput,
    BroadcastList,
    BroadcastView,
    CampaignChange,
    CampaignView,
    CareCallList,
    CareCallQuery,
    CareCallView,
    History,
    HistoryEntry,
    PlanList,
    PlanQuery,
    PlanSaved,
    PlanView,
)
from ari_apps.care.services import set_campaign
from ari_apps.care.speech import CARE_MEDIA
from callcenter.bus import BusMessage
from callcenter.calls.models import Call, CallDirection, CallKind
from callcenter.commands import CommandPath
from callcenter.media import install_media
from callcenter.store.models import Area, Elder, Role
from webui.api import parse, parse_body
from webui.auth import require_role
from webui.keys import CLOCK, RUNTIME, Principal
from webui.openapi import API, ApiRoute
from webui.pages import NavItem, add_nav, add_web_dir, render

CARE_APP: web.AppKey[CareApp | None] = web.AppKey("care_app")
WEB_DIR = Path(__file__).parent / "web"
VIEW_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
MANAGE_ROLES = (Role.SUPERVISOR, Role.ADMIN)
NOT_REACHED = ("alerted", "visit")


def _in_area(principal: Principal) -> ColumnElement[bool]:
    if principal.area_path is None:
        return Elder.id.is_not(None)
    return Area.path.startswith(principal.area_path, autoescape=True)


def _calls_query(principal: Principal) -> Any:
    return (select(CareTask, Elder.code, Elder.name).join(Elder, Elder.id == CareTask.elder_id)
            .join(Area, Area.id == Elder.area_id).where(_in_area(principal)))


def _call_view(task: CareTask, code: str, name: str) -> CareCallView:
    return CareCallView(id=task.id, elder_id=task.elder_id, elder_code=code, elder_name=name,
                        kind=task.kind, due_at=task.due_at, state=task.state,
                        attempts=task.attempts, result=task.result, reason=task.reason,
                        escalation=task.escalation, created_by=task.created_by)


async def list_calls(session: AsyncSession, principal: Principal,
                     query: CareCallQuery) -> CareCallList:
    statement = _calls_query(principal).order_by(CareTask.due_at.desc()).limit(query.limit)
    if query.elder:
        statement = statement.where(Elder.code == query.elder)
    if query.kind:
        statement = statement.where(CareTask.kind == query.kind.value)
    if query.result:
        statement = statement.where(CareTask.result == query.result.value)
    if query.from_:
        statement = statement.where(CareTask.due_at >= query.from_)
    if query.to:
        statement = statement.where(CareTask.due_at < query.to)
    rows = (await session.execute(statement)).all()
    return CareCallList(calls=[_call_view(*row) for row in rows])


async def list_plans(session: AsyncSession, principal: Principal, query: PlanQuery) -> PlanList:
    statement = (select(CarePlan, Elder.code, Elder.name)
                 .join(Elder, Elder.id == CarePlan.elder_id)
                 .join(Area, Area.id == Elder.area_id).where(_in_area(principal))
                 .order_by(CarePlan.code).limit(query.limit))
    if query.elder:
        statement = statement.where(Elder.code == query.elder)
    if query.kind:
        statement = statement.where(CarePlan.kind == query.kind.value)
    return PlanList(plans=[
        PlanView(id=p.id, code=p.code, elder_id=p.elder_id, elder_code=code, elder_name=name,
                 kind=p.kind, repeat=p.repeat, at_time=p.at_time, weekdays=p.weekdays,
                 on_date=p.on_date, medicine=p.medicine, message=p.message,
                 report_to_kin=p.report_to_kin, active=p.active, source=p.source)
        for p, code, name in (await session.execute(statement)).all()])


async def history(session: AsyncSession, principal: Principal, elder_id: int) -> History:
    visible = (await session.execute(select(Elder.id).join(Area, Area.id == Elder.area_id)
                                     .where(Elder.id == elder_id, _in_area(principal)))).first()
    if visible is None:
        raise ElderNotFound("no such elder", {"elder_id": elder_id})
    calls = (await session.execute(_calls_query(principal).where(CareTask.elder_id == elder_id)
                                   .order_by(CareTask.due_at.desc()).limit(200))).all()
    events = (await session.execute(select(CareEvent).where(CareEvent.elder_id == elder_id)
                                    .order_by(CareEvent.at.desc(), CareEvent.id.desc())
                                    .limit(500))).scalars()
    return History(elder_id=elder_id, calls=[_call_view(*row) for row in calls],
                   timeline=[HistoryEntry(at=e.at, kind=e.kind, task_id=e.task_id,
                                          call_id=e.call_id, detail=e.detail) for e in events])


def _json(model: Any, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


async def get_calls(request: web.Request) -> web.Response:
    """GET /api/care/calls?elder=&kind=&result=&from=&to=&limit=."""
    principal = require_role(request, *VIEW_ROLES)
    query = parse(CareCallQuery, request.query)
    async with request.app[RUNTIME].sessions() as session:
        return _json(await list_calls(session, principal, query))


async def get_plans(request: web.Request) -> web.Response:
    """GET /api/care/plans?elder=&kind=&limit=."""
    principal = require_role(request, *VIEW_ROLES)
    query = parse(PlanQuery, request.query)
    async with request.app[RUNTIME].sessions() as session:
        return _json(await list_plans(session, principal, query))


async def post_plan(request: web.Request) -> web.Response:
    """POST /api/care/plans: create or update one plan (by code); today's call if still due."""
    principal = require_role(request, *MANAGE_ROLES)
    item = parse(PlanInput, await request.json())
    runtime = request.app[RUNTIME]
    now = request.app[CLOCK]()
    check_plan(item, runtime.settings, now)
    async with runtime.sessions() as session:
        found = (await session.execute(select(Elder.id).join(Area, Area.id == Elder.area_id)
                                       .where(Elder.code == item.elder_code,
                                              _in_area(principal)))).first()
    if found is None:
        raise ElderNotFound(f"no elder {item.elder_code!r}", {"elder": item.elder_code})
    saved = await save_plans(runtime.sessions, runtime.settings, [item],
                             actor=principal.username, source=PlanSource.CONSOLE, now=now)
    return _json(PlanSaved(code=item.code, inserted=saved.inserted, updated=saved.updated,
                           laid_out_today=saved.laid_out), 201 if saved.inserted else 200)


async def post_campaign(request: web.Request) -> web.Response:
    """POST /api/care/campaigns/{kind}: pause or resume one kind of care call everywhere."""
    principal = require_role(request, *MANAGE_ROLES)
    try:
        kind = CareKind(request.match_info["kind"])
    except ValueError:
        raise web.HTTPNotFound() from None
    change = parse(CampaignChange, await request.json())
    runtime = request.app[RUNTIME]
    await set_campaign(runtime.sessions, kind, change.paused, principal.username)
    await runtime.bus.publish(BusMessage(CAMPAIGN_TOPIC, {"kind": kind.value,
                                                          "paused": change.paused},
                                         {"roles": ["supervisor", "admin"]}))
    return _json(CampaignView(kind=kind.value, paused=change.paused))


def _broadcast_view(row: broadcasts.BroadcastRow, tally: dict[str, int]) -> BroadcastView:
    b = row.broadcast
    return BroadcastView(id=b.id, area_code=row.area_code, area_name=row.area_name,
                         message=b.message, urgent=b.urgent, valid_until=b.valid_until,
                         state=broadcasts.state_of(b, tally), elders=b.elders,
                         without_phone=b.without_phone, counts=tally,
                         created_by=b.created_by, created_at=b.created_at,
                         cancelled_by=b.cancelled_by, cancelled_at=b.cancelled_at)


async def broadcast_views(session: AsyncSession, scope: str | None, *,
                          broadcast_id: int | None = None,
                          limit: int = 50) -> list[BroadcastView]:
    rows = await broadcasts.listed(session, scope, broadcast_id=broadcast_id, limit=limit)
    tallies = await broadcasts.counts(session, [row.broadcast.id for row in rows])
    return [_broadcast_view(row, tallies[row.broadcast.id]) for row in rows]


async def get_broadcasts(request: web.Request) -> web.Response:
    """GET /api/care/broadcasts: the newest weather warnings for my area, with counts."""
    principal = require_role(request, *VIEW_ROLES)
    async with request.app[RUNTIME].sessions() as session:
        views = await broadcast_views(session, principal.area_path)
    return _json(BroadcastList(broadcasts=views))


async def get_broadcast(request: web.Request) -> web.Response:
    """GET /api/care/broadcasts/{id}."""
    principal = require_role(request, *VIEW_ROLES)
    ident = int(request.match_info["broadcast_id"])
    async with request.app[RUNTIME].sessions() as session:
        views = await broadcast_views(session, principal.area_path, broadcast_id=ident)
    if not views:
        raise BroadcastNotFound(f"no broadcast {ident}", {"broadcast": ident})
    return _json(views[0])


async def post_broadcast(request: web.Request) -> web.Response:
    """POST /api/care/broadcasts: a weather warning for an area in my jurisdiction."""
    principal = require_role(request, *MANAGE_ROLES)
    item = await parse_body(request, BroadcastInput)
    runtime = request.app[RUNTIME]
    issued = await broadcasts.issue(runtime.sessions, runtime.settings, item.area_code,
                                    item.message, urgent=item.urgent, until=item.until,
                                    actor=principal.username, now=request.app[CLOCK](),
                                    scope=principal.area_path)
    async with runtime.sessions() as session:
        views = await broadcast_views(session, None, broadcast_id=issued.id)
    return _json(views[0], 201)


async def post_broadcast_cancel(request: web.Request) -> web.Response:
    """POST /api/care/broadcasts/{id}/cancel: stop the calls not yet placed."""
    principal = require_role(request, *MANAGE_ROLES)
    ident = int(request.match_info["broadcast_id"])
    runtime = request.app[RUNTIME]
    stopped = await broadcasts.cancel(runtime.sessions, ident, actor=principal.username,
                                      now=request.app[CLOCK](), scope=principal.area_path)
    return _json(BroadcastCancelled(id=ident, stopped=stopped))


async def get_history(request: web.Request) -> web.Response:
    """GET /api/care/elders/{elder_id}/history."""
    principal = require_role(request, *VIEW_ROLES)
    async with request.app[RUNTIME].sessions() as session:
        return _json(await history(session, principal, int(request.match_info["elder_id"])))


async def care_page(request: web.Request) -> web.StreamResponse:
    """GET /care: today's care calls and results, elders not reached, campaigns."""
    principal = require_role(request, *VIEW_ROLES)
    runtime = request.app[RUNTIME]
    zone = ZoneInfo(runtime.settings.time_zone)
    today = request.app[CLOCK]().astimezone(zone).date()
    start = datetime.combine(today, time(0), zone)
    async with runtime.sessions() as session:
        rows = (await session.execute(_calls_query(principal).where(
            CareTask.local_date == today).order_by(CareTask.due_at))).all()
        unreached = (await session.execute(_calls_query(principal).where(
            CareTask.escalation.in_(NOT_REACHED)).order_by(CareTask.due_at.desc())
            .limit(100))).all()
        paused = {k for k, p in (await session.execute(
            select(CareCampaign.kind, CareCampaign.paused))).all() if p}
        warnings = await broadcast_views(session, principal.area_path, limit=20)
        areas = (await session.execute(
            select(Area.code, Area.name).where(broadcasts.in_scope(principal.area_path))
            .order_by(Area.path).limit(500))).all()
        inbound = (await session.execute(select(func.count()).select_from(Call).where(
            Call.direction == CallDirection.INBOUND.value, Call.kind != CallKind.CARE.value,
            Call.started_at >= start))).scalar_one()
    calls = [_call_view(*row) for row in rows]
    counts: dict[str, int] = {}
    for call in calls:
        key = call.result or call.state
        counts[key] = counts.get(key, 0) + 1
    care = request.app[CARE_APP]
    return render(request, "care.html", {
        "calls": calls, "unreached": [_call_view(*row) for row in unreached],
        "counts": counts, "inbound_today": inbound, "care_today": len(calls),
        "campaigns": [{"kind": k.value, "paused": k.value in paused} for k in CareKind],
        "can_manage": principal.has_role(*MANAGE_ROLES) and not principal.via_token,
        "dialler": care.dialler.status() if care is not None else None,
        "broadcasts": warnings, "areas": [{"code": c, "name": n} for c, n in areas],
        "count_keys": broadcasts.COUNT_KEYS,
    })


async def elder_page(request: web.Request) -> web.StreamResponse:
    """GET /care/elders/{elder_id}: one elder's care history."""
    principal = require_role(request, *VIEW_ROLES)
    elder_id = int(request.match_info["elder_id"])
    async with request.app[RUNTIME].sessions() as session:
        found = await history(session, principal, elder_id)
        elder = await session.get(Elder, elder_id)
    return render(request, "care_elder.html", {"history": found, "elder": elder})


def install_web(app: web.Application, care: CareApp | None, commands: CommandPath) -> None:
    """The care page, the care API and the spoken greetings Asterisk fetches."""
    app[CARE_APP] = care
    add_web_dir(app, "care", WEB_DIR)
    add_nav(app, NavItem("care", "nav.care", frozenset(VIEW_ROLES)))
    app.router.add_get("/care", care_page, name="care")
    app.router.add_get(r"/care/elders/{elder_id:\d+}", elder_page, name="care-elder")
    install_media(app, CARE_MEDIA, commands)  # Asterisk fetches the spoken greetings here
    api = app[API]
    api.add(ApiRoute("GET", "/api/care/calls", get_calls,
                     "Care calls (plans' calls and calls placed by hand) with their results",
                     CareCallList, query=CareCallQuery, errors=(401, 403, 422), tag="care"))
    api.add(ApiRoute("GET", "/api/care/plans", get_plans, "Care plans in my jurisdiction",
                     PlanList, query=PlanQuery, errors=(401, 403, 422), tag="care"))
    api.add(ApiRoute("POST", "/api/care/plans", post_plan,
                     "Create or update a care plan (by code); today's call if still due",
                     PlanSaved, body=PlanInput, errors=(401, 403, 404, 422), tag="care",
                     status=201))
    api.add(ApiRoute("POST", r"/api/care/campaigns/{kind:[a-z]+}", post_campaign,
                     "Pause or resume one kind of care call", CampaignView,
                     body=CampaignChange, errors=(401, 403, 404, 422), tag="care"))
    api.add(ApiRoute("GET", "/api/care/broadcasts", get_broadcasts,
                     "Weather warnings for areas in my jurisdiction, their calls counted",
                     BroadcastList, errors=(401, 403), tag="care"))
    api.add(ApiRoute("POST", "/api/care/broadcasts", post_broadcast,
                     "Issue a weather warning for an area and its sub-areas: a weather "
                     "care call to every elder with a phone", BroadcastView,
                     body=BroadcastInput, errors=(400, 401, 403, 404, 422), tag="care",
                     status=201))
    api.add(ApiRoute("GET", r"/api/care/broadcasts/{broadcast_id:\d+}", get_broadcast,
                     "One weather warning and its calls counted", BroadcastView,
                     errors=(401, 403, 404), tag="care"))
    api.add(ApiRoute("POST", r"/api/care/broadcasts/{broadcast_id:\d+}/cancel",
                     post_broadcast_cancel,
                     "Cancel a weather warning: its calls not yet placed are not placed",
                     BroadcastCancelled, errors=(401, 403, 404, 409), tag="care"))
    api.add(ApiRoute("GET", r"/api/care/elders/{elder_id:\d+}/history", get_history,
                     "An elder's care calls and care timeline", History,
                     errors=(401, 403, 404), tag="care"))
