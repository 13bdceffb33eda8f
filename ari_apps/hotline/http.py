"""The hotline API: agents (``/api/agents``), calls (``/api/calls``), callbacks, transfers,
supervision and click-to-dial, for browser sessions and API tokens alike.

Actions on calls and agents run where call control is (``hotline.*`` commands over the
bus when this console process has none); the lists read the stored tables, so they work
in a web-only process. A call is visible to users whose jurisdiction covers its elder's
area; a call of an unidentified caller to every console user (anybody may have to help).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.hotline.exceptions import CallNotFound, PbxUnavailable
from ari_apps.hotline.models import Callback, CallbackStatus, HighRiskFlag
from ari_apps.hotline.schemas import (
    AgentList,
    AgentView,
    CallbackList,
    CallbackView,
    CallDetail,
    CallList,
    CallListQuery,
    CallView,
    DialRequest,
    DialResult,
    HighRiskRequest,
    HighRiskView,
    LoginRequest,
    PauseRequest,
    SuperviseRequest,
    SuperviseResult,
    TransferRequest,
    TransferResult,
)
from callcenter import audit
from callcenter.calls.models import Call
from callcenter.commands import CommandPath, CommandTimeout
from callcenter.directory.exceptions import ElderNotVisible
from callcenter.store.models import Area, Elder, Role, utcnow
from webui.api import parse, parse_body
from webui.auth import require_role
from webui.keys import RUNTIME, Principal
from webui.openapi import API, ApiRoute
from webui.pages import add_web_dir
from webui.validation import path_id

COMMANDS = web.AppKey("hotline_commands", CommandPath)
WITHIN = 10.0
AGENT_ROLES = (Role.AGENT, Role.SUPERVISOR)
VIEW_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
SUPERVISE_ROLES = (Role.SUPERVISOR,)
CALL_PATH = r"/api/calls/{call:[\w.-]+}"
FLAG_ROLES = (Role.SUPERVISOR, Role.ADMIN)
WEB_DIR = Path(__file__).parent / "web"


def _json(model: BaseModel) -> web.Response:
    return web.json_response(text=model.model_dump_json())


async def _command(request: web.Request, name: str, args: dict[str, Any]) -> dict[str, Any]:
    try:
        return await request.app[COMMANDS].call(name, args, within=WITHIN)
    except CommandTimeout as err:
        raise PbxUnavailable("no process with call control answered") from err


# -- agents ------------------------------------------------------------------------------

async def _agent_action(request: web.Request, action: str, **args: Any) -> web.Response:
    principal = require_role(request, *AGENT_ROLES)
    result = await _command(request, "hotline.agent",
                            {"user": principal.username, "action": action, **args})
    return _json(AgentView.model_validate(result))


async def post_login(request: web.Request) -> web.Response:
    """POST /api/agents/me/login {"queues": [...]}."""
    body = await parse_body(request, LoginRequest)
    return await _agent_action(request, "login", queues=body.queues)


async def post_pause(request: web.Request) -> web.Response:
    """POST /api/agents/me/pause {"reason": ...}."""
    body = await parse_body(request, PauseRequest)
    return await _agent_action(request, "pause", reason=body.reason)


async def post_unpause(request: web.Request) -> web.Response:
    """POST /api/agents/me/unpause."""
    return await _agent_action(request, "unpause")


async def post_logout(request: web.Request) -> web.Response:
    """POST /api/agents/me/logout."""
    return await _agent_action(request, "logout")


async def get_agents(request: web.Request) -> web.Response:
    """GET /api/agents: every agent Asterisk has in a queue, with their state."""
    require_role(request, *VIEW_ROLES)
    return _json(AgentList.model_validate(await _command(request, "hotline.agents", {})))


# -- calls -------------------------------------------------------------------------------

def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.area_path is None:
        return Call.id.is_not(None)
    return or_(Call.elder_id.is_(None),
               Area.path.startswith(principal.area_path, autoescape=True))


def _calls(principal: Principal) -> Any:
    return (select(Call).outerjoin(Elder, Elder.id == Call.elder_id)
            .outerjoin(Area, Area.id == Elder.area_id).where(_visible(principal)))


async def list_calls(db: AsyncSession, principal: Principal, query: CallListQuery) -> CallList:
    """Calls matching the filters, newest first."""
    statement = _calls(principal)
    if query.number:
        statement = statement.where(Call.caller_tail.startswith(query.number.lstrip("+")[::-1]))
    if query.elder is not None:
        statement = statement.where(Call.elder_id == query.elder)
    if query.agent:
        statement = statement.where(Call.agent == query.agent)
    if query.queue:
        statement = statement.where(Call.queue == query.queue)
    if query.from_:
        statement = statement.where(Call.started_at >= query.from_)
    if query.to:
        statement = statement.where(Call.started_at < query.to)
    rows = (await db.execute(statement.order_by(Call.started_at.desc()).limit(query.limit)))
    return CallList(calls=[CallView.model_validate(c, from_attributes=True)
                           for c in rows.scalars()])


async def get_calls(request: web.Request) -> web.Response:
    """GET /api/calls?number=&elder=&agent=&queue=&from=&to=."""
    principal = require_role(request, *VIEW_ROLES)
    query = parse(CallListQuery, request.query)
    async with request.app[RUNTIME].sessions() as db:
        return _json(await list_calls(db, principal, query))


async def get_call(request: web.Request) -> web.Response:
    """GET /api/calls/{id}: one call and the calls that continue it."""
    principal = require_role(request, *VIEW_ROLES)
    call_id = request.match_info["call"]
    async with request.app[RUNTIME].sessions() as db:
        call = (await db.execute(_calls(principal).where(Call.id == call_id))).scalar()
        if call is None:
            raise CallNotFound("no such call", {"call": call_id})
        children = (await db.execute(select(Call).where(Call.parent_id == call_id)
                                     .order_by(Call.started_at))).scalars()
        view = CallView.model_validate(call, from_attributes=True).model_dump()
        return _json(CallDetail(**view, children=[
            CallView.model_validate(c, from_attributes=True) for c in children]))


async def _live_call(request: web.Request, principal: Principal) -> str:
    call_id = request.match_info["call"]
    async with request.app[RUNTIME].sessions() as db:
        found = (await db.execute(_calls(principal).where(Call.id == call_id))).scalar()
    if found is None:
        raise CallNotFound("no such call", {"call": call_id})
    return call_id


async def post_transfer(request: web.Request) -> web.Response:
    """POST /api/calls/{id}/transfer {"to": queue|agent|number, "target"}."""
    principal = require_role(request, *AGENT_ROLES)
    body = await parse_body(request, TransferRequest)
    call_id = await _live_call(request, principal)
    result = await _command(request, "hotline.transfer", {
        "call": call_id, "mode": body.mode, "to": body.to, "target": body.target,
        "user": principal.username})
    return _json(TransferResult.model_validate(result))


async def _consult_step(request: web.Request, step: str) -> web.Response:
    principal = require_role(request, *AGENT_ROLES)
    call_id = await _live_call(request, principal)
    result = await _command(request, "hotline.transfer", {
        "call": call_id, "mode": step, "user": principal.username})
    return _json(TransferResult.model_validate(result))


async def post_transfer_complete(request: web.Request) -> web.Response:
    """POST /api/calls/{id}/transfer/complete: the caller joins the consulted target."""
    return await _consult_step(request, "complete")


async def post_transfer_cancel(request: web.Request) -> web.Response:
    """POST /api/calls/{id}/transfer/cancel: drop the consulted target, back to the caller."""
    return await _consult_step(request, "cancel")


async def post_supervise(request: web.Request) -> web.Response:
    """POST /api/calls/{id}/supervise {"mode": listen|whisper|barge} (audited)."""
    principal = require_role(request, *SUPERVISE_ROLES)
    body = await parse_body(request, SuperviseRequest)
    call_id = await _live_call(request, principal)
    result = await _command(request, "hotline.supervise", {
        "call": call_id, "mode": body.mode, "user": principal.username})
    return _json(SuperviseResult.model_validate(result))


async def post_dial(request: web.Request) -> web.Response:
    """POST /api/calls/dial {"number", "elder_id"}: my softphone rings first."""
    principal = require_role(request, *AGENT_ROLES)
    body = await parse_body(request, DialRequest)
    result = await _command(request, "hotline.dial", {
        "user": principal.username, "number": body.number.replace("-", "").replace(" ", ""),
        "elder_id": body.elder_id})
    return _json(DialResult.model_validate(result))


# -- callbacks ---------------------------------------------------------------------------

async def get_callbacks(request: web.Request) -> web.Response:
    """GET /api/callbacks: open entries in their callers' order, then the 100 latest done."""
    principal = require_role(request, *VIEW_ROLES)
    open_states = [CallbackStatus.PENDING.value, CallbackStatus.DIALLING.value]
    base = (select(Callback).outerjoin(Elder, Elder.id == Callback.elder_id)
            .outerjoin(Area, Area.id == Elder.area_id))
    if principal.area_path is not None:
        base = base.where(or_(Callback.elder_id.is_(None),
                              Area.path.startswith(principal.area_path, autoescape=True)))
    async with request.app[RUNTIME].sessions() as db:
        waiting = (await db.execute(base.where(Callback.status.in_(open_states)).order_by(
            Callback.priority.desc(), Callback.queued_at))).scalars().all()
        done = (await db.execute(base.where(Callback.status.not_in(open_states)).order_by(
            Callback.done_at.desc()).limit(100))).scalars().all()
    return _json(CallbackList(callbacks=[CallbackView.model_validate(c, from_attributes=True)
                                         for c in [*waiting, *done]]))


# -- high-risk elders ---------------------------------------------------------------------

async def _visible_elder(db: AsyncSession, principal: Principal, elder_id: int) -> None:
    statement = select(Elder.id).join(Area, Area.id == Elder.area_id).where(Elder.id == elder_id)
    if principal.area_path is not None:
        statement = statement.where(Area.path.startswith(principal.area_path, autoescape=True))
    if (await db.execute(statement)).scalar_one_or_none() is None:
        raise ElderNotVisible("no such elder", {"elder": elder_id})


async def put_high_risk(request: web.Request) -> web.Response:
    """PUT /api/elders/{id}/high-risk {"reason"}: their calls go first (audited)."""
    principal = require_role(request, *FLAG_ROLES)
    body = await parse_body(request, HighRiskRequest)
    elder_id = path_id(request, "elder_id")
    async with request.app[RUNTIME].sessions.begin() as db:
        await _visible_elder(db, principal, elder_id)
        flag = await db.get(HighRiskFlag, elder_id)
        before = {"reason": flag.reason} if flag else None
        if flag is None:
            flag = HighRiskFlag(elder_id=elder_id, set_by=principal.username)
            db.add(flag)
        flag.reason, flag.set_by, flag.set_at = body.reason, principal.username, utcnow()
        await audit.record(db, actor=principal.username, action="hotline.high_risk.set",
                           entity="elder", entity_id=elder_id, before=before,
                           after={"reason": body.reason})
        view = HighRiskView(elder_id=elder_id, high_risk=True, reason=flag.reason,
                            set_by=flag.set_by, set_at=flag.set_at)
    return _json(view)


async def delete_high_risk(request: web.Request) -> web.Response:
    """DELETE /api/elders/{id}/high-risk: their calls queue as everybody's (audited)."""
    principal = require_role(request, *FLAG_ROLES)
    elder_id = path_id(request, "elder_id")
    async with request.app[RUNTIME].sessions.begin() as db:
        await _visible_elder(db, principal, elder_id)
        flag = await db.get(HighRiskFlag, elder_id)
        if flag is not None:
            await audit.record(db, actor=principal.username, action="hotline.high_risk.cleared",
                               entity="elder", entity_id=elder_id,
                               before={"reason": flag.reason})
            await db.delete(flag)
    return _json(HighRiskView(elder_id=elder_id, high_risk=False))


def install_web(app: web.Application, commands: CommandPath) -> None:
    """The hotline API on the console, and its messages."""
    app[COMMANDS] = commands
    add_web_dir(app, "hotline", WEB_DIR)
    api = app[API]
    errors = (401, 403, 409, 422, 503)
    for path, handler, summary, body in (
        ("login", post_login, "Log my softphone in to queues", LoginRequest),
        ("pause", post_pause, "Pause me in every queue, with a reason", PauseRequest),
        ("unpause", post_unpause, "Unpause me", None),
        ("logout", post_logout, "Log me out of every queue", None),
    ):
        api.add(ApiRoute("POST", f"/api/agents/me/{path}", handler, summary, AgentView,
                         body=body, errors=errors, tag="hotline"))
    api.add(ApiRoute("GET", "/api/agents", get_agents, "Agents and their state (from Asterisk)",
                     AgentList, errors=(401, 403, 503), tag="hotline"))
    api.add(ApiRoute("GET", "/api/calls", get_calls, "Call records (filters: number, elder, "
                     "agent, queue, from, to)", CallList, query=CallListQuery,
                     errors=(401, 403, 422), tag="hotline"))
    api.add(ApiRoute("POST", "/api/calls/dial", post_dial,
                     "Click-to-dial: my softphone rings, then the number", DialResult,
                     body=DialRequest, errors=(401, 403, 409, 422, 502, 503), tag="hotline"))
    api.add(ApiRoute("GET", CALL_PATH, get_call, "A call and the calls that continue it",
                     CallDetail, errors=(401, 403, 404), tag="hotline"))
    api.add(ApiRoute("POST", CALL_PATH + "/transfer", post_transfer,
                     "Transfer an answered call to a queue, an agent or a number: blind, or "
                     "attended (consult first, the caller held)",
                     TransferResult, body=TransferRequest,
                     errors=(401, 403, 404, 409, 422, 502, 503), tag="hotline"))
    for step, handler, summary in (
            ("complete", post_transfer_complete, "Complete an attended transfer: the caller "
             "joins the target, I drop (409 until the target answered)"),
            ("cancel", post_transfer_cancel, "Cancel an attended transfer: back to the caller")):
        api.add(ApiRoute("POST", f"{CALL_PATH}/transfer/{step}", handler, summary,
                         TransferResult, errors=(401, 403, 404, 409, 502, 503), tag="hotline"))
    api.add(ApiRoute("POST", CALL_PATH + "/supervise", post_supervise,
                     "Listen, whisper or barge from my phone (switching keeps my call; audited)",
                     SuperviseResult, body=SuperviseRequest,
                     errors=(401, 403, 404, 409, 422, 502, 503), tag="hotline"))
    api.add(ApiRoute("GET", "/api/callbacks", get_callbacks, "The callback list",
                     CallbackList, errors=(401, 403), tag="hotline"))
    elder_path = {"elder_id": "integer"}
    api.add(ApiRoute("PUT", r"/api/elders/{elder_id:\d+}/high-risk", put_high_risk,
                     "Flag an elder high-risk: their hotline calls go first (audited)",
                     HighRiskView, body=HighRiskRequest, path_types=elder_path,
                     errors=(401, 403, 404, 422), tag="hotline"))
    api.add(ApiRoute("DELETE", r"/api/elders/{elder_id:\d+}/high-risk", delete_high_risk,
                     "Clear an elder's high-risk flag (audited)", HighRiskView,
                     path_types=elder_path, errors=(401, 403, 404), tag="hotline"))
