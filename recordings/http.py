"""The recordings API and the auditors' console page.

- ``GET /api/recordings``: search (phone shown masked, elder, dates, serial, agent,
  incident, case), within the user's scope;
- ``GET /api/recordings/{serial}``: one recording with its waveform and talk segments;
- ``POST /api/recordings/{serial}/access`` ``{reason, purpose}``: a short-lived link to the
  audio for me alone, written to the audit trail first (who, which, why, when, from where);
- ``GET /api/recordings/{serial}/audio?purpose&expires&sig``: the audio through the product
  (never a file URL), with HTTP Range for seeking; the link is checked against the user
  asking, and the scope again;
- ``POST /api/recordings/{serial}/holds`` and ``POST /api/recordings/holds/{id}/release``:
  auditors' legal holds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from callcenter import audit
from callcenter.logs import get_logger
from callcenter.store.models import Role
from recordings import holds as hold_rules
from recordings.exceptions import AudioGone, InvalidHold, LinkInvalid, RangeNotSatisfiable
from recordings.models import HoldKind, RecordingHold, RecordingState
from recordings.schemas import (
    AccessLink,
    AccessRequest,
    HoldPlaced,
    HoldRelease,
    HoldView,
    LegalHoldRequest,
    RecordingDetail,
    RecordingList,
    RecordingSearch,
)
from recordings.search import LISTEN_ROLES, detail, find_visible, search
from recordings.services import Recordings
from webui.api import parse
from webui.auth import require_role
from webui.keys import CLOCK, RUNTIME
from webui.openapi import API, ApiRoute
from webui.pages import NavItem, add_nav, add_web_dir, render
from webui.throttle import CLIENT_ADDRESS
from webui.validation import meaningful_reason

log = get_logger(__name__)
RECORDINGS = web.AppKey("recordings", Recordings)
WEB_DIR = Path(__file__).parent / "web"
SERIAL = r"{serial:R[0-9]+-[0-9A-F]+}"  # no braces inside: the OpenAPI path stays plain
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def _link_key(app: web.Application) -> bytes:
    secret = app[RUNTIME].settings.secret_key_bytes()
    return hashlib.sha256(b"callcenter recording links\0" + secret).digest()


def sign(app: web.Application, serial: str, user_id: int, purpose: str, expires: int) -> str:
    message = f"{serial}|{user_id}|{purpose}|{expires}".encode()
    return hmac.new(_link_key(app), message, hashlib.sha256).hexdigest()


def _json(model: RecordingList | RecordingDetail | AccessLink | HoldPlaced) -> web.Response:
    return web.json_response(text=model.model_dump_json())


async def get_recordings(request: web.Request) -> web.Response:
    """GET /api/recordings."""
    principal = require_role(request, *LISTEN_ROLES)
    query = parse(RecordingSearch, request.query)
    recordings = request.app[RECORDINGS]
    async with request.app[RUNTIME].read_sessions() as session:
        found = await search(session, principal, query, recordings.policy, request.app[CLOCK]())
    return _json(RecordingList(recordings=found))


async def get_recording(request: web.Request) -> web.Response:
    """GET /api/recordings/{serial}."""
    principal = require_role(request, *LISTEN_ROLES)
    recordings = request.app[RECORDINGS]
    async with request.app[RUNTIME].read_sessions() as session:
        found = await detail(session, principal, request.match_info["serial"],
                             recordings.policy, request.app[CLOCK]())
    return _json(found)


async def post_access(request: web.Request) -> web.Response:
    """POST /api/recordings/{serial}/access: the audited grant of a short-lived link."""
    principal = require_role(request, *LISTEN_ROLES)
    body = parse(AccessRequest, await request.json())
    reason = meaningful_reason(body.reason)
    serial = request.match_info["serial"]
    now = request.app[CLOCK]()
    lifetime = request.app[RUNTIME].settings.recordings_link_seconds
    expires = int((now + timedelta(seconds=lifetime)).timestamp())
    async with request.app[RUNTIME].sessions.begin() as session:
        row, _, _ = await find_visible(session, principal, serial)
        if row.state != RecordingState.STORED.value:
            raise AudioGone("the audio of this recording is not available",
                            {"serial": serial, "state": row.state, "problem": row.problem})
        await audit.record(
            session, actor=principal.username, action=f"recording.{body.purpose}",
            entity="recording", entity_id=serial, reason=reason,
            after={"from": request.app[CLIENT_ADDRESS](request), "call_id": row.call_id,
                   "incident_id": row.incident_id, "role": principal.role,
                   "via": "api-token" if principal.via_token else "session"})
    signature = sign(request.app, serial, principal.user_id, body.purpose, expires)
    query = urlencode({"purpose": body.purpose, "expires": expires, "sig": signature})
    return _json(AccessLink(url=f"/api/recordings/{serial}/audio?{query}",
                            expires_at=datetime.fromtimestamp(expires, UTC),
                            purpose=body.purpose))


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one byte range asked for (inclusive), None for the whole file; 416 otherwise."""
    if header is None:
        return None
    match = _RANGE.match(header.strip())
    if match is None or size == 0:
        raise RangeNotSatisfiable("only one range of bytes, e.g. bytes=0-1023",
                                  {"range": header[:100], "size": size})
    first, last = match.group(1), match.group(2)
    if not first and not last:
        raise RangeNotSatisfiable("an empty range", {"range": header[:100], "size": size})
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise RangeNotSatisfiable("a range of no bytes", {"range": header, "size": size})
        return max(0, size - suffix), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable("the range lies outside the recording",
                                  {"range": header[:100], "size": size})
    return start, min(end, size - 1)


def _check_link(request: web.Request, serial: str, user_id: int) -> str:
    purpose = request.query.get("purpose", "")
    expires = request.query.get("expires", "")
    signature = request.query.get("sig", "")
    if purpose not in ("play", "download") or not expires.isdigit() or len(expires) > 12:
        raise LinkInvalid("this link is not a recording link", {"serial": serial})
    expected = sign(request.app, serial, user_id, purpose, int(expires))
    if not hmac.compare_digest(expected, signature):
        raise LinkInvalid("this link was not given to you", {"serial": serial})
    if request.app[CLOCK]().timestamp() > int(expires):
        raise LinkInvalid("this link has expired: ask for the recording again", {"serial": serial})
    return purpose


async def get_audio(request: web.Request) -> web.StreamResponse:
    """GET /api/recordings/{serial}/audio: the audio, with Range, for the link's user only."""
    principal = require_role(request, *LISTEN_ROLES)
    serial = request.match_info["serial"]
    purpose = _check_link(request, serial, principal.user_id)
    recordings = request.app[RECORDINGS]
    async with request.app[RUNTIME].read_sessions() as session:
        row, _, _ = await find_visible(session, principal, serial)  # scope checked again
    store = recordings.store
    if row.state != RecordingState.STORED.value or not row.sha256:
        raise AudioGone("the audio of this recording is not available",
                        {"serial": serial, "state": row.state})
    try:
        size = await asyncio.to_thread(store.plain_size, row.sha256, row.encrypted)
    except FileNotFoundError:
        raise AudioGone("the audio file is missing from the store", {"serial": serial}) from None
    if size != row.size:
        raise AudioGone("the audio file is not what was stored (run verify)", {"serial": serial})
    try:
        span = parse_range(request.headers.get("Range"), size)
    except RangeNotSatisfiable as err:
        return web.json_response(
            {"error_id": err.error_id, "status": 416, "message": err.message,
             "details": err.details}, status=416, headers={"Content-Range": f"bytes */{size}"})
    start, end = span if span is not None else (0, size - 1)
    response = web.StreamResponse(status=206 if span is not None else 200)
    response.content_type = "audio/wav"
    response.content_length = end - start + 1
    response.headers["Accept-Ranges"] = "bytes"
    if span is not None:
        response.headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if purpose == "download":
        response.headers["Content-Disposition"] = f'attachment; filename="{serial}.wav"'
    await response.prepare(request)
    pieces = store.read_range(row.sha256, row.encrypted, start, end)
    while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
        await response.write(piece)
    await response.write_eof()
    log.info("recording audio served", serial=serial, user=principal.username,
             purpose=purpose, start=start, end=end)
    return response


async def post_hold(request: web.Request) -> web.Response:
    """POST /api/recordings/{serial}/holds: an auditor's legal hold (reason, case, expiry)."""
    principal = require_role(request, Role.AUDITOR)
    body = parse(LegalHoldRequest, await request.json())
    reason = meaningful_reason(body.reason)
    async with request.app[RUNTIME].sessions.begin() as session:
        row, _, _ = await find_visible(session, principal, request.match_info["serial"])
        hold = await hold_rules.place(
            session, kind=HoldKind.LEGAL, placed_by=principal.username, reason=reason,
            call_id=row.call_id, recording_id=None if row.call_id else row.id,
            case_ref=body.case_ref, expires_at=body.expires_at, now=request.app[CLOCK]())
        view = HoldView.model_validate(hold, from_attributes=True)
    return _json(HoldPlaced(hold=view))


async def post_release(request: web.Request) -> web.Response:
    """POST /api/recordings/holds/{hold}/release: an auditor ends a legal hold early."""
    principal = require_role(request, Role.AUDITOR)
    body = parse(HoldRelease, await request.json())
    reason = meaningful_reason(body.reason)
    hold_id = int(request.match_info["hold"])
    async with request.app[RUNTIME].sessions.begin() as session:
        hold = await session.get(RecordingHold, hold_id)
        if hold is not None and hold.kind != HoldKind.LEGAL.value:
            raise InvalidHold("only a legal hold is released here; a complaint's ends with its "
                              "case, an incident's with its period", {"hold": hold_id})
        released = await hold_rules.release(session, hold_id, released_by=principal.username,
                                            reason=reason, now=request.app[CLOCK]())
        view = HoldView.model_validate(released, from_attributes=True)
    return _json(HoldPlaced(hold=view))


async def recordings_page(request: web.Request) -> web.StreamResponse:
    """GET /recordings: the auditors' console (search, player, waveform, legal holds)."""
    principal = require_role(request, *LISTEN_ROLES)
    return render(request, "recordings.html", {
        "can_hold": principal.role == Role.AUDITOR.value,
        "link_seconds": request.app[RUNTIME].settings.recordings_link_seconds,
    })


def install_web(app: web.Application, recordings: Recordings) -> None:
    app[RECORDINGS] = recordings
    add_web_dir(app, "recordings", WEB_DIR)
    add_nav(app, NavItem("recordings", "nav.recordings", frozenset(LISTEN_ROLES)))
    app.router.add_get("/recordings", recordings_page, name="recordings")
    api = app[API]
    api.add(ApiRoute("GET", "/api/recordings", get_recordings,
                     "Search recordings within my scope (the caller's number masked)",
                     RecordingList, query=RecordingSearch, errors=(401, 403, 422),
                     tag="recordings"))
    api.add(ApiRoute("GET", f"/api/recordings/{SERIAL}", get_recording,
                     "One recording: its call, holds, retention, waveform and talk segments",
                     RecordingDetail, errors=(401, 403, 404), tag="recordings"))
    api.add(ApiRoute("POST", f"/api/recordings/{SERIAL}/access", post_access,
                     "Ask to play or download, with a reason (audited): a short-lived link",
                     AccessLink, body=AccessRequest, errors=(401, 403, 404, 410, 422),
                     tag="recordings"))
    api.add(ApiRoute("GET", f"/api/recordings/{SERIAL}/audio", get_audio,
                     "The audio (audio/wav) through a link from /access; HTTP Range for seeking",
                     None, errors=(401, 403, 404, 410, 416), tag="recordings"))
    api.add(ApiRoute("POST", f"/api/recordings/{SERIAL}/holds", post_hold,
                     "Place a legal hold (auditors): a reason, a case reference, an expiry",
                     HoldPlaced, body=LegalHoldRequest, errors=(401, 403, 404, 422),
                     tag="recordings"))
    api.add(ApiRoute("POST", r"/api/recordings/holds/{hold:\d{1,12}}/release", post_release,
                     "Release a legal hold early (auditors), with a reason",
                     HoldPlaced, body=HoldRelease, errors=(401, 403, 404, 422),
                     path_types={"hold": "integer"}, tag="recordings"))
