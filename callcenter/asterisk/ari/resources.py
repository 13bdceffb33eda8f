"""ARI REST resources: asterisk, applications, bridges, recordings, playbacks (channels: channels.py).

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
    LiveRecording,
    Playback,
    StoredRecording,
)
from callcenter.asterisk.ari.rest import AriRest, seg

T = TypeVar("T")


def model_of(build: Callable[[Any], T], body: Any, rest: AriRest, what: str) -> T:
    """``build(body)``; a malformed body raises :class:`AriMalformedResponse`."""
    try:
        return build(body)
    except AriMalformedFrame as err:
        raise AriMalformedResponse(
            f"{what}: {err.reason}", node=rest.node, body=body
        ) from err


def models_of(build: Callable[[Any], T], body: Any, rest: AriRest, what: str) -> builtins.list[T]:
    """A JSON list of models; anything else raises :class:`AriMalformedResponse`."""
    if not isinstance(body, list):
        raise AriMalformedResponse(f"{what}: expected a list", node=rest.node, body=body)
    return [model_of(build, item, rest, what) for item in body]


def variables_body(variables: Mapping[str, str] | None) -> dict[str, Any] | None:
    """Channel variables as the JSON body ARI takes (None when there are none)."""
    return {"variables": dict(variables)} if variables else None


class Resource:
    """One ARI REST resource over the node's :class:`AriRest`."""

    __slots__ = ("_rest",)

    def __init__(self, rest: AriRest) -> None:
        self._rest = rest


class AsteriskApi(Resource):
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


class ApplicationsApi(Resource):
    """``/applications``: Stasis applications and their subscriptions."""

    async def list(self) -> builtins.list[Application]:
        """GET /applications."""
        body = await self._rest.request("GET", "/applications")
        return models_of(Application.from_json, body, self._rest, "applications")

    async def get(self, name: str) -> Application:
        """GET /applications/{name}."""
        body = await self._rest.request("GET", f"/applications/{seg(name)}")
        return model_of(Application.from_json, body, self._rest, "application")

    async def subscribe(self, name: str, event_source: str | builtins.list[str]) -> Application:
        """POST /applications/{name}/subscription (``channel:<id>``, ``bridge:<id>`` ...)."""
        body = await self._rest.request(
            "POST", f"/applications/{seg(name)}/subscription", {"eventSource": event_source}
        )
        return model_of(Application.from_json, body, self._rest, "application")

    async def unsubscribe(self, name: str, event_source: str | builtins.list[str]) -> Application:
        """DELETE /applications/{name}/subscription."""
        body = await self._rest.request(
            "DELETE", f"/applications/{seg(name)}/subscription", {"eventSource": event_source}
        )
        return model_of(Application.from_json, body, self._rest, "application")


class BridgesApi(Resource):
    """``/bridges``: create (idempotent ids), add/remove channels, record, play, destroy."""

    async def list(self) -> builtins.list[Bridge]:
        """GET /bridges."""
        body = await self._rest.request("GET", "/bridges")
        return models_of(Bridge.from_json, body, self._rest, "bridges")

    async def get(self, bridge_id: str) -> Bridge:
        """GET /bridges/{id}."""
        body = await self._rest.request("GET", f"/bridges/{seg(bridge_id)}")
        return model_of(Bridge.from_json, body, self._rest, "bridge")

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
            "POST", "/bridges", {"type": type, "name": name}, json_body=variables_body(variables)
        )
        return model_of(Bridge.from_json, body, self._rest, "bridge")

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
            json_body=variables_body(variables),
        )
        return model_of(Bridge.from_json, body, self._rest, "bridge")

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
        return model_of(LiveRecording.from_json, body, self._rest, "record")

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
        return model_of(Playback.from_json, body, self._rest, "play")

    async def destroy(self, bridge_id: str) -> None:
        """DELETE /bridges/{id}."""
        await self._rest.request("DELETE", f"/bridges/{seg(bridge_id)}")


class RecordingsApi(Resource):
    """``/recordings``: live recordings (get, stop, cancel) and stored files."""

    async def get_live(self, name: str) -> LiveRecording:
        """GET /recordings/live/{name} (404 once a bridge recording stopped by itself)."""
        body = await self._rest.request("GET", f"/recordings/live/{seg(name)}")
        return model_of(LiveRecording.from_json, body, self._rest, "live recording")

    async def stop(self, name: str) -> None:
        """POST /recordings/live/{name}/stop: keep the file."""
        await self._rest.request("POST", f"/recordings/live/{seg(name)}/stop")

    async def cancel(self, name: str) -> None:
        """DELETE /recordings/live/{name}: stop and discard."""
        await self._rest.request("DELETE", f"/recordings/live/{seg(name)}")

    async def list_stored(self) -> builtins.list[StoredRecording]:
        """GET /recordings/stored."""
        body = await self._rest.request("GET", "/recordings/stored")
        return models_of(StoredRecording.from_json, body, self._rest, "stored recordings")

    async def get_stored(self, name: str) -> StoredRecording:
        """GET /recordings/stored/{name}."""
        body = await self._rest.request("GET", f"/recordings/stored/{seg(name)}")
        return model_of(StoredRecording.from_json, body, self._rest, "stored recording")

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
        return model_of(StoredRecording.from_json, body, self._rest, "stored recording")


class PlaybacksApi(Resource):
    """``/playbacks``: get, stop and control a playback."""

    async def get(self, playback_id: str) -> Playback:
        """GET /playbacks/{id}."""
        body = await self._rest.request("GET", f"/playbacks/{seg(playback_id)}")
        return model_of(Playback.from_json, body, self._rest, "playback")

    async def stop(self, playback_id: str) -> None:
        """DELETE /playbacks/{id}."""
        await self._rest.request("DELETE", f"/playbacks/{seg(playback_id)}")

    async def control(self, playback_id: str, operation: str) -> None:
        """POST /playbacks/{id}/control (restart, pause, unpause, reverse, forward)."""
        await self._rest.request(
            "POST", f"/playbacks/{seg(playback_id)}/control", {"operation": operation}
        )
