"""The control HTTP API: script people, inject calls, move simulated time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from callcenter.pbxsim.people import Person
from callcenter.pbxsim.queues import Queue

if TYPE_CHECKING:
    from callcenter.pbxsim.server import PbxSimulator

# No runtime type argument: PbxSimulator is imported for type checking only (a cycle).
CONTROL_KEY: web.AppKey[PbxSimulator] = web.AppKey("pbxsim_control")


def _sim(request: web.Request) -> PbxSimulator:
    return request.app[CONTROL_KEY]


def _error(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text='{"error": "body must be JSON"}',
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text='{"error": "body must be a JSON object"}',
                                 content_type="application/json")
    return body


async def list_people(request: web.Request) -> web.Response:
    directory = _sim(request).directory
    return web.json_response({"default": directory.default.to_json(),
                              "people": {n: p.to_json() for n, p in directory.by_number.items()}})


async def put_person(request: web.Request) -> web.Response:
    try:
        person = Person.from_json(await _json(request))
    except (ValueError, TypeError) as err:
        return _error(str(err))
    _sim(request).directory.set(request.match_info["number"], person)
    return web.json_response(person.to_json())


async def post_call(request: web.Request) -> web.Response:
    """Inject an incoming call: {from, to, app, args, queue, agi, name, hangup_after}."""
    body = await _json(request)
    caller, to = str(body.get("from", "")), str(body.get("to", ""))
    if not caller or not to:
        return _error("from and to are required")
    context = str(body.get("context", "from-trunk"))
    if not (body.get("app") or body.get("queue") or body.get("agi") or context != "from-trunk"):
        return _error("one of app, queue, agi or context is required")
    args = body.get("args", [])
    if isinstance(args, str):
        args = [a for a in args.split(",") if a]
    ch = _sim(request).dialplan.inbound(
        caller, to, app=str(body.get("app", "")), args=[str(a) for a in args],
        queue=str(body.get("queue", "")), agi=str(body.get("agi", "")),
        name=str(body.get("name", "")), context=context,
        hangup_after=float(body["hangup_after"]) if body.get("hangup_after") is not None else None)
    return web.json_response({"id": ch.id, "name": ch.name}, status=201)


async def hangup_call(request: web.Request) -> web.Response:
    sim = _sim(request)
    ch = sim.model.channels.get(request.match_info["channel_id"])
    if ch is None:
        return _error("channel not found", 404)
    sim.calls.hangup(ch, 16)
    return web.Response(status=204)


async def press_dtmf(request: web.Request) -> web.Response:
    sim = _sim(request)
    ch = sim.model.channels.get(request.match_info["channel_id"])
    if ch is None:
        return _error("channel not found", 404)
    for digit in str((await _json(request)).get("digits", "")):
        sim.calls.dtmf(ch, digit)
    return web.Response(status=204)


async def advance(request: web.Request) -> web.Response:
    sim = _sim(request)
    if not sim.clock.manual:
        return _error("the clock runs in real time (--speed); nothing to advance", 409)
    seconds = float((await _json(request)).get("seconds", 0))
    await sim.clock.advance(seconds)
    return web.json_response({"elapsed": sim.clock.elapsed()})


async def put_queue(request: web.Request) -> web.Response:
    body = await _json(request)
    name = request.match_info["name"]
    strategy = str(body.get("strategy", "ringall"))
    if strategy not in ("ringall", "leastrecent", "rrmemory"):
        return _error("strategy must be ringall, leastrecent or rrmemory")
    refuse_empty = body.get("refuse_empty")
    if refuse_empty is not None and not isinstance(refuse_empty, bool):
        return _error("refuse_empty must be true or false")
    queues = _sim(request).queues.queues
    q = queues.get(name) or Queue(name)
    q.strategy = strategy
    q.timeout = float(body.get("timeout", q.timeout))
    q.retry = float(body.get("retry", q.retry))
    q.wrapuptime = int(body.get("wrapuptime", q.wrapuptime))
    q.maxlen = int(body.get("maxlen", q.maxlen))
    q.max_wait = float(body.get("max_wait", q.max_wait))
    q.refuse_empty = refuse_empty if refuse_empty is not None else q.refuse_empty
    queues[name] = q
    return web.json_response({"name": name, "strategy": q.strategy, "timeout": q.timeout,
                              "retry": q.retry, "wrapuptime": q.wrapuptime,
                              "refuse_empty": q.refuse_empty})


async def put_endpoint(request: web.Request) -> web.Response:
    """A softphone endpoint registers or goes away: {"registered": bool}."""
    registered = (await _json(request)).get("registered")
    if not isinstance(registered, bool):
        return _error("registered must be true or false")
    _sim(request).set_registered(request.match_info["name"], registered)
    return web.json_response({"endpoint": request.match_info["name"], "registered": registered})


async def post_restart(request: web.Request) -> web.Response:
    """Restart the simulated Asterisk: AMI drops, calls end, queues forget their members."""
    await _sim(request).restart()
    return web.Response(status=204)


async def post_fault(request: web.Request) -> web.Response:
    """Inject an ARI fault: {method, path (fnmatch pattern), status, message, times, delay}.

    ``delay`` (simulated seconds) holds each request first; ``"status": null`` with a
    delay carries the request out late instead of refusing it."""
    body = await _json(request)
    method, path = str(body.get("method", "")), str(body.get("path", ""))
    if not method or not path.startswith("/ari/"):
        return _error("method and path (starting /ari/) are required")
    raw_status = body.get("status", 500)
    try:
        status = None if raw_status is None else int(raw_status)
        times, delay = int(body.get("times", 1)), float(body.get("delay", 0))
    except (TypeError, ValueError):
        return _error("status and times must be integers, delay a number")
    if status is not None and not 400 <= status <= 599 or times < 1 or delay < 0:
        return _error("status must be 4xx or 5xx, times at least 1, delay not negative")
    if status is None and delay <= 0:
        return _error("a fault without a status needs a delay")
    fault = _sim(request).faults.fail(method, path, status=status, times=times, delay=delay,
                                      message=str(body.get("message", "Internal Server Error")))
    return web.json_response(fault.to_json(), status=201)


async def clear_faults(request: web.Request) -> web.Response:
    _sim(request).faults.clear()
    return web.Response(status=204)


async def state(request: web.Request) -> web.Response:
    sim = _sim(request)
    return web.json_response({
        "elapsed": sim.clock.elapsed(),
        "channels": [sim.model.ari_channel(c) for c in sim.model.channels.values()],
        "bridges": [sim.model.ari_bridge(b) for b in sim.model.bridges.values()],
    })


def control_app(sim: PbxSimulator) -> web.Application:
    """The control API application."""
    app = web.Application()
    app[CONTROL_KEY] = sim
    app.add_routes([
        web.get("/control/people", list_people),
        web.put("/control/people/{number}", put_person),
        web.post("/control/calls", post_call),
        web.post("/control/calls/{channel_id}/hangup", hangup_call),
        web.post("/control/calls/{channel_id}/dtmf", press_dtmf),
        web.post("/control/clock/advance", advance),
        web.put("/control/queues/{name}", put_queue),
        web.put("/control/endpoints/{name}", put_endpoint),
        web.post("/control/restart", post_restart),
        web.post("/control/faults", post_fault),
        web.delete("/control/faults", clear_faults),
        web.get("/control/state", state),
    ])
    return app
