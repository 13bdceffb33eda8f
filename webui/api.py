"""The JSON API under /api, declared in the route registry (and so in the OpenAPI document)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from callcenter.directory import services
from callcenter.directory.schemas import (
    ElderProfile,
    ElderSearchQuery,
    ElderSearchResult,
    IdNumberRevealed,
    RevealRequest,
)
from callcenter.logs import get_logger
from callcenter.store.models import Role
from webui.auth import current, read_for, require_role, shares_session_connection
from webui.errors import InvalidParameters
from webui.health import HealthReport, healthz
from webui.keys import CLOCK, RUNTIME
from webui.openapi import ApiRegistry, ApiRoute, openapi_document
from webui.validation import meaningful_reason, path_id, reject_nul

log = get_logger(__name__)
M = TypeVar("M", bound=BaseModel)
#: Who may decrypt an elder's full ID number (always audited).
REVEAL_ROLES = (Role.SUPERVISOR, Role.AUDITOR, Role.ADMIN)


class MeView(BaseModel):
    """The logged-in user, and the CSRF token their mutating calls must send."""

    user_id: int
    username: str
    display_name: str
    role: str
    area_path: str | None
    csrf_token: str
    expires_at: datetime


def parse(model: type[M], data: Mapping[str, object]) -> M:
    """Validate request parameters, or raise a 422 listing what is wrong (400 for a NUL byte)."""
    reject_nul(data)
    try:
        return model.model_validate(dict(data))
    except ValidationError as err:
        raise InvalidParameters(err) from err


async def parse_body(request: web.Request, model: type[M]) -> M:
    """The request's JSON object body, validated (400: not a JSON object; 422: invalid).

    An empty body is ``{}``, so actions without parameters need none.
    """
    try:
        data = orjson.loads(await request.read() or b"{}")
    except orjson.JSONDecodeError as err:
        raise web.HTTPBadRequest(reason="body is not JSON") from err
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(reason="body is not a JSON object")
    return parse(model, data)


def _json(model: BaseModel) -> web.Response:
    return web.json_response(text=model.model_dump_json())


def _plain_json(data: object) -> web.Response:
    """Trusted plain data (rows from the store) serialised as it is."""
    return web.Response(body=orjson.dumps(data), content_type="application/json", charset="utf-8")


def _elder_id(request: web.Request) -> int:
    return path_id(request, "elder_id")


async def search(request: web.Request, query: ElderSearchQuery) -> services.SearchAnswer:
    """Elder search within the requesting user's jurisdiction."""
    scope = current(request).jurisdiction
    return await read_for(
        request, lambda conn: services.search_elders(conn, scope, query.q, limit=query.limit)
    )


async def profile(request: web.Request, elder_id: int) -> services.ProfileAnswer:
    """An elder's profile (404 outside the jurisdiction); the view goes to the access log."""
    principal = current(request)
    cipher, today = request.app[RUNTIME].cipher, request.app[CLOCK]().date()
    found = await read_for(request, lambda conn: services.elder_profile(
        conn, principal.jurisdiction, elder_id, cipher, today=today))
    # Viewing profiles is an agent's everyday work: a log line, not an audit-chain entry
    # (which serialises writers); decrypting the ID number is audited instead.
    log.info("elder profile viewed", user_id=principal.user_id, elder_id=elder_id)
    return found


async def reveal(request: web.Request, elder_id: int, reason: str) -> IdNumberRevealed:
    """Decrypt the ID number for an allowed role, with an audit entry (422: no real reason)."""
    principal = require_role(request, *REVEAL_ROLES)
    reason = meaningful_reason(reason)
    runtime = request.app[RUNTIME]
    async with runtime.sessions.begin() as db:
        return await services.reveal_id_number(
            db, principal.jurisdiction, elder_id, runtime.cipher,
            actor=principal.username, reason=reason,
        )


async def get_me(request: web.Request) -> web.Response:
    """GET /api/me."""
    p = current(request)
    return _json(MeView(user_id=p.user_id, username=p.username, display_name=p.display_name,
                        role=p.role, area_path=p.area_path, csrf_token=p.csrf_token,
                        expires_at=p.expires_at))


@shares_session_connection
async def get_elders(request: web.Request) -> web.Response:
    """GET /api/elders?q=&limit=."""
    return _plain_json(await search(request, parse(ElderSearchQuery, request.query)))


@shares_session_connection
async def get_elder(request: web.Request) -> web.Response:
    """GET /api/elders/{elder_id}."""
    return _plain_json(await profile(request, _elder_id(request)))


async def post_reveal(request: web.Request) -> web.Response:
    """POST /api/elders/{elder_id}/reveal with ``{"reason": ...}``."""
    payload = await parse_body(request, RevealRequest)
    return _json(await reveal(request, _elder_id(request), payload.reason))


def build_registry(version: str) -> ApiRegistry:
    """Every JSON route of the console, with its parameters and responses."""
    api = ApiRegistry("Eldercare call centre console API", version)
    elder_path = {"elder_id": "integer"}
    api.add(ApiRoute("GET", "/api/me", get_me, "The logged-in user and their CSRF token", MeView))
    api.add(ApiRoute("GET", "/api/elders", get_elders,
                     "Search elders by name prefix, phone digits or ID-number tail",
                     ElderSearchResult, query=ElderSearchQuery))
    api.add(ApiRoute("GET", r"/api/elders/{elder_id:\d+}", get_elder, "An elder's profile",
                     ElderProfile, path_types=elder_path, errors=(404,)))
    api.add(ApiRoute("POST", r"/api/elders/{elder_id:\d+}/reveal", post_reveal,
                     "Reveal an elder's full ID number (supervisor, auditor, admin; audited)",
                     IdNumberRevealed, body=RevealRequest, path_types=elder_path,
                     errors=(400, 404)))
    api.add(ApiRoute("GET", "/api/openapi.json", openapi_document, "This OpenAPI document",
                     None, public=True, tag="meta"))
    api.add(ApiRoute("GET", "/healthz", healthz,
                     "Database, Redis and Asterisk status (503 when unhealthy)",
                     HealthReport, errors=(503,), public=True, tag="meta"))
    return api
