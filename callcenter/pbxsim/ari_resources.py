"""ARI REST handlers for channels, bridges, recordings and playbacks."""

from __future__ import annotations

import uuid

from aiohttp import web

from callcenter.pbxsim.ari_rest import (
    BRIDGE_TYPES,
    HANGUP_REASONS,
    AriError,
    bridge_of,
    channel_of,
    in_stasis,
    no_content,
    originate_request,
    params,
    sim_of,
)
from callcenter.pbxsim.media import MediaError
from callcenter.pbxsim.objects import Bridge, CallerId


# --- channels --------------------------------------------------------------------------------
async def list_channels(request: web.Request) -> web.Response:
    sim = sim_of(request)
    return web.json_response([sim.model.ari_channel(c) for c in sim.model.channels.values()
                              if c.tech != "Recorder"])


async def get_channel(request: web.Request) -> web.Response:
    return web.json_response(sim_of(request).model.ari_channel(channel_of(request)))


async def originate(request: web.Request, channel_id: str | None = None) -> web.Response:
    sim = sim_of(request)
    req = originate_request(await params(request), channel_id)
    leg = sim.dialplan.originate(req)
    return web.json_response(sim.model.ari_channel(leg.ch))


async def originate_with_id(request: web.Request) -> web.Response:
    return await originate(request, request.match_info["channel_id"])


async def create_channel(request: web.Request) -> web.Response:
    sim = sim_of(request)
    p = await params(request)
    if not p.get("endpoint"):
        raise AriError(400, "Endpoint must be specified")
    args = [a for a in str(p.get("appArgs", "")).split(",")] if p.get("appArgs") else []
    leg = sim.dialplan.create(p["endpoint"], p.get("app", ""), args, p.get("channelId"),
                              p.get("otherChannelId"))
    return web.json_response(sim.model.ari_channel(leg.ch))


async def hangup(request: web.Request) -> web.Response:
    sim = sim_of(request)
    ch = channel_of(request)
    p = await params(request)
    cause = 16
    if "reason_code" in p:
        cause = int(p["reason_code"])
    elif "reason" in p:
        if p["reason"] not in HANGUP_REASONS:
            raise AriError(400, "Invalid reason for hangup reason provided")
        cause = HANGUP_REASONS[p["reason"]]
    sim.calls.hangup(ch, cause, request=32, soft=True)
    return no_content()


async def answer(request: web.Request) -> web.Response:
    ch = channel_of(request)
    in_stasis(ch)
    sim_of(request).dialplan.answer(ch)
    return no_content()


MUTE_DIRECTIONS = {"in": {"in"}, "out": {"out"}, "both": {"in", "out"}}


async def mute(request: web.Request) -> web.Response:
    """POST/DELETE /channels/{id}/mute: Asterisk answers 204 and sends no event."""
    ch = channel_of(request)
    in_stasis(ch)
    direction = (await params(request)).get("direction", "both")
    if direction not in MUTE_DIRECTIONS:
        raise AriError(400, "Invalid direction specified")
    if request.method == "POST":
        ch.muted |= MUTE_DIRECTIONS[direction]
    else:
        ch.muted -= MUTE_DIRECTIONS[direction]
    return no_content()


async def ring(request: web.Request) -> web.Response:
    in_stasis(channel_of(request))
    return no_content()


async def dial(request: web.Request) -> web.Response:
    sim = sim_of(request)
    ch = channel_of(request)
    if ch.id not in sim.dialplan.pending:
        in_stasis(ch)
        raise AriError(409, "Channel is not in the 'Down' state")
    p = await params(request)
    try:
        timeout = float(p.get("timeout", 0) or 0)
    except ValueError:
        timeout = 0.0
    sim.dialplan.dial(ch, timeout)
    return no_content()


async def continue_dialplan(request: web.Request) -> web.Response:
    sim = sim_of(request)
    ch = channel_of(request)
    in_stasis(ch)
    p = await params(request)
    sim.model.stasis_end(ch)
    if p.get("context") or p.get("extension"):
        ch.context = p.get("context", ch.context)
        ch.exten = p.get("extension", ch.exten)
        ch.priority = int(p.get("priority", 1) or 1)
        ch.task = sim.model.spawn(sim.dialplan.run_extension(ch))
    else:
        sim.dialplan.after_stasis(ch)
    return no_content()


async def play_channel(request: web.Request) -> web.Response:
    sim = sim_of(request)
    ch = channel_of(request)
    in_stasis(ch)
    p = await params(request)
    pb = sim.media.play(ch, str(p.get("media", "")), request.match_info.get("playback_id")
                        or p.get("playbackId"), p.get("lang", "en"))
    return web.json_response(pb.ari(), status=201)


async def record_channel(request: web.Request) -> web.Response:
    sim = sim_of(request)
    ch = channel_of(request)
    in_stasis(ch)
    rec = sim.media.record(ch, {k: str(v) for k, v in (await params(request)).items()})
    body = rec.ari()
    body["state"] = "queued"
    return web.json_response(body, status=201)


SNOOP_DIRECTIONS = ("none", "both", "out", "in")
DTMF_DIGITS = set("0123456789ABCD*#")


async def send_dtmf(request: web.Request) -> web.Response:
    """DTMF sent out of a channel: the channel at its other end receives it (a Local half's
    partner), one digit after another (Asterisk's defaults: 100 ms each, 100 ms between)."""
    sim = sim_of(request)
    ch = channel_of(request)
    in_stasis(ch)
    p = await params(request)
    digits = str(p.get("dtmf", ""))
    if not digits:
        raise AriError(400, "DTMF is required")
    duration = int(p.get("duration", 100) or 100)
    between = int(p.get("between", 100) or 100)
    far = ch.partner

    async def press() -> None:
        for digit in digits:
            await sim.model.clock.sleep((duration + between) / 1000)
            if far is not None and not far.gone and digit.upper() in DTMF_DIGITS:
                sim.calls.dtmf(far, digit.upper(), duration)

    sim.model.spawn(press())
    return no_content()


async def snoop(request: web.Request) -> web.Response:
    sim = sim_of(request)
    ch = channel_of(request)
    p = await params(request)
    if not p.get("app"):
        raise AriError(400, "Missing parameter app")
    directions = {}
    for what in ("spy", "whisper"):
        direction = str(p.get(what) or "none")
        if direction not in SNOOP_DIRECTIONS:
            raise AriError(400, f"Invalid direction specified for {what}")
        directions[what] = direction
    if directions["spy"] == directions["whisper"] == "none":
        raise AriError(400, "Direction must be specified for at least spy or whisper")
    args = str(p.get("appArgs", "")).split(",") if p.get("appArgs") else []
    snooper = sim.dialplan.snoop(ch, p["app"], args,
                                 request.match_info.get("snoop_id") or p.get("snoopId"))
    snooper.snoop = (directions["spy"], directions["whisper"])
    return web.json_response(sim.model.ari_channel(snooper))


async def get_var(request: web.Request) -> web.Response:
    ch = channel_of(request)
    p = await params(request)
    if not p.get("variable"):
        raise AriError(400, "Variable name is required")
    value = ch.variables.get(p["variable"])
    if value is None:
        raise AriError(404, "Provided variable was not found")
    return web.json_response({"value": value})


async def set_var(request: web.Request) -> web.Response:
    ch = channel_of(request)
    p = await params(request)
    if not p.get("variable"):
        raise AriError(400, "Variable name is required")
    name, value = p["variable"], str(p.get("value", ""))
    model = sim_of(request).model
    if name in ("CALLERID(num)", "CALLERID(name)"):
        # A dialplan function, not a variable: the caller id changes (NewCallerid), no VarSet.
        caller = ch.caller
        model.set_caller(ch, CallerId(value, caller.number) if name == "CALLERID(name)"
                         else CallerId(caller.name, value))
    else:
        model.set_var(ch, name, value)
    return no_content()


# --- bridges ---------------------------------------------------------------------------------
async def list_bridges(request: web.Request) -> web.Response:
    sim = sim_of(request)
    return web.json_response([sim.model.ari_bridge(b) for b in sim.model.bridges.values()])


async def get_bridge(request: web.Request) -> web.Response:
    return web.json_response(sim_of(request).model.ari_bridge(bridge_of(request)))


async def create_bridge(request: web.Request) -> web.Response:
    sim = sim_of(request)
    p = await params(request)
    bridge_id = request.match_info.get("bridge_id") or p.get("bridgeId") or str(uuid.uuid4())
    if bridge_id in sim.model.bridges:
        raise AriError(409, f"Bridge with id '{bridge_id}' already exists")
    kinds = [k for k in str(p.get("type", "mixing")).split(",") if k]
    if not kinds or any(k not in BRIDGE_TYPES for k in kinds):
        raise AriError(500, "Unable to create bridge. Possible duplicate bridge id '(null)'")
    bridge_type = "holding" if "holding" in kinds else "mixing"
    bridge = Bridge(bridge_id, bridge_type, p.get("name", ""), sim.clock.now())
    bridge.on_leave.append(sim.media.on_bridge_leave)
    sim.model.bridges[bridge_id] = bridge
    sim.model.ami_event("BridgeCreate", bridge.ami())
    return web.json_response(sim.model.ari_bridge(bridge))


async def destroy_bridge(request: web.Request) -> web.Response:
    sim = sim_of(request)
    bridge = bridge_of(request)
    for ch in list(bridge.channels):
        sim.model.leave_bridge(ch)
    sim.media.stop_recordings_of(f"bridge:{bridge.id}")
    del sim.model.bridges[bridge.id]
    sim.model.emit("BridgeDestroyed", apps=bridge.apps, ari={"bridge": sim.model.ari_bridge(bridge)},
                   ami=[{"Event": "BridgeDestroy", **bridge.ami()}])
    return no_content()


async def _channels_param(request: web.Request) -> list[str]:
    p = await params(request)
    if not p.get("channel"):
        raise AriError(400, "Missing parameter channel")
    return [c for c in str(p["channel"]).split(",") if c]


async def add_channel(request: web.Request) -> web.Response:
    sim = sim_of(request)
    bridge = bridge_of(request)
    channels = []
    for cid in await _channels_param(request):
        ch = sim.model.channels.get(cid)
        if ch is None:
            raise AriError(400, "Channel not found")
        if ch.stasis_app is None:
            raise AriError(422, "Channel not in Stasis application")
        channels.append(ch)
    for ch in channels:
        sim.model.enter_bridge(bridge, ch)
    return no_content()


async def remove_channel(request: web.Request) -> web.Response:
    sim = sim_of(request)
    bridge = bridge_of(request)
    channels = []
    for cid in await _channels_param(request):
        ch = sim.model.channels.get(cid)
        if ch is None:
            raise AriError(400, "Channel not found")
        if ch.bridge is not bridge:
            raise AriError(422, "Channel not in this bridge")
        channels.append(ch)
    for ch in channels:
        sim.model.leave_bridge(ch)
    return no_content()


async def play_bridge(request: web.Request) -> web.Response:
    sim = sim_of(request)
    bridge = bridge_of(request)
    p = await params(request)
    pb = sim.media.play(bridge, str(p.get("media", "")), p.get("playbackId"), p.get("lang", "en"))
    return web.json_response(pb.ari(), status=201)


async def record_bridge(request: web.Request) -> web.Response:
    sim = sim_of(request)
    bridge = bridge_of(request)
    rec = sim.media.record(bridge, {k: str(v) for k, v in (await params(request)).items()})
    body = rec.ari()
    body["state"] = "queued"
    return web.json_response(body, status=201)


# --- recordings and playbacks ------------------------------------------------------------------
async def stored_list(request: web.Request) -> web.Response:
    return web.json_response(sim_of(request).media.stored())


def _stored(request: web.Request) -> tuple[str, str]:
    name = request.match_info["name"]
    path = sim_of(request).media.find_stored(name)
    if path is None:
        raise AriError(404, "Recording not found")
    return name, path.suffix[1:]


async def stored_get(request: web.Request) -> web.Response:
    name, fmt = _stored(request)
    return web.json_response({"name": name, "format": fmt})


async def stored_delete(request: web.Request) -> web.Response:
    _stored(request)
    path = sim_of(request).media.find_stored(request.match_info["name"])
    assert path is not None
    path.unlink()
    return no_content()


async def stored_file(request: web.Request) -> web.Response:
    _stored(request)
    path = sim_of(request).media.find_stored(request.match_info["name"])
    assert path is not None
    return web.Response(body=path.read_bytes(), content_type="audio/wav")


async def live_get(request: web.Request) -> web.Response:
    rec = sim_of(request).media.live.get(request.match_info["name"])
    if rec is None:
        raise AriError(404, "Recording not found")
    return web.json_response(rec.ari())


async def live_stop(request: web.Request) -> web.Response:
    sim_of(request).media.stop(request.match_info["name"])
    return no_content()


async def live_cancel(request: web.Request) -> web.Response:
    sim_of(request).media.stop(request.match_info["name"], state="canceled")
    return no_content()


async def playback_get(request: web.Request) -> web.Response:
    pb = sim_of(request).media.playbacks.get(request.match_info["playback_id"])
    if pb is None:
        raise MediaError(404, "Playback not found")
    return web.json_response(pb.ari())


async def playback_stop(request: web.Request) -> web.Response:
    sim_of(request).media.stop_playback(request.match_info["playback_id"])
    return no_content()
