"""ARI REST: the resources the product uses, with Asterisk 22's statuses and bodies."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from callcenter.pbxsim.calls import EndpointError
from callcenter.pbxsim.dialplan import OriginateRequest
from callcenter.pbxsim.media import MediaError
from callcenter.pbxsim.objects import ASTERISK_ID, Bridge, Channel

if TYPE_CHECKING:
    from callcenter.pbxsim.server import PbxSimulator

# No runtime type argument: PbxSimulator is imported for type checking only (a cycle).
SIM_KEY: web.AppKey[PbxSimulator] = web.AppKey("pbxsim")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

HANGUP_REASONS = {"normal": 16, "busy": 17, "congestion": 34, "no_answer": 19, "timeout": 19,
                  "rejected": 21, "unallocated": 1, "normal_unspecified": 31,
                  "number_incomplete": 28, "codec_mismatch": 58, "interworking": 127,
                  "failure": 38, "answered_elsewhere": 26}
BRIDGE_TYPES = {"mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single",
                "sdp_label"}


class AriError(Exception):
    """An ARI error answer."""

    def __init__(self, status: int, message: str | None = None, body: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body if body is not None else {"message": message or ""}


def credentials_ok(sim: PbxSimulator, request: web.Request) -> bool:
    """Basic auth, or ``api_key=user:password`` in the query."""
    expected = f"{sim.user}:{sim.password}"
    if request.query.get("api_key") == expected:
        return True
    header = request.headers.get("Authorization", "")
    if header.startswith("Basic "):
        try:
            return base64.b64decode(header[6:]).decode() == expected
        except ValueError:
            return False
    return False


@web.middleware
async def ari_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authentication and ARI-shaped errors for every request."""
    sim = request.app[SIM_KEY]
    if not credentials_ok(sim, request):
        if request.path == "/ari/events":
            return web.Response(status=401)
        return web.json_response({"message": "Authentication required"}, status=401)
    fault = sim.faults.take(request.method, request.path)
    if fault is not None:  # injected by a test: the request is late, or refused
        if fault.delay > 0:
            await sim.faults.hold(fault)
        if fault.status is not None:  # refused: nothing changes
            return web.json_response({"message": fault.message}, status=fault.status)
    try:
        return await handler(request)
    except AriError as err:
        return web.json_response(err.body, status=err.status)
    except EndpointError as err:
        return web.json_response(err.body, status=err.status)
    except MediaError as err:
        return web.json_response({"message": err.message}, status=err.status)
    except web.HTTPMethodNotAllowed:
        return web.json_response({"message": "Invalid method"}, status=405)
    except web.HTTPNotFound:
        return web.json_response({"message": "Resource not found"}, status=404)


async def params(request: web.Request) -> dict[str, Any]:
    """Query parameters merged with a JSON body, as ARI accepts both."""
    out: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            variables = body.pop("variables", None)
            out.update({k: v for k, v in body.items() if not isinstance(v, dict | list)})
            if isinstance(variables, dict):
                out["variables"] = variables
    return out


def sim_of(request: web.Request) -> PbxSimulator:
    """The simulator serving this request."""
    return request.app[SIM_KEY]


def channel_of(request: web.Request, status: int = 404) -> Channel:
    """The channel named in the path, or ARI's ``Channel not found``."""
    ch = sim_of(request).model.channels.get(request.match_info["channel_id"])
    if ch is None:
        raise AriError(status, "Channel not found")
    return ch


def in_stasis(ch: Channel) -> None:
    """Refuse operations on channels outside Stasis (409)."""
    if ch.stasis_app is None:
        raise AriError(409, "Channel not in Stasis application")


def bridge_of(request: web.Request) -> Bridge:
    """The bridge named in the path, or 404."""
    bridge = sim_of(request).model.bridges.get(request.match_info["bridge_id"])
    if bridge is None:
        raise AriError(404, "Bridge not found")
    return bridge


def no_content() -> web.Response:
    """204."""
    return web.Response(status=204)


# --- asterisk / applications ---------------------------------------------------------------
async def asterisk_info(request: web.Request) -> web.Response:
    sim = sim_of(request)
    started = sim.model.iso(sim.clock.now() - sim.clock.elapsed())
    return web.json_response({
        "build": {"os": "Linux", "kernel": "6.1.0", "options": "", "machine": "x86_64",
                  "date": "2026-11-21 00:00:00 UTC", "user": "pbxsim"},
        "system": {"version": "22.10.1", "entity_id": ASTERISK_ID},
        "config": {"name": "pbxsim", "default_language": "en",
                   "setid": {"user": "asterisk", "group": "asterisk"}},
        "status": {"startup_time": started, "last_reload_time": started},
    })


async def asterisk_ping(request: web.Request) -> web.Response:
    return web.json_response({"asterisk_id": ASTERISK_ID, "ping": "pong",
                              "timestamp": sim_of(request).clock.iso()})


async def get_variable_global(request: web.Request) -> web.Response:
    raise AriError(404, "Provided variable was not found")


async def applications(request: web.Request) -> web.Response:
    sim = sim_of(request)
    return web.json_response([sim.application(name) for name in sorted(sim.known_apps())])


async def application(request: web.Request) -> web.Response:
    sim = sim_of(request)
    name = request.match_info["app"]
    if name not in sim.known_apps():
        raise AriError(404, "Application not found")
    return web.json_response(sim.application(name))


def routes() -> list[web.RouteDef]:
    """Every ARI route of the simulator."""
    from callcenter.pbxsim import ari_resources as r

    return [
        web.get("/ari/asterisk/info", asterisk_info),
        web.get("/ari/asterisk/ping", asterisk_ping),
        web.get("/ari/asterisk/variable", get_variable_global),
        web.get("/ari/applications", applications),
        web.get("/ari/applications/{app}", application),
        web.get("/ari/channels", r.list_channels),
        web.post("/ari/channels", r.originate),
        web.post("/ari/channels/create", r.create_channel),
        web.get("/ari/channels/{channel_id}", r.get_channel),
        web.post("/ari/channels/{channel_id}", r.originate_with_id),
        web.delete("/ari/channels/{channel_id}", r.hangup),
        web.post("/ari/channels/{channel_id}/answer", r.answer),
        web.post("/ari/channels/{channel_id}/ring", r.ring),
        web.post("/ari/channels/{channel_id}/mute", r.mute),
        web.delete("/ari/channels/{channel_id}/mute", r.mute),
        web.delete("/ari/channels/{channel_id}/ring", r.ring),
        web.post("/ari/channels/{channel_id}/dial", r.dial),
        web.post("/ari/channels/{channel_id}/continue", r.continue_dialplan),
        web.post("/ari/channels/{channel_id}/play", r.play_channel),
        web.post("/ari/channels/{channel_id}/play/{playback_id}", r.play_channel),
        web.post("/ari/channels/{channel_id}/record", r.record_channel),
        web.post("/ari/channels/{channel_id}/dtmf", r.send_dtmf),
        web.post("/ari/channels/{channel_id}/snoop", r.snoop),
        web.post("/ari/channels/{channel_id}/snoop/{snoop_id}", r.snoop),
        web.get("/ari/channels/{channel_id}/variable", r.get_var),
        web.post("/ari/channels/{channel_id}/variable", r.set_var),
        web.get("/ari/bridges", r.list_bridges),
        web.post("/ari/bridges", r.create_bridge),
        web.get("/ari/bridges/{bridge_id}", r.get_bridge),
        web.post("/ari/bridges/{bridge_id}", r.create_bridge),
        web.delete("/ari/bridges/{bridge_id}", r.destroy_bridge),
        web.post("/ari/bridges/{bridge_id}/addChannel", r.add_channel),
        web.post("/ari/bridges/{bridge_id}/removeChannel", r.remove_channel),
        web.post("/ari/bridges/{bridge_id}/play", r.play_bridge),
        web.post("/ari/bridges/{bridge_id}/record", r.record_bridge),
        web.get("/ari/recordings/stored", r.stored_list),
        web.get("/ari/recordings/stored/{name}", r.stored_get),
        web.delete("/ari/recordings/stored/{name}", r.stored_delete),
        web.get("/ari/recordings/stored/{name}/file", r.stored_file),
        web.get("/ari/recordings/live/{name}", r.live_get),
        web.post("/ari/recordings/live/{name}/stop", r.live_stop),
        web.delete("/ari/recordings/live/{name}", r.live_cancel),
        web.get("/ari/playbacks/{playback_id}", r.playback_get),
        web.delete("/ari/playbacks/{playback_id}", r.playback_stop),
    ]


def originate_request(p: dict[str, Any], channel_id: str | None = None) -> OriginateRequest:
    """Validate POST /channels parameters as ARI does."""
    if not p.get("endpoint"):
        raise AriError(400, "Endpoint must be specified")
    if not p.get("app") and not p.get("extension"):
        raise AriError(400, "Application or extension must be specified")
    try:
        timeout = float(p.get("timeout", 30))
    except ValueError:
        timeout = 30.0  # ARI accepts timeout=abc and uses the default
    args = p.get("appArgs", "")
    return OriginateRequest(
        endpoint=p["endpoint"], app=p.get("app", ""),
        app_args=[a for a in str(args).split(",")] if args else [],
        context=p.get("context", "default"), exten=p.get("extension", ""),
        priority=int(p.get("priority", 1) or 1), caller_id=p.get("callerId", ""),
        timeout=timeout if timeout > 0 else 3600,
        channel_id=channel_id or p.get("channelId"), other_id=p.get("otherChannelId"),
        variables={str(k): str(v) for k, v in (p.get("variables") or {}).items()},
    )
