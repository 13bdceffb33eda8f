"""What agents and supervisors do to an incident from the console: end it, hang up or mute
a leg, dial a contact by hand.

Each route checks the role, the jurisdiction (outside it: 404) and, through the console's
middleware, the CSRF token; it validates the body (422), refuses an ended incident (409),
then sends the command to whichever process hosts the conference (``actions.py``) and,
once done, writes the action to the audit trail (E A.1.2).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import select

from ari_apps.sos.exceptions import CallControlUnavailable, IncidentNotActive, IncidentNotVisible
from ari_apps.sos.http import COMMANDS, JOIN_ROLES, _visible
from ari_apps.sos.models import Incident, IncidentStatus
from ari_apps.sos.schemas import (
    DialRequest,
    DialResult,
    EndRequest,
    EndResult,
    LegActionResult,
    MuteRequest,
)
from callcenter import audit
from callcenter.commands import CommandTimeout
from callcenter.store.models import Role
from webui.api import parse_body
from webui.auth import require_role
from webui.keys import RUNTIME, Principal
from webui.openapi import API, ApiRoute

#: How long an action waits for the process that hosts the conference.
ACTION_WITHIN = 10.0
INCIDENT_PATH = r"/api/sos/{incident:\w+}"
LEG_PATH = INCIDENT_PATH + r"/legs/{leg:[\w.-]+}"  # Asterisk ids: 1733.42


async def _act(
    request: web.Request, principal: Principal, command: str, args: dict[str, Any],
    audited: dict[str, Any], reason: str = "",
) -> dict[str, Any]:
    """Run ``command`` on the incident in the path, wherever its conference runs; audit it."""
    incident_id = request.match_info["incident"]
    runtime = request.app[RUNTIME]
    async with runtime.sessions() as session:
        status = (await session.execute(
            select(Incident.status).where(Incident.id == incident_id, _visible(principal))
        )).scalar_one_or_none()
    if status is None:
        raise IncidentNotVisible("no such incident", {"incident": incident_id})
    if status != IncidentStatus.ACTIVE.value:
        raise IncidentNotActive("the incident's conference has ended", {"incident": incident_id})
    try:
        result = await request.app[COMMANDS].call(
            command, args | {"incident": incident_id, "actor": principal.username},
            within=ACTION_WITHIN,
        )
    except CommandTimeout as err:
        raise CallControlUnavailable(
            "no process with call control runs this incident's conference",
            {"incident": incident_id},
        ) from err
    async with runtime.sessions.begin() as db:
        await audit.record(db, actor=principal.username, action=command, entity="incident",
                           entity_id=incident_id, after=audited, reason=reason)
    return result


def _json(model: BaseModel) -> web.Response:
    return web.json_response(text=model.model_dump_json())


async def post_end(request: web.Request) -> web.Response:
    """POST /api/sos/{incident}/end {disposition, note}: close the incident, end its call."""
    principal = require_role(request, *JOIN_ROLES)
    body = await parse_body(request, EndRequest)
    result = await _act(request, principal, "sos.end",
                        {"disposition": body.disposition.value, "note": body.note},
                        {"disposition": body.disposition.value, "note": body.note},
                        reason=body.note)
    return _json(EndResult.model_validate(result))


async def post_hangup(request: web.Request) -> web.Response:
    """POST /api/sos/{incident}/legs/{leg}/hangup: take a leg off the call (the elder's:
    supervisors only)."""
    principal = require_role(request, *JOIN_ROLES)
    leg = request.match_info["leg"]
    result = await _act(request, principal, "sos.hangup",
                        {"leg": leg, "supervisor": principal.role == Role.SUPERVISOR.value},
                        {"leg": leg})
    return _json(LegActionResult.model_validate(result))


async def post_mute(request: web.Request) -> web.Response:
    """POST /api/sos/{incident}/legs/{leg}/mute {muted}: the others stop hearing the leg."""
    principal = require_role(request, *JOIN_ROLES)
    body = await parse_body(request, MuteRequest)
    leg = request.match_info["leg"]
    result = await _act(request, principal, "sos.mute", {"leg": leg, "muted": body.muted},
                        {"leg": leg, "muted": body.muted})
    return _json(LegActionResult.model_validate(result))


async def post_dial(request: web.Request) -> web.Response:
    """POST /api/sos/{incident}/dial {role, number, name}: one more responder, by hand."""
    principal = require_role(request, *JOIN_ROLES)
    body = await parse_body(request, DialRequest)
    result = await _act(request, principal, "sos.dial", body.model_dump(),
                        {"role": body.role, "name": body.name})
    return _json(DialResult.model_validate(result))


def install_actions(app: web.Application) -> None:
    """The action routes, in the API registry (and so in the OpenAPI document)."""
    api = app[API]
    leg_errors = (401, 403, 404, 409, 503)
    api.add(ApiRoute("POST", INCIDENT_PATH + "/end", post_end,
                     "End the incident with a disposition and a note (agents, supervisors)",
                     EndResult, body=EndRequest, errors=(400, 404, 409, 422, 503), tag="sos"))
    api.add(ApiRoute("POST", LEG_PATH + "/hangup", post_hangup,
                     "Hang up one leg (the elder's own: supervisors only)",
                     LegActionResult, errors=leg_errors, tag="sos"))
    api.add(ApiRoute("POST", LEG_PATH + "/mute", post_mute,
                     "Mute or unmute what one leg says (it still hears the others)",
                     LegActionResult, body=MuteRequest, errors=(400, *leg_errors, 422), tag="sos"))
    api.add(ApiRoute("POST", INCIDENT_PATH + "/dial", post_dial,
                     "Dial a contact by hand as one more responder of a role",
                     DialResult, body=DialRequest, errors=(400, 404, 409, 422, 503), tag="sos"))
