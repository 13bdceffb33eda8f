"""Asterisk adapters: ARI (aiohttp), AMI (panoramisk), FastAGI, several nodes.

Domain code imports only from here, never aiohttp or panoramisk.

ARI (one node)::

    client = AriClient(url, user, password, app, node="default")   # or ari_client_for(node, app)
    client.on(StasisStart, handler)          # async or sync handler(event); "*" = every event
    client.on_connected(hook)                # await hook(client) after each (re)connect
    client.on_resynced(hook)                 # await hook(AriSnapshot(node, channels, bridges, application))
    await client.connect(wait_seconds=10)    # or: async with client: ...
    ch = await client.channels.originate("PJSIP/7001@trunk", app="callcenter", app_args="leg,kin",
                                         channel_id="sos-1-kin", caller_id="SOS <8000>", timeout=30)
    await client.channels.answer(id) / hangup(id, reason="normal") / ring(id) / dial(id, timeout=5)
    await client.channels.create(endpoint, app) / play(id, "sound:x") / record(id, name)
    await client.channels.snoop(id, app, spy="both", whisper="out") / get_variable / set_variable
    await client.channels.continue_in_dialplan(id, context=..., extension=..., priority=1)
    br = await client.bridges.create("mixing", bridge_id="sos-42")   # POST /bridges/{id}; 409 if taken
    await client.bridges.add_channel(br.id, ch.id) / remove_channel / play / record / destroy
    await client.recordings.get_live(name) / stop(name) / list_stored() / download(name) / delete_stored
    await client.playbacks.get(id) / stop(id) / control(id, "pause")
    await client.close()

AMI (panoramisk)::

    ami = AmiClient(host, port, user, secret, node="default")   # or ami_client_for(node)
    ami.on("Queue*", handler)                # glob; handler(AmiEvent) with .name, .node, .get(header)
    ami.on_resync(hook)                      # await hook(ami) on every FullyBooted
    await ami.connect(); await ami.queue_add("hotline", "Local/agent1@agents-sim/n", member_name="a1")
    await ami.queue_pause(q, iface, True, reason="coffee") / queue_remove / queue_status / queue_summary
    res = await ami.originate("Local/answer@people", application="Wait", data="2")  # OriginateResult
    await ami.redirect(...) / blind_transfer(...) / hangup(chan) / command("core show uptime")

FastAGI::

    agi = FastAgiServer(settings.agi_bind, request_timeout=5)
    agi.add_route("route", handler)          # async handler(session: AgiSession); session.request: AgiRequest
    await agi.start() ... await agi.close()  # handler errors set CALLCENTER_AGI_STATUS=ERROR; call goes on

Routing (one owner per event): ``router = StasisRouter(cluster.ari); router.attach()``;
``router.on_start("sos", "sos", start, events)`` routes StasisStart by first app argument
(and claims the channel), ``router.on_prefix("sos-", events)`` and
``router.on_resolver(owns, events)`` route later events by the id they concern.

Several nodes: ``cluster = AsteriskCluster.from_settings(settings)``; ``cluster.on(...)``,
``await cluster.for_channel(id)`` / ``for_bridge(id)`` give the owning node's AriClient.

Events are slotted dataclasses named as ARI types (StasisStart, Dial, ChannelDestroyed ...),
fields as in Asterisk 22's events.json, plus ``node``; unknown types arrive as GenericEvent.
Handlers of one channel/bridge run in order on one consumer; others run concurrently; a
watchdog logs handlers slower than ``slow_handler_seconds`` (0.5 s).
Errors: AriError(status, message, method, path, node) and its subclasses AriBadRequest (400),
AriUnauthorized (401), AriNotFound (404), AriConflict (409), AriUnprocessable (422),
AriServerError (5xx), AriUnavailable (503), AriConnectionError (no answer).
"""

from __future__ import annotations

from callcenter.asterisk.agi import (
    AgiCommandError,
    AgiError,
    AgiHangup,
    AgiRequest,
    AgiResult,
    AgiSession,
    FastAgiServer,
)
from callcenter.asterisk.ami import (
    ORIGINATE_REASONS,
    AmiActionError,
    AmiClient,
    AmiConnectionError,
    AmiError,
    AmiEvent,
    AmiResponse,
    AmiTimeout,
    OriginateResult,
    ami_client_for,
)
from callcenter.asterisk.ari import *  # noqa: F403 -- re-export the ARI API
from callcenter.asterisk.ari import __all__ as _ari_all
from callcenter.asterisk.backoff import Backoff
from callcenter.asterisk.nodes import AsteriskCluster, UnknownOwner
from callcenter.asterisk.router import StasisRouter, subject_ids

__all__ = [
    *_ari_all, "ORIGINATE_REASONS", "AgiCommandError", "AgiError", "AgiHangup", "AgiRequest",
    "AgiResult", "AgiSession", "AmiActionError", "AmiClient", "AmiConnectionError", "AmiError",
    "AmiEvent", "AmiResponse", "AmiTimeout", "AsteriskCluster", "Backoff", "FastAgiServer",
    "OriginateResult", "StasisRouter", "UnknownOwner", "ami_client_for", "subject_ids",
]
