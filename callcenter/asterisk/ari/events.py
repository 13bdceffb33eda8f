"""Typed ARI events: one slotted dataclass per event type the product uses.

Field names and required-ness follow Asterisk 22's ``events.json`` (a test checks
them). Every event also carries ``node``: the Asterisk node it came from. A frame
of a type without a class here becomes a :class:`GenericEvent` (logged, never an
error). Frames become events in :mod:`callcenter.asterisk.ari.frames`, which builds
each type's parser from the fields declared here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from callcenter.asterisk.ari.models import Bridge, Channel, LiveRecording, Playback


@dataclass(slots=True, kw_only=True)
class AriEvent:
    """Base of every ARI event; ``raw`` keeps the frame's JSON as received."""

    type: str
    node: str
    application: str = ""
    timestamp: str = ""
    asterisk_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    #: The ordering key, set by the parser from the frame (saves building the channel).
    _order: str = field(default="", repr=False, compare=False)

    #: (field, key prefix): the parser takes the ordering key from that object's id.
    ORDER_BY: ClassVar[tuple[str, str] | None] = None

    def order_key(self) -> str:
        """``channel:<id>`` / ``bridge:<id>``: events with one key are handled in order."""
        return self._order or self._key()

    def _key(self) -> str:
        return ""


@dataclass(slots=True, kw_only=True)
class GenericEvent(AriEvent):
    """An event type the product has no class for; the JSON is in ``raw``."""


class _ChannelKeyed:
    __slots__ = ()
    ORDER_BY: ClassVar[tuple[str, str] | None] = ("channel", "channel:")

    def _key(self) -> str:
        channel = self.channel  # type: ignore[attr-defined]
        return f"channel:{channel.id}" if channel is not None else ""


@dataclass(slots=True, kw_only=True)
class StasisStart(_ChannelKeyed, AriEvent):
    """A channel entered our Stasis application."""

    args: list[str]
    channel: Channel
    replace_channel: Channel | None = None


@dataclass(slots=True, kw_only=True)
class StasisEnd(_ChannelKeyed, AriEvent):
    """A channel left our Stasis application (no ChannelDestroyed follows for dialplan entries)."""

    channel: Channel


@dataclass(slots=True, kw_only=True)
class ChannelCreated(_ChannelKeyed, AriEvent):
    """A channel was created."""

    channel: Channel


@dataclass(slots=True, kw_only=True)
class ChannelStateChange(_ChannelKeyed, AriEvent):
    """A channel's state changed (Ring, Ringing, Up ...)."""

    channel: Channel


@dataclass(slots=True, kw_only=True)
class ChannelDestroyed(_ChannelKeyed, AriEvent):
    """A channel is gone; ``cause`` is the Q.850 hangup cause."""

    cause: int
    cause_txt: str
    channel: Channel
    tech_cause: int | None = None


@dataclass(slots=True, kw_only=True)
class ChannelHangupRequest(_ChannelKeyed, AriEvent):
    """A hangup was requested (``soft`` with cause 32 is a flag, not a Q.850 cause)."""

    channel: Channel
    cause: int | None = None
    tech_cause: int | None = None
    soft: bool | None = None


@dataclass(slots=True, kw_only=True)
class ChannelDtmfReceived(_ChannelKeyed, AriEvent):
    """A DTMF digit was received."""

    digit: str
    duration_ms: int
    channel: Channel


@dataclass(slots=True, kw_only=True)
class ChannelEnteredBridge(_ChannelKeyed, AriEvent):
    """A channel entered a bridge."""

    bridge: Bridge
    channel: Channel | None = None


@dataclass(slots=True, kw_only=True)
class ChannelLeftBridge(_ChannelKeyed, AriEvent):
    """A channel left a bridge."""

    bridge: Bridge
    channel: Channel


@dataclass(slots=True, kw_only=True)
class _BridgeKeyed(AriEvent):
    bridge: Bridge

    ORDER_BY: ClassVar[tuple[str, str] | None] = ("bridge", "bridge:")

    def _key(self) -> str:
        return f"bridge:{self.bridge.id}"


@dataclass(slots=True, kw_only=True)
class BridgeCreated(_BridgeKeyed):
    """A bridge was created."""


@dataclass(slots=True, kw_only=True)
class BridgeDestroyed(_BridgeKeyed):
    """A bridge was destroyed."""


@dataclass(slots=True, kw_only=True)
class BridgeMerged(_BridgeKeyed):
    """Another bridge was merged into ``bridge``."""

    bridge_from: Bridge


@dataclass(slots=True, kw_only=True)
class ChannelVarset(_ChannelKeyed, AriEvent):
    """A channel (or global, when ``channel`` is None) variable was set."""

    variable: str
    value: str
    channel: Channel | None = None


@dataclass(slots=True, kw_only=True)
class ChannelCallerId(_ChannelKeyed, AriEvent):
    """A channel's caller id changed."""

    caller_presentation: int
    caller_presentation_txt: str
    channel: Channel


@dataclass(slots=True, kw_only=True)
class ChannelConnectedLine(_ChannelKeyed, AriEvent):
    """A channel's connected line changed."""

    channel: Channel


@dataclass(slots=True, kw_only=True)
class ChannelDialplan(_ChannelKeyed, AriEvent):
    """A channel moved in the dialplan."""

    channel: Channel
    dialplan_app: str
    dialplan_app_data: str


@dataclass(slots=True, kw_only=True)
class ChannelUserevent(AriEvent):
    """A UserEvent from the dialplan or ARI."""

    eventname: str
    userevent: dict[str, Any]
    channel: Channel | None = None
    bridge: Bridge | None = None

    def _key(self) -> str:
        if self.channel is not None:
            return f"channel:{self.channel.id}"
        return f"bridge:{self.bridge.id}" if self.bridge is not None else ""


@dataclass(slots=True, kw_only=True)
class Dial(AriEvent):
    """Dialing state of ``peer`` changed; ``dialstatus`` '' then RINGING then ANSWER/BUSY/...

    Asterisk 22 sends no NOANSWER Dial when an originate times out: only ChannelDestroyed cause 19.
    """

    peer: Channel
    dialstatus: str
    caller: Channel | None = None
    forward: str | None = None
    forwarded: Channel | None = None
    dialstring: str | None = None

    ORDER_BY: ClassVar[tuple[str, str] | None] = ("peer", "channel:")

    def _key(self) -> str:
        return f"channel:{self.peer.id}"


def _target_key(uri: str) -> str:
    # target_uri is "channel:<id>" or "bridge:<id>", the same shape as our keys.
    return uri if uri.startswith(("channel:", "bridge:")) else ""


@dataclass(slots=True, kw_only=True)
class _PlaybackEvent(AriEvent):
    playback: Playback

    def _key(self) -> str:
        return _target_key(self.playback.target_uri)


@dataclass(slots=True, kw_only=True)
class PlaybackStarted(_PlaybackEvent):
    """A playback started."""


@dataclass(slots=True, kw_only=True)
class PlaybackContinuing(_PlaybackEvent):
    """A playback moved to the next media URI."""


@dataclass(slots=True, kw_only=True)
class PlaybackFinished(_PlaybackEvent):
    """A playback finished (``playback.state`` 'done' or 'failed')."""


@dataclass(slots=True, kw_only=True)
class _RecordingEvent(AriEvent):
    recording: LiveRecording

    def _key(self) -> str:
        return _target_key(self.recording.target_uri)


@dataclass(slots=True, kw_only=True)
class RecordingStarted(_RecordingEvent):
    """A recording started."""


@dataclass(slots=True, kw_only=True)
class RecordingFinished(_RecordingEvent):
    """A recording finished (a bridge recording stops by itself when the last channel leaves)."""


@dataclass(slots=True, kw_only=True)
class RecordingFailed(_RecordingEvent):
    """A recording failed."""


@dataclass(slots=True, kw_only=True)
class ApplicationReplaced(AriEvent):
    """Another WebSocket took our app; Asterisk 22 keeps this socket open but silent."""


#: Every typed event class, by ARI ``type``.
EVENT_TYPES: dict[str, type[AriEvent]] = {
    cls.__name__: cls
    for cls in (
        StasisStart,
        StasisEnd,
        ChannelCreated,
        ChannelStateChange,
        ChannelDestroyed,
        ChannelHangupRequest,
        ChannelDtmfReceived,
        ChannelEnteredBridge,
        ChannelLeftBridge,
        BridgeCreated,
        BridgeDestroyed,
        BridgeMerged,
        ChannelVarset,
        ChannelCallerId,
        ChannelConnectedLine,
        ChannelDialplan,
        ChannelUserevent,
        Dial,
        PlaybackStarted,
        PlaybackContinuing,
        PlaybackFinished,
        RecordingStarted,
        RecordingFinished,
        RecordingFailed,
        ApplicationReplaced,
    )
}

__all__ = ["EVENT_TYPES", "AriEvent", "GenericEvent", "event_fields", *EVENT_TYPES]

_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(AriEvent))


def event_fields(cls: type[AriEvent]) -> dict[str, bool]:
    """The ARI properties a typed event models, with whether each is required."""
    return {
        f.name: f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for f in dataclasses.fields(cls) if f.name not in _BASE_FIELDS
    }
