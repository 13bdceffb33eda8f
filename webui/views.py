"""Console pages: elder search and profile, the audit view, the users list."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from callcenter.directory.exceptions import InvalidSearch
from callcenter.directory.schemas import ElderSearchQuery, ElderSearchResult
from callcenter.store.models import Area, AuditEntry, Role, User
from webui.api import REVEAL_ROLES, profile, reveal, search
from webui.auth import current, require_role, shares_session_connection
from webui.keys import RUNTIME
from webui.pages import render
from webui.validation import ReasonRequired, path_id


async def home(request: web.Request) -> web.StreamResponse:
    """GET /: the elder search is the console's start page."""
    raise web.HTTPSeeOther(str(request.app.router["elders"].url_for()))


@shares_session_connection
async def elders_page(request: web.Request) -> web.StreamResponse:
    """GET /elders?q=: the search form and its hits."""
    q = request.query.get("q", "").strip()
    result: ElderSearchResult | None = None
    error: str | None = None
    if q:
        try:
            # A model around the plain answer: the template's ``result.items`` is no dict method.
            result = ElderSearchResult.model_construct(
                **await search(request, ElderSearchQuery(q=q, limit=50)))
        except (InvalidSearch, ValidationError):
            error = "search.invalid"
    return render(request, "elders.html", {"q": q, "result": result, "error": error})


@shares_session_connection
async def elder_page(request: web.Request) -> web.StreamResponse:
    """GET /elders/{elder_id}: the profile, ID number masked."""
    return await _render_profile(request, revealed=None)


async def reveal_submit(request: web.Request) -> web.StreamResponse:
    """POST /elders/{elder_id}/reveal: show the full ID number once, audited."""
    require_role(request, *REVEAL_ROLES)
    form = await request.post()
    elder_id = path_id(request, "elder_id")
    try:
        revealed = await reveal(request, elder_id, str(form.get("reason", ""))[:500])
    except ReasonRequired:
        return await _render_profile(request, revealed=None, reveal_error="reveal.reason_required",
                                     status=422)
    return await _render_profile(request, revealed=revealed.id_number)


async def _render_profile(
    request: web.Request, *, revealed: str | None, reveal_error: str | None = None,
    status: int = 200,
) -> web.StreamResponse:
    principal = current(request)
    elder = await profile(request, path_id(request, "elder_id"))
    return render(
        request,
        "elder.html",
        {
            "elder": elder,
            "revealed": revealed,
            "reveal_error": reveal_error,
            "can_reveal": principal.has_role(*REVEAL_ROLES) and elder["id_number_masked"],
        },
        status=status,
    )


async def audit_page(request: web.Request) -> web.StreamResponse:
    """GET /audit: the latest audit entries (auditors, admins), newest first."""
    require_role(request, Role.AUDITOR, Role.ADMIN)
    action = request.query.get("action", "").strip()[:64]
    stmt = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(200)
    if action:
        stmt = stmt.where(AuditEntry.action.startswith(action, autoescape=True))
    async with request.app[RUNTIME].sessions() as db:
        entries = (await db.execute(stmt)).scalars().all()
    return render(request, "audit.html", {"entries": entries, "action": action})


async def users_page(request: web.Request) -> web.StreamResponse:
    """GET /users: console users with role, area and lock state (admins)."""
    require_role(request, Role.ADMIN)
    async with request.app[RUNTIME].sessions() as db:
        rows = (
            await db.execute(
                select(User, Area.name).outerjoin(Area, Area.id == User.area_id).order_by(User.username)
            )
        ).all()
    return render(request, "users.html", {"users": rows})


def add_page_routes(app: web.Application) -> None:
    """Register the console's pages."""
    router = app.router
    router.add_get("/", home, name="home")
    router.add_get("/elders", elders_page, name="elders")
    router.add_get(r"/elders/{elder_id:\d+}", elder_page, name="elder")
    router.add_post(r"/elders/{elder_id:\d+}/reveal", reveal_submit, name="elder_reveal")
    router.add_get("/audit", audit_page, name="audit")
    router.add_get("/users", users_page, name="users")
