"""ARI ``/channels``: originate, answer, hang up, play, record, snoop, variables, dial.

Every parameter goes in the query string, as Asterisk 22's own clients do (the traces);
only ``variables`` (an object) goes in a JSON body, which ARI also accepts.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping

from callcenter.asterisk.ari.errors import AriMalformedResponse
from callcenter.asterisk.ari.models import Channel, LiveRecording, Playback
from callcenter.asterisk.ari.resources import Resource, model_of, models_of, variables_body
from callcenter.asterisk.ari.rest import seg


class ChannelsApi(Resource):
    """``/channels``: originate, answer, hang up, play, record, snoop, variables, dial."""

    async def list(self) -> builtins.list[Channel]:
        """GET /channels (every channel on the node, not only ours)."""
        body = await self._rest.request("GET", "/channels")
        return models_of(Channel.from_json, body, self._rest, "channels")

    async def get(self, channel_id: str) -> Channel:
        """GET /channels/{id}."""
        body = await self._rest.request("GET", f"/channels/{seg(channel_id)}")
        return model_of(Channel.from_json, body, self._rest, "channel")

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
        body = await self._rest.request("POST", "/channels", params, json_body=variables_body(variables))
        return model_of(Channel.from_json, body, self._rest, "originate")

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
            "POST", "/channels/create", params, json_body=variables_body(variables)
        )
        return model_of(Channel.from_json, body, self._rest, "create")

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

    async def mute(self, channel_id: str, direction: str = "both") -> None:
        """POST /channels/{id}/mute (``in``: what the channel says; 409 outside Stasis)."""
        await self._rest.request(
            "POST", f"/channels/{seg(channel_id)}/mute", {"direction": direction}
        )

    async def unmute(self, channel_id: str, direction: str = "both") -> None:
        """DELETE /channels/{id}/mute."""
        await self._rest.request(
            "DELETE", f"/channels/{seg(channel_id)}/mute", {"direction": direction}
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
        return model_of(Playback.from_json, body, self._rest, "play")

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
        return model_of(LiveRecording.from_json, body, self._rest, "record")

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
        return model_of(Channel.from_json, body, self._rest, "snoop")

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
