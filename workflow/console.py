"""The workflow console pages: lists with filters, a new-case form, the case page (timeline,
deadline as "剩余 2 个工作日", only the moves the user may make now, urging), evaluation.

Forms post plainly (``novalidate``: the server checks and answers in plain Mandarin), and
keep the keyboard first: the first field has the focus, Enter submits, every action is a
button in the tab order.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from callcenter.errors import DomainError
from callcenter.store.models import Provider, Role
from webui.auth import require_role
from webui.i18n import translator
from webui.keys import CLOCK
from webui.pages import render
from workflow.calendar import remaining_text
from workflow.evaluation import EvaluationQuery, to_csv
from workflow.http import ACT_ROLES, CASEBOOK, VIEW_ROLES, actor_of, candidates_for, run_evaluation
from workflow.kinds import KINDS, CaseKind, kind_named
from workflow.schemas import CaseCreate, CaseListQuery, LinkedCall, ProviderCandidate
from workflow.supervision import urge

SERVICE_TYPES = ("home_care", "meals", "bath", "cleaning", "repair", "medical", "other")
SOURCES = ("direct", "consumer_association", "authority", "media")
#: The fields a move needs, then the optional ones the form offers.
OPTIONAL = {"dispatch": ("reason",), "redispatch": (), "take": (), "check_in": ("staff_name",),
            "review": ("reason",), "answer_now": ("reason",)}


def _kind(request: web.Request) -> CaseKind:
    return kind_named(request.path.split("/")[1])  # /workorders, /consults/3, …


def _message(request: web.Request, err: DomainError) -> str:
    _ = translator(request)
    text = _(f"error.{err.error_id}") if _.has(f"error.{err.error_id}") else err.message
    missing = err.details.get("missing") or ([err.details["field"]] if "field" in err.details else [])
    if missing:
        text += " " + "、".join(_(f"field.{m}") if _.has(f"field.{m}") else m for m in missing)
    return text


def _form_errors(request: web.Request, err: ValidationError) -> str:
    _ = translator(request)
    names = []
    for e in err.errors():
        name = str(e["loc"][0]) if e["loc"] else ""
        names.append(_(f"field.{name}") if _.has(f"field.{name}") else name)
    return _("wf.form.invalid") + " " + "、".join(dict.fromkeys(names))


async def list_page(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, *VIEW_ROLES)
    kind = _kind(request)
    book = request.app[CASEBOOK]
    raw = {k: v for k, v in request.query.items() if v != ""}
    try:
        query = CaseListQuery.model_validate(raw)
        error = None
    except ValidationError as err:
        query, error = CaseListQuery(), _form_errors(request, err)
    listed = await book.list(kind, actor_of(principal), query)
    calendar, now = await book.calendar(), request.app[CLOCK]()
    rows = []
    for item in listed.items:
        remaining, left = "", None
        if item.due_at and item.status not in kind.machine.met:
            remaining, left = ("已暂停", None) if item.paused else remaining_text(
                calendar, now, item.due_at, book.zone)
        rows.append({"item": item, "remaining": remaining, "left": left})
    return render(request, "wf_cases.html", {
        "kind": kind, "rows": rows, "query": query, "error": error,
        "states": kind.machine.states, "can_create": principal.has_role(*ACT_ROLES),
        "next_before_id": listed.next_before_id, "raw": raw})


async def new_page(request: web.Request) -> web.StreamResponse:
    require_role(request, *ACT_ROLES)
    return await _render_new(request, _kind(request), {}, None)


async def _render_new(request: web.Request, kind: CaseKind, form: dict[str, str],
                      error: str | None, status: int = 200) -> web.StreamResponse:
    async with request.app[CASEBOOK].sessions() as session:
        providers = [(p.id, p.name) for p in (await session.execute(
            Provider.__table__.select().where(Provider.active.is_(True)).order_by(Provider.name)))]
    return render(request, "wf_new.html", {
        "kind": kind, "form": form, "error": error, "service_types": SERVICE_TYPES,
        "sources": SOURCES, "providers": providers}, status=status)


def _create_data(kind: CaseKind, form: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {k: form.get(k, "").strip() for k in ("title", "description")}
    for name in ("elder_id", "provider_id", "call_id"):
        if form.get(name, "").strip():
            data[name] = form[name].strip()
    if kind.name == "workorder":
        for name in ("service_type", "priority"):
            if form.get(name):
                data[name] = form[name]
    if kind.name == "complaint":
        data["source"] = form.get("source") or "direct"
        if form.get("reply_due_at"):
            data["reply_due_at"] = form["reply_due_at"] + ":00+08:00" if len(form["reply_due_at"]) == 16 else form["reply_due_at"]
        calls = []
        for line in form.get("calls", "").splitlines():
            parts = line.split()
            if parts:
                calls.append(LinkedCall(call_id=parts[0], recording_name=parts[1] if len(parts) > 1 else None))
        data["calls"] = calls
    else:
        data.pop("provider_id", None)
    return data


async def new_submit(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, *ACT_ROLES)
    kind = _kind(request)
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    try:
        data = CaseCreate.model_validate(_create_data(kind, form))
        row = await request.app[CASEBOOK].create(kind, data, actor_of(principal))
    except ValidationError as err:
        return await _render_new(request, kind, form, _form_errors(request, err), 422)
    except DomainError as err:
        return await _render_new(request, kind, form, _message(request, err), err.status)
    raise web.HTTPSeeOther(f"/{kind.plural}/{row.id}")


async def case_page(request: web.Request, error: str | None = None, status: int = 200,
                    form: dict[str, str] | None = None) -> web.StreamResponse:
    principal = require_role(request, *VIEW_ROLES)
    kind = _kind(request)
    book = request.app[CASEBOOK]
    view = await book.view(kind, int(request.match_info["case_id"]), actor_of(principal))
    moves = [kind.machine.move(a) for a in view.actions]
    candidates: list[ProviderCandidate] = []
    if kind.name == "workorder" and any(m.action in ("dispatch", "redispatch") for m in moves):
        candidates = await candidates_for(book, view)  # the same list the API gives
    return render(request, "wf_case.html", {
        "kind": kind, "case": view, "moves": moves, "optional": OPTIONAL, "error": error,
        "form": form or {}, "candidates": candidates, "service_types": SERVICE_TYPES,
        "is_supervisor": principal.role == Role.SUPERVISOR.value}, status=status)


async def act_submit(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, *ACT_ROLES)
    kind = _kind(request)
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    action = form.pop("action", "")
    try:
        version = int(form.pop("version", "0"))
        fields = {k: v for k, v in form.items() if v.strip()}
        await request.app[CASEBOOK].move(kind, int(request.match_info["case_id"]), action,
                                         version, fields, actor_of(principal))
    except DomainError as err:
        return await case_page(request, _message(request, err), err.status, form | {"action": action})
    except ValueError:
        return await case_page(request, translator(request)("wf.form.invalid"), 422)
    raise web.HTTPSeeOther(f"/{kind.plural}/{request.match_info['case_id']}")


async def urge_submit(request: web.Request) -> web.StreamResponse:
    principal = require_role(request, Role.SUPERVISOR)
    form = await request.post()
    kind = _kind(request)
    book = request.app[CASEBOOK]
    try:
        async with book.sessions.begin() as session:
            await urge(session, int(str(form.get("supervision", "0"))), actor=actor_of(principal),
                       channel=str(form.get("channel", "")), note=str(form.get("note", "")),
                       at=request.app[CLOCK]())
    except DomainError as err:
        return await case_page(request, _message(request, err), err.status)
    raise web.HTTPSeeOther(f"/{kind.plural}/{request.match_info['case_id']}")


def _evaluation_query(request: web.Request) -> EvaluationQuery:
    try:
        return EvaluationQuery.model_validate({k: v for k, v in request.query.items() if v})
    except ValidationError:
        return EvaluationQuery()


async def evaluation_page(request: web.Request) -> web.StreamResponse:
    query = _evaluation_query(request)
    report = await run_evaluation(request, query)
    return render(request, "wf_evaluation.html", {"report": report, "query": query})


async def evaluation_csv(request: web.Request) -> web.StreamResponse:
    report = await run_evaluation(request, _evaluation_query(request))
    name = f"evaluation-{report.by}-{report.start}-{report.end}.csv"
    return web.Response(text=to_csv(report), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


def install_pages(app: web.Application) -> None:
    kinds = "|".join(k.plural for k in KINDS.values())
    router = app.router
    for kind in KINDS.values():
        router.add_get(f"/{kind.plural}", list_page, name=kind.plural)
    router.add_get(f"/{{kind:{kinds}}}/new", new_page)
    router.add_post(f"/{{kind:{kinds}}}/new", new_submit)
    router.add_get(fr"/{{kind:{kinds}}}/{{case_id:\d{{1,9}}}}", case_page)
    router.add_post(fr"/{{kind:{kinds}}}/{{case_id:\d{{1,9}}}}/act", act_submit)
    router.add_post(fr"/{{kind:{kinds}}}/{{case_id:\d{{1,9}}}}/urge", urge_submit)
    router.add_get("/evaluation", evaluation_page, name="evaluation")
    router.add_get("/evaluation.csv", evaluation_csv)
