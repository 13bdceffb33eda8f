"""ARI REST resources: asterisk, applications, channels, bridges, recordings, playbacks.

Every parameter goes in the query string, as Asterisk 22's own clients do (the traces);
only ``variables`` (an object) goes in a JSON body, which ARI also accepts.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from callcenter.asterisk.ari.errors import AriMalformedFrame, AriMalformedResponse
from callcenter.asterisk.ari.models import (
    Application,
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    StoredRecording,
)
from callcenter.asterisk.ari.rest import AriRest, seg

T = TypeVar("T")


def _model(build: Callable[[Any], T], body: Any, rest: AriRest, what: str) -> T:
    try:
        return build(body)
    except AriMalformedFrame as err:
        raise AriMalformedResponse(
            f"{what}: {err.reason}", node=rest.node, body=body
        ) from err


def _models(build: Callable[[Any], T], body: Any, rest: AriRest, what: str) -> builtins.list[T]:
    if not isinstance(body, list):
        raise AriMalformedResponse(f"{what}: expected a list", node=rest.node, body=body)
    return [_model(build, item, rest, what) for item in body]


def _vars(variables: Mapping[str, str] | None) -> dict[str, Any] | None:
    return {"variables": dict(variables)} if variables else None


class _Resource:
    __slots__ = ("_rest",)

    def __init__(self, rest: AriRest) -> None:
        self._rest = rest


class AsteriskApi(_Resource):
    """``/asterisk``: system information and ping."""

    async def info(self, only: str | None = None) -> dict[str, Any]:
        """GET /asterisk/info (``only`` = build, system, config or status)."""
        body = await self._rest.request("GET", "/asterisk/info", {"only": only})
        if not isinstance(body, dict):
            raise AriMalformedResponse("asterisk info: expected an object", node=self._rest.node)
        return body

    async def ping(self) -> dict[str, Any]:
        """GET /asterisk/ping."""
        body = await self._rest.request("GET", "/asterisk/ping")
        return body if isinstance(body, dict) else {}


class ApplicationsApi(_Resource):
    """``/applications``: Stasis applications and their subscriptions."""

    async def list(self) -> builtins.list[Application]:
        """GET /applications."""
        body = await self._rest.request("GET", "/applications")
        return _models(Application.from_json, body, self._rest, "applications")

    async def get(self, name: str) -> Application:
        """GET /applications/{name}."""
        body = await self._rest.request("GET", f"/applications/{seg(name)}")
        return _model(Application.from_json, body, self._rest, "application")

    async def subscribe(self, name: str, event_source: str | builtins.list[str]) -> Application:
        """POST /applications/{name}/subscription (``channel:<id>``, ``bridge:<id>`` ...)."""
        body = await self._rest.request(
            "POST", f"/applications/{seg(name)}/subscription", {"eventSource": event_source}
        )
        return _model(Application.from_json, body, self._rest, "application")

    async def unsubscribe(self, name: str, event_source: str | builtins.list[str]) -> Application:
        """DELETE /applications/{name}/subscription."""
        body = await self._rest.request(
            "DELETE", f"/applications/{seg(name)}/subscription", {"eventSource": event_source}
        )
        return _model(Application.from_json, body, self._rest, "application")


class ChannelsApi(_Resource):
    """``/channels``: originate, answer, hang up, play, record, snoop, variables, dial."""

    async def list(self) -> builtins.list[Channel]:
        """GET /channels (every channel on the node, not only ours)."""
        body = await self._rest.request("GET", "/channels")
        return _models(Channel.from_json, body, self._rest, "channels")

    async def get(self, channel_id: str) -> Channel:
        """GET /channels/{id}."""
        body = await self._rest.request("GET", f"/channels/{seg(channel_id)}")
        return _model(Channel.from_json, body, self._rest, "channel")

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | builtins.list[str] | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
        caller_id: str | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 -- ARI's ring timeout (s), not a client wait
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """POST /channels: dial ``endpoint`` into ``app`` (or the dialplan).

        Asterisk 22 answers 200 at once with the ``;1`` half of a Local channel in state
        Down; busy/congestion show only as Dial events and ChannelDestroyed.
        """
        params = {
            "endpoint": endpoint, "app": app, "appArgs": app_args, "context": context,
            "extension": extension, "priority": priority, "label": label,
            "callerId": caller_id, "timeout": timeout, "channelId": channel_id,
            "otherChannelId": other_channel_id, "originator": originator, "formats": formats,
        }
        body = await self._rest.request("POST", "/channels", params, json_body=_vars(variables))
        return _model(Channel.from_json, body, self._rest, "originate")

    async def create(
        self,
        endpoint: str,
        app: str,
        *,
        app_args: str | builtins.list[str] | None = None,
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        originator: str | None = None,
        formats: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Channel:
        """POST /channels/create: a channel in Stasis (state Down) that :meth:`dial` calls later."""
        params = {
            "endpoint": endpoint, "app": app, "appArgs": app_args, "channelId": channel_id,
            "otherChannelId": other_channel_id, "originator": originator, "formats": formats,
        }
        body = await self._rest.request(
            "POST", "/channels/create", params, json_body=_vars(variables)
        )
        return _model(Channel.from_json, body, self._rest, "create")

    async def dial(
        self,
        channel_id: str,
        *,
        caller: str | None = None,
        timeout: int | None = None,  # noqa: ASYNC109 -- ARI's ring timeout (s), not a client wait
    ) -> None:
        """POST /channels/{id}/dial (409 unless the channel is Down)."""
        await self._rest.request(
            "POST", f"/channels/{seg(channel_id)}/dial", {"caller": caller, "timeout": timeout}
        )

    async def answer(self, channel_id: str) -> None:
        """POST /channels/{id}/answer."""
        await self._rest.request("POST", f"/channels/{seg(channel_id)}/answer")

    async def hangup(self, channel_id: str, reason: str | None = None, *, reason_code: int | None = None) -> None:
        """DELETE /channels/{id} (``reason``: normal, busy, congestion, no_answer ...)."""
        await self._rest.request(
            "DELETE", f"/channels/{seg(channel_id)}", {"reason": reason, "reason_code": reason_code}
        )

    async def ring(self, channel_id: str) -> None:
        """POST /channels/{id}/ring (indicate ringing)."""
        await self._rest.request("POST", f"/channels/{seg(channel_id)}/ring")

    async def ring_stop(self, channel_id: str) -> None:
        """DELETE /channels/{id}/ring."""
        await self._rest.request("DELETE", f"/channels/{seg(channel_id)}/ring")

    async def play(
        self,
        channel_id: str,
        media: str | builtins.list[str],
        *,
        lang: str | None = None,
        offsetms: int | None = None,
        skipms: int | None = None,
        playback_id: str | None = None,
    ) -> Playback:
        """POST /channels/{id}/play (201; an unknown sound fails later, in PlaybackFinished)."""
        params = {"media": media, "lang": lang, "offsetms": offsetms, "skipms": skipms,
                  "playbackId": playback_id}
        body = await self._rest.request("POST", f"/channels/{seg(channel_id)}/play", params)
        return _model(Playback.from_json, body, self._rest, "play")

    async def record(
        self,
        channel_id: str,
        name: str,
        format: str = "wav",
        *,
        max_duration_seconds: int | None = None,
        max_silence_seconds: int | None = None,
        if_exists: str | None = None,
        beep: bool | None = None,
        terminate_on: str | None = None,
    ) -> LiveRecording:
        """POST /channels/{id}/record."""
        params = {"name": name, "format": format, "maxDurationSeconds": max_duration_seconds,
                  "maxSilenceSeconds": max_silence_seconds, "ifExists": if_exists,
                  "beep": beep, "terminateOn": terminate_on}
        body = await self._rest.request("POST", f"/channels/{seg(channel_id)}/record", params)
        return _model(LiveRecording.from_json, body, self._rest, "record")

    async def snoop(
        self,
        channel_id: str,
        app: str,
        *,
        spy: str | None = None,
        whisper: str | None = None,
        app_args: str | builtins.list[str] | None = None,
        snoop_id: str | None = None,
    ) -> Channel:
        """POST /channels/{id}/snoop: a Snoop/ channel that enters ``app`` (supervisor listen/whisper)."""
        params = {"app": app, "spy": spy, "whisper": whisper, "appArgs": app_args,
                  "snoopId": snoop_id}
        body = await self._rest.request("POST", f"/channels/{seg(channel_id)}/snoop", params)
        return _model(Channel.from_json, body, self._rest, "snoop")

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """GET /channels/{id}/variable (404 'Provided variable was not found' when unset)."""
        body = await self._rest.request(
            "GET", f"/channels/{seg(channel_id)}/variable", {"variable": variable}
        )
        if not isinstance(body, dict) or not isinstance(body.get("value"), str):
            raise AriMalformedResponse("variable: expected {'value': str}", node=self._rest.node, body=body)
        return body["value"]

    async def set_variable(self, channel_id: str, variable: str, value: str) -> None:
        """POST /channels/{id}/variable."""
        await self._rest.request(
            "POST", f"/channels/{seg(channel_id)}/variable", {"variable": variable, "value": value}
        )

    async def continue_in_dialplan(
        self,
        channel_id: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        """POST /channels/{id}/continue: leave Stasis back to the dialplan."""
        params = {"context": context, "extension": extension, "priority": priority, "label": label}
        await self._rest.request("POST", f"/channels/{seg(channel_id)}/continue", params)

    async def send_dtmf(self, channel_id: str, dtmf: str) -> None:
        """POST /channels/{id}/dtmf."""
        await self._rest.request("POST", f"/channels/{seg(channel_id)}/dtmf", {"dtmf": dtmf})


class BridgesApi(_Resource):
    """``/bridges``: create (idempotent ids), add/remove channels, record, play, destroy."""

    async def list(self) -> builtins.list[Bridge]:
        """GET /bridges."""
        body = await self._rest.request("GET", "/bridges")
        return _models(Bridge.from_json, body, self._rest, "bridges")

    async def get(self, bridge_id: str) -> Bridge:
        """GET /bridges/{id}."""
        body = await self._rest.request("GET", f"/bridges/{seg(bridge_id)}")
        return _model(Bridge.from_json, body, self._rest, "bridge")

    async def create(
        self,
        type: str = "mixing",
        *,
        bridge_id: str | None = None,
        name: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Bridge:
        """Create a bridge; with ``bridge_id`` this is createWithId (409 if it exists)."""
        if bridge_id is not None:
            return await self.create_with_id(bridge_id, type, name=name, variables=variables)
        body = await self._rest.request(
            "POST", "/bridges", {"type": type, "name": name}, json_body=_vars(variables)
        )
        return _model(Bridge.from_json, body, self._rest, "bridge")

    async def create_with_id(
        self,
        bridge_id: str,
        type: str = "mixing",
        *,
        name: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Bridge:
        """POST /bridges/{id}: Asterisk 22 answers 409 'already exists' for a taken id."""
        body = await self._rest.request(
            "POST", f"/bridges/{seg(bridge_id)}", {"type": type, "name": name},
            json_body=_vars(variables),
        )
        return _model(Bridge.from_json, body, self._rest, "bridge")

    async def add_channel(
        self,
        bridge_id: str,
        channel: str | builtins.list[str],
        *,
        role: str | None = None,
        absorb_dtmf: bool | None = None,
        mute: bool | None = None,
        inhibit_connected_line: bool | None = None,
    ) -> None:
        """POST /bridges/{id}/addChannel (a channel in another bridge is moved: 204)."""
        params = {"channel": channel, "role": role, "absorbDTMF": absorb_dtmf, "mute": mute,
                  "inhibitConnectedLine": inhibit_connected_line}
        await self._rest.request("POST", f"/bridges/{seg(bridge_id)}/addChannel", params)

    async def remove_channel(self, bridge_id: str, channel: str | builtins.list[str]) -> None:
        """POST /bridges/{id}/removeChannel (422 if the channel is not in it)."""
        await self._rest.request(
            "POST", f"/bridges/{seg(bridge_id)}/removeChannel", {"channel": channel}
        )

    async def record(
        self,
        bridge_id: str,
        name: str,
        format: str = "wav",
        *,
        max_duration_seconds: int | None = None,
        max_silence_seconds: int | None = None,
        if_exists: str | None = None,
        beep: bool | None = None,
        terminate_on: str | None = None,
    ) -> LiveRecording:
        """POST /bridges/{id}/record (201 state queued; stops when the last channel leaves)."""
        params = {"name": name, "format": format, "maxDurationSeconds": max_duration_seconds,
                  "maxSilenceSeconds": max_silence_seconds, "ifExists": if_exists,
                  "beep": beep, "terminateOn": terminate_on}
        body = await self._rest.request("POST", f"/bridges/{seg(bridge_id)}/record", params)
        return _model(LiveRecording.from_json, body, self._rest, "record")

    async def play(
        self,
        bridge_id: str,
        media: str | builtins.list[str],
        *,
        lang: str | None = None,
        playback_id: str | None = None,
    ) -> Playback:
        """POST /bridges/{id}/play."""
        params = {"media": media, "lang": lang, "playbackId": playback_id}
        body = await self._rest.request("POST", f"/bridges/{seg(bridge_id)}/play", params)
        return _model(Playback.from_json, body, self._rest, "play")

    async def destroy(self, bridge_id: str) -> None:
        """DELETE /bridges/{id}."""
        await self._rest.request("DELETE", f"/bridges/{seg(bridge_id)}")


class RecordingsApi(_Resource):
    """``/recordings``: live recordings (get, stop, cancel) and stored files."""

    async def get_live(self, name: str) -> LiveRecording:
        """GET /recordings/live/{name} (404 once a bridge recording stopped by itself)."""
        body = await self._rest.request("GET", f"/recordings/live/{seg(name)}")
        return _model(LiveRecording.from_json, body, self._rest, "live recording")

    async def stop(self, name: str) -> None:
        """POST /recordings/live/{name}/stop: keep the file."""
        await self._rest.request("POST", f"/recordings/live/{seg(name)}/stop")

    async def cancel(self, name: str) -> None:
        """DELETE /recordings/live/{name}: stop and discard."""
        await self._rest.request("DELETE", f"/recordings/live/{seg(name)}")

    async def list_stored(self) -> builtins.list[StoredRecording]:
        """GET /recordings/stored."""
        body = await self._rest.request("GET", "/recordings/stored")
        return _models(StoredRecording.from_json, body, self._rest, "stored recordings")

    async def get_stored(self, name: str) -> StoredRecording:
        """GET /recordings/stored/{name}."""
        body = await self._rest.request("GET", f"/recordings/stored/{seg(name)}")
        return _model(StoredRecording.from_json, body, self._rest, "stored recording")

    async def download(self, name: str) -> bytes:
        """GET /recordings/stored/{name}/file: the audio bytes."""
        body = await self._rest.request("GET", f"/recordings/stored/{seg(name)}/file", raw=True)
        return bytes(body)

    async def delete_stored(self, name: str) -> None:
        """DELETE /recordings/stored/{name}."""
        await self._rest.request("DELETE", f"/recordings/stored/{seg(name)}")

    async def copy_stored(self, name: str, destination: str) -> StoredRecording:
        """POST /recordings/stored/{name}/copy."""
        body = await self._rest.request(
            "POST", f"/recordings/stored/{seg(name)}/copy", {"destinationRecording": destination}
        )
        return _model(StoredRecording.from_json, body, self._rest, "stored recording")


class PlaybacksApi(_Resource):
    """``/playbacks``: get, stop and control a playback."""

    async def get(self, playback_id: str) -> Playback:
        """GET /playbacks/{id}."""
        body = await self._rest.request("GET", f"/playbacks/{seg(playback_id)}")
        return _model(Playback.from_json, body, self._rest, "playback")

    async def stop(self, playback_id: str) -> None:
        """DELETE /playbacks/{id}."""
        await self._rest.request("DELETE", f"/playbacks/{seg(playback_id)}")

    async def control(self, playback_id: str, operation: str) -> None:
        """POST /playbacks/{id}/control (restart, pause, unpause, reverse, forward)."""
        await self._rest.request(
            "POST", f"/playbacks/{seg(playback_id)}/control", {"operation": operation}
        )
