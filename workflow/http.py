"""The workflow JSON API: ``/api/workorders``, ``/api/consults``, ``/api/complaints`` (list
with filters in the caller's jurisdiction, create, read, ``/{id}/transitions``), provider
candidates of a work order, urging a supervision, and the evaluation.

Browser sessions (with the CSRF header) and API tokens (scoped like a user of the token's
role and area) both open them; an API client is recorded in the trail as ``api:<name>``.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from callcenter.feature import Host
from callcenter.store.models import Elder, Role
from webui.api import parse, parse_body
from webui.auth import require_role
from webui.keys import CLOCK, Principal
from webui.openapi import API, ApiRoute, Handler
from workflow.casebook import Casebook
from workflow.evaluation import EvaluationQuery, EvaluationReport, evaluate
from workflow.exceptions import CaseNotFound
from workflow.keys import CALL_STATS
from workflow.kinds import KINDS, WORKORDERS, CaseKind
from workflow.machines import Actor
from workflow.matching import candidates
from workflow.schemas import (
    CaseCreate,
    CaseList,
    CaseListQuery,
    CaseView,
    ProviderCandidate,
    ProviderCandidates,
    TransitionRequest,
    UrgeRequest,
    UrgeResult,
)
from workflow.supervision import urge

CASEBOOK = web.AppKey("workflow_casebook", Casebook)
HOST = web.AppKey("workflow_host", Host)
VIEW_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
ACT_ROLES = (Role.AGENT, Role.SUPERVISOR)
_LABEL = {"workorder": "work order", "consult": "consult", "complaint": "complaint case"}


def actor_of(principal: Principal) -> Actor:
    return Actor(principal.username, principal.role, principal.area_path)


def _json(model: BaseModel, status: int = 200) -> web.Response:
    return web.json_response(text=model.model_dump_json(), status=status)


def _case_id(request: web.Request) -> int:
    value = int(request.match_info["case_id"])
    if value > 2**31 - 1:
        raise CaseNotFound("no such case", {"id": value})
    return value


def _handlers(kind: CaseKind) -> dict[str, Handler]:
    async def list_cases(request: web.Request) -> web.Response:
        principal = require_role(request, *VIEW_ROLES)
        query = parse(CaseListQuery, request.query)
        return _json(await request.app[CASEBOOK].list(kind, actor_of(principal), query))

    async def create(request: web.Request) -> web.Response:
        principal = require_role(request, *ACT_ROLES)
        data = await parse_body(request, CaseCreate)
        book = request.app[CASEBOOK]
        row = await book.create(kind, data, actor_of(principal))
        return _json(await book.view(kind, row.id, actor_of(principal)), status=201)

    async def get_case(request: web.Request) -> web.Response:
        principal = require_role(request, *VIEW_ROLES)
        return _json(await request.app[CASEBOOK].view(kind, _case_id(request), actor_of(principal)))

    async def post_transition(request: web.Request) -> web.Response:
        principal = require_role(request, *ACT_ROLES)
        move = await parse_body(request, TransitionRequest)
        book, actor = request.app[CASEBOOK], actor_of(principal)
        row = await book.move(kind, _case_id(request), move.action, move.version, move.fields, actor)
        return _json(await book.view(kind, row.id, actor))

    return {"list": list_cases, "create": create, "get": get_case, "move": post_transition}


async def candidates_for(book: Casebook, view: CaseView) -> list[ProviderCandidate]:
    """The providers that may take the work order, best first, with the reason."""
    async with book.sessions() as session:
        designated = None
        if view.elder_id is not None:
            elder = await session.get(Elder, view.elder_id)
            designated = elder.provider_id if elder else None
        return await candidates(session, service_type=view.service_type,
                                area_path=view.area_path, designated_id=designated)


async def get_candidates(request: web.Request) -> web.Response:
    """GET /api/workorders/{id}/providers: who may take it, best first, with the reason."""
    principal = require_role(request, *VIEW_ROLES)
    book = request.app[CASEBOOK]
    view = await book.view(WORKORDERS, _case_id(request), actor_of(principal))  # 404 outside
    return _json(ProviderCandidates(candidates=await candidates_for(book, view)))


async def post_urging(request: web.Request) -> web.Response:
    """POST /api/supervisions/{id}/urgings: an urging by phone or online (supervisors)."""
    principal = require_role(request, Role.SUPERVISOR)
    body = await parse_body(request, UrgeRequest)
    book = request.app[CASEBOOK]
    async with book.sessions.begin() as session:
        done = await urge(session, _case_id(request), actor=actor_of(principal),
                          channel=body.channel, note=body.note, at=request.app[CLOCK]())
        result = UrgeResult(supervision=done.supervision_id, urging=done.id)
    return _json(result)


async def run_evaluation(request: web.Request, query: EvaluationQuery) -> EvaluationReport:
    """The figures for the caller's jurisdiction (answer rate from the hotline when it runs)."""
    principal = require_role(request, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
    book = request.app[CASEBOOK]
    stats = request.app[HOST].get(CALL_STATS) if HOST in request.app else None
    async with book.sessions() as session:
        return await evaluate(session, query, principal.area_path, stats, book.zone,
                              request.app[CLOCK]().astimezone(book.zone).date())


async def get_evaluation(request: web.Request) -> web.Response:
    """GET /api/evaluation?start=&end=&by=provider|area."""
    return _json(await run_evaluation(request, parse(EvaluationQuery, request.query)))


def install_api(app: web.Application) -> None:
    api = app[API]
    for kind in KINDS.values():
        h = _handlers(kind)
        base = f"/api/{kind.plural}"
        one = base + r"/{case_id:\d+}"
        label = _LABEL[kind.name]
        api.add(ApiRoute("GET", base, h["list"], f"List {label}s in my jurisdiction (filters)",
                         CaseList, query=CaseListQuery, errors=(401, 403, 422), tag="workflow"))
        api.add(ApiRoute("POST", base, h["create"], f"Open a {label} (agents, supervisors)",
                         CaseView, body=CaseCreate, errors=(400, 401, 403, 422), tag="workflow",
                         status=201))
        api.add(ApiRoute("GET", one, h["get"], f"A {label}: timeline, deadline, my possible moves",
                         CaseView, path_types={"case_id": "integer"}, errors=(401, 403, 404),
                         tag="workflow"))
        api.add(ApiRoute("POST", one + "/transitions", h["move"],
                         f"Move a {label} at the version I saw (409 version-conflict when "
                         "somebody moved it first; 409 illegal-transition; 403 role-not-allowed)",
                         CaseView, body=TransitionRequest, path_types={"case_id": "integer"},
                         errors=(400, 401, 403, 404, 409, 422), tag="workflow"))
    api.add(ApiRoute("GET", r"/api/workorders/{case_id:\d+}/providers", get_candidates,
                     "Providers that may take a work order, best first, with the reason",
                     ProviderCandidates, path_types={"case_id": "integer"},
                     errors=(401, 403, 404), tag="workflow"))
    api.add(ApiRoute("POST", r"/api/supervisions/{case_id:\d+}/urgings", post_urging,
                     "Record an urging (催办) on a supervision (supervisors)", UrgeResult,
                     body=UrgeRequest, path_types={"case_id": "integer"},
                     errors=(400, 401, 403, 404, 422), tag="workflow"))
    api.add(ApiRoute("GET", "/api/evaluation", get_evaluation,
                     "Evaluation figures per provider or area for a period (B §8.2)",
                     EvaluationReport, query=EvaluationQuery, errors=(401, 403, 422),
                     tag="workflow"))

