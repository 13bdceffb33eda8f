"""The screen-pop on the console: the part every page carries, its API, and the relay from
the hotline's call topics to this process's sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select

from ari_apps.screenpop.exceptions import CallNotFound
from ari_apps.screenpop.notifier import TOPICS, PopRelay
from ari_apps.screenpop.schemas import Dismissed, Intent, IntentRequest, IntentResult, PopList
from ari_apps.screenpop.services import build_pop
from ari_apps.screenpop.store import PopStore
from callcenter.asterisk.ami import AmiClient
from callcenter.bus import topic_matches
from callcenter.calls.models import Call
from callcenter.logs import get_logger
from callcenter.store.direct import DirectStatements
from callcenter.store.models import Role
from webui.api import parse_body
from webui.auth import read_for, require_role
from webui.keys import CLOCK, RUNTIME, Principal
from webui.openapi import API, ApiRoute
from webui.pages import ConsolePart, add_part, add_web_dir
from webui.ws import HUB

log = get_logger(__name__)
WEB_DIR = Path(__file__).parent / "web"
POP_ROLES = (Role.AGENT, Role.SUPERVISOR)
STORE = web.AppKey("screenpop_store", PopStore)
RELAY = web.AppKey("screenpop_relay", PopRelay)
#: AMI sessions of a console process without the calls role (agent events only).
RING_WATCH = web.AppKey("screenpop_ring_watch", tuple)
CALL_PATH = r"/api/screenpop/{call_id:[\w.:-]{1,64}}"
#: Connections of the pop's direct read pool: each routed call reads its facts (two
#: queries) while others' are read; with two, reads queued behind each other at 50 calls a
#: second and the pop waited for its facts (p50 8-10 ms instead of 3 ms, all roles in one
#: process).
FACT_CONNECTIONS = 4
#: Connections of the pop rows' writes: one change at a time (PopRelay's writer), and
#: the dismissals of the console's API.
ROW_CONNECTIONS = 2


async def get_current(request: web.Request) -> web.Response:
    """GET /api/screenpop/current: my pops showing now, built afresh (a reload shows them)."""
    principal = require_role(request, *POP_ROLES)
    now = request.app[CLOCK]()
    store = request.app[STORE]

    async def read(conn: Any) -> list[dict[str, Any]]:
        pops = []
        for state, ringing in await store.showing(conn, principal.username, now):
            pops.append({**await build_pop(conn, ringing, now), "state": state})
        return pops

    return web.json_response(text=PopList(pops=await read_for(request, read)).model_dump_json())


async def _mine(request: web.Request, principal: Principal, call_id: str) -> None:
    """404 unless I was rung for this call (a pop row) or took it (the stored call's agent)."""
    if await request.app[STORE].has(call_id, principal.username):
        return
    async with request.app[RUNTIME].sessions() as db:
        agent = (await db.execute(select(Call.agent).where(Call.id == call_id))).scalar()
    if agent != principal.username:
        raise CallNotFound(f"no call {call_id} of yours", {"call_id": call_id})


async def post_intent(request: web.Request) -> web.Response:
    """POST /api/screenpop/{call_id}/intents: record a one-click action on the stored call."""
    principal = require_role(request, *POP_ROLES)
    call_id = request.match_info["call_id"]
    body = await parse_body(request, IntentRequest)
    await _mine(request, principal, call_id)
    now = request.app[CLOCK]()
    async with request.app[RUNTIME].sessions.begin() as db:
        call = await db.get(Call, call_id, with_for_update=True)
        if call is None:  # rung, but the hotline has not stored the call (yet)
            raise CallNotFound(f"call {call_id} is not recorded", {"call_id": call_id})
        intent = {"action": body.action, "by": principal.username, "at": now.isoformat(),
                  "note": body.note}
        details = dict(call.details or {})
        details["intents"] = [*details.get("intents", []), intent]
        call.details = details
        elder_id = call.elder_id
    log.info("screen-pop action recorded", call_id=call_id, action=body.action,
             agent=principal.username)
    result = IntentResult(call_id=call_id,
                          intents=[Intent.model_validate(i) for i in details["intents"]],
                          next_url=f"/elders/{elder_id}" if elder_id else None)
    return web.json_response(text=result.model_dump_json())


async def post_dismiss(request: web.Request) -> web.Response:
    """POST /api/screenpop/{call_id}/dismiss: close my pop of that call (every console of mine)."""
    principal = require_role(request, *POP_ROLES)
    call_id = request.match_info["call_id"]
    gone = await request.app[STORE].gone(call_id, principal.username)
    if gone:
        request.app[HUB].deliver(_gone_frame(call_id, principal.user_id))
    return web.json_response(text=Dismissed(call_id=call_id, dismissed=bool(gone)).model_dump_json())


def _gone_frame(call_id: str, user_id: int) -> Any:
    from callcenter.bus import BusMessage

    return BusMessage("screenpop.gone", {"call_id": call_id, "why": "dismissed"},
                      {"users": [user_id]})


async def relay_context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: one subscription to the hotline's call topics, pumped into the relay."""
    subscription = await app[RUNTIME].bus.subscribe("hotline.call.*")
    relay = app[RELAY]
    if hasattr(subscription, "tap"):  # a ringing pops as it is published, when it can
        subscription.tap = relay.tap

    async def pump() -> None:
        async for message in subscription:
            if not any(topic_matches(t, message.topic) for t in TOPICS):
                continue
            try:
                await relay.handle(message)
            except Exception:  # noqa: BLE001 - task boundary: one bad message, not the relay
                log.exception("screen-pop relay failed", topic=message.topic)

    task = asyncio.create_task(pump(), name="screenpop-relay")
    warming = asyncio.create_task(relay.warm(), name="screenpop-warm")
    watch: tuple[AmiClient, ...] = app[RING_WATCH]
    for client in watch:
        client.on_receipt("AgentCalled", relay.agent_called)
        await client.start()  # connects (and reconnects) in the background
    try:
        yield
    finally:
        await asyncio.gather(*(client.close() for client in watch), return_exceptions=True)
        await subscription.close()
        for running in (task, warming):
            running.cancel()
        await asyncio.gather(task, warming, return_exceptions=True)
        await relay.close()


def install_web(app: web.Application, ami: Sequence[AmiClient] = ()) -> None:
    """The pop on every page of agents and supervisors, its API and its relay; ``ami``:
    this process's own AMI sessions, whose AgentCalled pops a routed call at once."""
    runtime = app[RUNTIME]
    # The pop rows are written on connections of their own, to the primary store.
    store = PopStore(runtime.engine, runtime.settings.screenpop_ring_seconds,
                     DirectStatements(runtime.engine, size=ROW_CONNECTIONS))
    app[STORE] = store
    reads = DirectStatements(runtime.read_sessions.kw["bind"], size=FACT_CONNECTIONS)
    app[RELAY] = PopRelay(app[HUB], reads, store, app[CLOCK])
    app[RING_WATCH] = tuple(ami)
    app.cleanup_ctx.append(relay_context)
    add_web_dir(app, "screenpop", WEB_DIR)
    add_part(app, ConsolePart(template="_screenpop.html", styles=("/assets/screenpop/screenpop.css",),
                              scripts=("/assets/screenpop/screenpop.js",)))
    api = app[API]
    api.add(ApiRoute("GET", "/api/screenpop/current", get_current,
                     "My screen-pops showing now (agents, supervisors): who calls, why, actions",
                     PopList, errors=(401, 403), tag="hotline"))
    api.add(ApiRoute("POST", CALL_PATH + "/intents", post_intent,
                     "Record a one-click action (work order, complaint, consult answered, "
                     "register the caller) on a call I was rung for or took",
                     IntentResult, body=IntentRequest, errors=(400, 401, 403, 404, 422),
                     tag="hotline"))
    api.add(ApiRoute("POST", CALL_PATH + "/dismiss", post_dismiss,
                     "Close my pop of a call on all my consoles", Dismissed,
                     errors=(401, 403), tag="hotline"))
