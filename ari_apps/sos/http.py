"""The SOS API and pages: incidents as agents and supervisors see them, "join" from the console.

Jurisdiction (C §4.2.2): an incident of an identified elder is visible only to users
whose area covers the elder's; an unidentified caller's incident is visible to every
console user, since anybody may have to help. Outside the jurisdiction is a 404.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from aiohttp import web
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.acks import acknowledge, acknowledged_by, handlers_of
from ari_apps.sos.control import HAND_DIALLED
from ari_apps.sos.directory import elder_card
from ari_apps.sos.exceptions import (
    CallControlUnavailable,
    IncidentNotActive,
    IncidentNotVisible,
    NoSoftphone,
    NotAConsoleUser,
)
from ari_apps.sos.models import Disposition, Incident, IncidentStatus, LegRole
from ari_apps.sos.notifier import CONSOLE_ROLES
from ari_apps.sos.records import elapsed_text, read_timeline
from ari_apps.sos.schemas import (
    AckResult,
    IncidentList,
    IncidentListQuery,
    IncidentSummary,
    IncidentView,
    JoinResult,
    LegView,
    NotificationView,
    TimelineEntry,
)
from ari_apps.sos.stasis import SosApp
from ari_apps.sos.store import incident_with_timeline
from callcenter.bus import BusMessage
from callcenter.commands import CommandPath, CommandTimeout
from callcenter.notify.outbox import list_for_subject
from callcenter.store.models import Elder, Role, User
from webui.api import parse
from webui.auth import require_role
from webui.i18n import translator
from webui.keys import CLOCK, RUNTIME, Principal
from webui.openapi import API, ApiRoute
from webui.pages import ConsolePart, NavItem, add_nav, add_part, add_web_dir, render

SOS_APP: web.AppKey[SosApp | None] = web.AppKey("sos_app")
COMMANDS = web.AppKey("commands", CommandPath)
#: How long "join" waits for the process that hosts the conference to ring the softphone.
JOIN_WITHIN = 10.0
#: The SOS pages' templates, scripts, styles and messages.
WEB_DIR = Path(__file__).parent / "web"
VIEW_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)
JOIN_ROLES = (Role.AGENT, Role.SUPERVISOR)


def _visible(principal: Principal) -> ColumnElement[bool]:
    if principal.area_path is None:
        return Incident.id.is_not(None)
    return or_(
        Incident.area_path.is_(None),
        Incident.area_path.startswith(principal.area_path, autoescape=True),
    )


def _summary(incident: Incident, elder_name: str | None) -> dict[str, object]:
    return {
        "id": incident.id,
        "kind": incident.kind,
        "status": incident.status,
        "elder_id": incident.elder_id,
        "elder_name": elder_name,
        "identified": incident.identified,
        "caller_number": incident.caller_number,
        "started_at": incident.started_at,
        "first_answer_at": incident.first_answer_at,
        "ended_at": incident.ended_at,
        "outcome": incident.outcome,
    }


async def list_incidents(
    session: AsyncSession, principal: Principal, query: IncidentListQuery
) -> IncidentList:
    """Incidents in the user's jurisdiction, newest first."""
    statement = (
        select(Incident, Elder.name)
        .outerjoin(Elder, Elder.id == Incident.elder_id)
        .where(_visible(principal))
        .order_by(Incident.started_at.desc())
        .limit(max(1, min(query.limit, 200)))
    )
    if query.status != "all":
        statement = statement.where(Incident.status == query.status)
    rows = list(await session.execute(statement))
    ids = [incident.id for incident, _ in rows]
    acknowledged = await acknowledged_by(session, principal.user_id, ids)
    handlers = await handlers_of(session, ids)
    return IncidentList(incidents=[
        IncidentSummary.model_validate(_summary(i, name) | {
            "acknowledged": i.id in acknowledged,
            "handlers": [asdict(h) for h in handlers.get(i.id, [])],
        })
        for i, name in rows
    ])


async def incident_view(
    session: AsyncSession, principal: Principal, incident_id: str, sos: SosApp | None
) -> IncidentView:
    """One incident with its legs, timeline and notifications (404 outside jurisdiction)."""
    visible = (
        await session.execute(select(Incident.id).where(Incident.id == incident_id,
                                                        _visible(principal)))
    ).scalar_one_or_none()
    found = await incident_with_timeline(session, incident_id) if visible else None
    if found is None:
        raise IncidentNotVisible("no such incident", {"incident": incident_id})
    incident, legs, events = found
    elder_name = (
        await session.get(Elder, incident.elder_id) if incident.elder_id else None
    )
    notifications = await list_for_subject(session, "incident", incident_id)
    live = sos.conferences.get(incident_id) if sos is not None else None
    return IncidentView.model_validate(
        _summary(incident, elder_name.name if elder_name else None)
        | {
            "device_id": incident.device_id,
            "recording_name": incident.recording_name,
            "work_order_number": incident.work_order_number,
            "legs": [LegView.model_validate(leg, from_attributes=True) for leg in legs],
            "timeline": [TimelineEntry.model_validate(e, from_attributes=True) for e in events],
            "notifications": [
                NotificationView.model_validate(n, from_attributes=True) for n in notifications
            ],
            "live": live.snapshot() if live is not None else None,
        }
    )


def _json(model: IncidentList | IncidentView | JoinResult | AckResult) -> web.Response:
    return web.json_response(text=model.model_dump_json())


async def get_incidents(request: web.Request) -> web.Response:
    """GET /api/sos?status=active|ended|all&limit=."""
    principal = require_role(request, *VIEW_ROLES)
    query = parse(IncidentListQuery, request.query)
    async with request.app[RUNTIME].sessions() as session:
        return _json(await list_incidents(session, principal, query))


async def get_incident(request: web.Request) -> web.Response:
    """GET /api/sos/{incident}."""
    principal = require_role(request, *VIEW_ROLES)
    async with request.app[RUNTIME].sessions() as session:
        view = await incident_view(
            session, principal, request.match_info["incident"], request.app[SOS_APP]
        )
    return _json(view)


async def post_join(request: web.Request) -> web.Response:
    """POST /api/sos/{incident}/join: ring my softphone into the conference.

    The conference may run in another process (this one may not even run call control):
    the command goes to whichever process hosts it, over the bus.
    """
    principal = require_role(request, *JOIN_ROLES)
    incident_id = request.match_info["incident"]
    async with request.app[RUNTIME].sessions() as session:
        view = await incident_view(session, principal, incident_id, None)  # jurisdiction: 404
        user = await session.get(User, principal.user_id)
    if user is None or not user.endpoint:
        raise NoSoftphone("no softphone endpoint is set for this user")
    if view.status != IncidentStatus.ACTIVE:
        raise IncidentNotActive("the incident's conference has ended", {"incident": incident_id})
    role = LegRole.AGENT if principal.role == Role.AGENT.value else LegRole.SUPERVISOR
    try:
        result = await request.app[COMMANDS].call("sos.join", {
            "incident": incident_id, "role": role.value, "endpoint": user.endpoint,
            "name": principal.display_name, "user_id": user.id, "actor": principal.username,
        }, within=JOIN_WITHIN)
    except CommandTimeout as err:
        raise CallControlUnavailable(
            "no process with call control runs this incident's conference",
            {"incident": incident_id},
        ) from err
    await acknowledge_incident(request, principal, incident_id, "join")
    return _json(JoinResult(incident=incident_id, leg=str(result["leg"]), endpoint=user.endpoint,
                            existing=bool(result.get("existing"))))


async def acknowledge_incident(
    request: web.Request, principal: Principal, incident_id: str, via: str
) -> bool:
    """This user has seen an active incident (see ``acks.py``): stored, put on its timeline
    and told to the consoles (the user's other browsers close their pop). True when new."""
    if principal.via_token:
        raise NotAConsoleUser("only a console user acknowledges an incident")
    async with request.app[RUNTIME].sessions.begin() as session:
        incident = (await session.execute(
            select(Incident).where(Incident.id == incident_id, _visible(principal))
        )).scalar_one_or_none()
        if incident is None:
            raise IncidentNotVisible("no such incident", {"incident": incident_id})
        if incident.status != IncidentStatus.ACTIVE:
            raise IncidentNotActive("the incident has ended", {"incident": incident_id})
        done = await acknowledge(session, incident_id, principal.user_id, via)
        area_path = incident.area_path
    if done is None:
        return False
    audience: dict[str, object] = {"roles": CONSOLE_ROLES}
    if area_path:
        audience["area_path"] = area_path
    await request.app[RUNTIME].bus.publish(BusMessage("sos.acknowledged", {
        "incident": incident_id, "user_id": done.user_id, "name": done.name, "role": done.role,
        "event": done.event,
    }, audience))
    return True


async def post_ack(request: web.Request) -> web.Response:
    """POST /api/sos/{incident}/ack: I have seen it; stop popping it on my consoles."""
    principal = require_role(request, *JOIN_ROLES)
    incident_id = request.match_info["incident"]
    new = await acknowledge_incident(request, principal, incident_id, "pop")
    return _json(AckResult(incident=incident_id, new=new))


# -- console pages -------------------------------------------------------------------

#: How the incident page orders the roles of a conference (the elder last: the caller).
ROLE_ORDER = (
    LegRole.EMERGENCY, LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER, LegRole.AGENT,
    LegRole.SUPERVISOR, LegRole.ELDER,
)
#: The roles the conference itself dials (an empty one is still shown: "nobody reached").
DIALLED_ROLES = (LegRole.EMERGENCY, LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER)
RECENT_ENDED = 50


async def incidents_page(request: web.Request) -> web.StreamResponse:
    """GET /incidents: active incidents first, then the latest ended ones (my jurisdiction)."""
    principal = require_role(request, *VIEW_ROLES)
    async with request.app[RUNTIME].sessions() as session:
        active = await list_incidents(session, principal,
                                      IncidentListQuery(status=IncidentStatus.ACTIVE, limit=200))
        ended = await list_incidents(session, principal,
                                     IncidentListQuery(status=IncidentStatus.ENDED,
                                                       limit=RECENT_ENDED))
    _ = translator(request)
    now = request.app[CLOCK]()

    def elapsed(incident: IncidentSummary) -> str:
        return elapsed_text(_, ((incident.ended_at or now) - incident.started_at).total_seconds())

    return render(request, "incidents.html",
                  {"active": active.incidents, "ended": ended.incidents, "elapsed": elapsed})


def _merged_legs(view: IncidentView) -> list[dict[str, object]]:
    """The stored legs with the live state over them (the store lags the call by a moment)."""
    legs: dict[str, dict[str, object]] = {leg.id: leg.model_dump() for leg in view.legs}
    for live in (view.live or {}).get("legs", []):
        stored = legs.setdefault(live["id"], {"id": live["id"], "number": "", "cause_text": None,
                                               "created_at": None, "answered_at": None,
                                               "ended_at": None})
        stored.update(role=live["role"], name=live["name"] or stored.get("name", ""),
                      state=live["state"], cause=live["cause"])
    return list(legs.values())


def _role_groups(legs: list[dict[str, object]], exhausted: set[str]) -> list[dict[str, object]]:
    groups: list[dict[str, object]] = []
    for role in ROLE_ORDER:
        mine = [leg for leg in legs if leg["role"] == role.value]
        # Every role is rendered (the page script fills in legs that appear later);
        # one nobody was dialled for yet is hidden unless the conference dials it.
        groups.append({"role": role.value, "legs": mine, "exhausted": role.value in exhausted,
                       "shown": bool(mine) or role in DIALLED_ROLES})
    return groups


async def incident_page(request: web.Request) -> web.StreamResponse:
    """GET /incidents/{incident}: elder card, legs by role, timeline, notifications, join."""
    principal = require_role(request, *VIEW_ROLES)
    sos = request.app[SOS_APP]
    async with request.app[RUNTIME].sessions() as session:
        view = await incident_view(session, principal, request.match_info["incident"], sos)
        live = view.live
        elder = (live or {}).get("elder")
        if elder is None and view.elder_id is not None:  # ended, or handled by another process
            card = await elder_card(session, view.elder_id)
            elder = card.to_public() if card else None
    # Exhausted roles: the live conference knows; an ended one left it on its timeline.
    exhausted = set((live or {}).get("exhausted", ())) | {
        str(entry.detail.get("role")) for entry in view.timeline if entry.kind == "role.exhausted"
    }
    can_join = (principal.has_role(*JOIN_ROLES) and live is not None
                and view.status == IncidentStatus.ACTIVE)
    if (principal.has_role(*JOIN_ROLES) and not principal.via_token
            and view.status == IncidentStatus.ACTIVE):
        try:
            await acknowledge_incident(request, principal, view.id, "page")
        except IncidentNotActive:
            pass  # it ended meanwhile: nothing left to acknowledge
    legs = _merged_legs(view)
    named = {str(leg["id"]): leg for leg in legs}
    elder_name = elder.get("name") if elder else view.elder_name
    return render(request, "incident.html", {
        "incident": view,
        "timeline": read_timeline(translator(request), view.timeline, named, elder_name),
        "elder": elder,
        "groups": _role_groups(legs, exhausted),
        "exhausted": sorted(exhausted),
        "can_join": can_join,
        "join_url": f"/api/sos/{view.id}/join",
        # The same users may act on the call: end it, hang up, mute, dial (http_actions.py).
        "can_act": can_join,
        "is_supervisor": principal.role == Role.SUPERVISOR.value,
        "dispositions": list(Disposition),
        "hand_roles": HAND_DIALLED,
    })


def install_web(app: web.Application, sos: SosApp | None, commands: CommandPath) -> None:
    """The SOS pages and API on the console; ``sos`` when this process runs call control,
    ``commands`` to reach the process that hosts a conference."""
    app[SOS_APP] = sos
    app[COMMANDS] = commands
    add_web_dir(app, "sos", WEB_DIR)
    add_nav(app, NavItem("incidents", "nav.incidents", frozenset(VIEW_ROLES) - {Role.AUDITOR}))
    add_part(app, ConsolePart(template="_sos_pop.html", styles=("/assets/sos/sos.css",),
                              scripts=("/assets/sos/sos-base.js", "/assets/sos/sos.js",
                                       "/assets/sos/sos-page.js")))
    app.router.add_get("/incidents", incidents_page, name="incidents")
    app.router.add_get(r"/incidents/{incident:\w+}", incident_page, name="incident")
    api = app[API]
    api.add(ApiRoute("GET", "/api/sos", get_incidents, "SOS incidents in my jurisdiction",
                     IncidentList, query=IncidentListQuery, errors=(401, 403, 422), tag="sos"))
    api.add(ApiRoute("GET", r"/api/sos/{incident:\w+}", get_incident,
                     "An SOS incident with its legs, timeline and notifications",
                     IncidentView, errors=(401, 403, 404), tag="sos"))
    api.add(ApiRoute("POST", r"/api/sos/{incident:\w+}/join", post_join,
                     "Ring my softphone into the incident's conference (wherever it runs)",
                     JoinResult, errors=(401, 403, 404, 409, 422, 503), tag="sos"))
    api.add(ApiRoute("POST", r"/api/sos/{incident:\w+}/ack", post_ack,
                     "I have seen this incident: my consoles stop popping it (until a new alert)",
                     AckResult, errors=(401, 403, 404, 409, 422), tag="sos"))
    from ari_apps.sos.http_actions import install_actions  # it builds on this module

    install_actions(app)
