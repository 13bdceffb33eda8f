"""Typed ARI events: one slotted dataclass per event type the product uses.

Field names and required-ness follow Asterisk 22's ``events.json`` (a test checks
them). Every event also carries ``node``: the Asterisk node it came from. A frame
of a type without a class here becomes a :class:`GenericEvent` (logged, never an
error). :func:`parse_event` raises :class:`AriMalformedFrame` for frames that are
not JSON objects, have no ``type``, or carry wrong field types.

Nested ``Channel`` and ``Bridge`` objects are built on first access: a frame's
channel is a third of its parse cost and many handlers never read it. Their ``id``
is checked when the frame is parsed (it is the ordering key); their other fields
when first read, which raises :class:`AriMalformedFrame` for a malformed one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import orjson

from callcenter.asterisk.ari.errors import AriMalformedFrame
from callcenter.asterisk.ari.models import (
    Bridge,
    Channel,
    LiveRecording,
    Playback,
    as_mapping,
)


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

__all__ = [
    "EVENT_TYPES", "AriEvent", "GenericEvent", "event_fields", "from_json", "loads",
    "parse_event", *EVENT_TYPES,
]

_BASE_FIELDS = frozenset(f.name for f in dataclasses.fields(AriEvent))


def _check(kind: type, label: str) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        # bool is an int subclass in Python; ARI never sends true for an int field.
        if type(value) is not kind:
            raise AriMalformedFrame(f"{label}: expected {kind.__name__}, got {type(value).__name__}")
        return value

    return convert


def _str_list(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(type(v) is str for v in value):
        raise AriMalformedFrame("expected a list of strings")
    return value


def _object(value: Any) -> dict[str, Any]:
    return dict(as_mapping(value, "object"))


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "Channel": Channel.from_json,
    "Bridge": Bridge.from_json,
    "Playback": Playback.from_json,
    "LiveRecording": LiveRecording.from_json,
    "str": _check(str, "string"),
    "int": _check(int, "int"),
    "bool": _check(bool, "boolean"),
    "list[str]": _str_list,
    "dict[str, Any]": _object,
}

#: Per type: (field, annotation, required) built once from the dataclass annotations.
_Spec = tuple[tuple[str, str, bool], ...]
_SIMPLE = {"str": "str", "int": "int", "bool": "bool"}


def _spec(cls: type[AriEvent]) -> _Spec:
    out = []
    for f in dataclasses.fields(cls):
        if f.name in _BASE_FIELDS:
            continue
        annotation = str(f.type).removesuffix(" | None")
        if annotation not in _CONVERTERS:
            raise TypeError(f"{cls.__name__}.{f.name}: no converter for {annotation}")
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        out.append((f.name, annotation, required))
    return tuple(out)


Builder = Callable[[dict[str, Any], str, str, str, str, "str | None"], AriEvent]


#: Nested objects built on first access (see the module docstring).
_LAZY: dict[str, Callable[[Any], Any]] = {"Channel": Channel.from_json, "Bridge": Bridge.from_json}


class _LazyObject:
    """Stands in for a slot: keeps the frame's JSON object until the field is first read."""

    __slots__ = ("build", "name", "slot")

    def __init__(self, slot: Any, build: Callable[[Any], Any], name: str) -> None:
        self.slot, self.build, self.name = slot, build, name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        value = self.slot.__get__(obj, owner)
        if type(value) is dict:
            try:
                value = self.build(value)
            except AriMalformedFrame as err:
                raise AriMalformedFrame(f"{type(obj).__name__}.{self.name}: {err.reason}") from err
            self.slot.__set__(obj, value)
        return value

    def __set__(self, obj: Any, value: Any) -> None:
        self.slot.__set__(obj, value)

    def __delete__(self, obj: Any) -> None:
        self.slot.__delete__(obj)


def _make_lazy(cls: type[AriEvent], name: str, build: Callable[[Any], Any]) -> None:
    owner = next(k for k in cls.__mro__ if name in k.__dict__)
    slot = owner.__dict__[name]
    if not isinstance(slot, _LazyObject):
        setattr(owner, name, _LazyObject(slot, build, name))


def _compile(cls: type[AriEvent], spec: _Spec) -> Builder:
    """One straight-line builder per event type (as dataclasses does for __init__).

    A generic loop over fields costs about as much as the JSON decoding itself.
    """
    env: dict[str, Any] = {"cls": cls, "M": AriMalformedFrame, "dict": dict, "str": str}
    lines = ["def build(data, node, event_type, application, timestamp, asterisk_id):"]
    args = []
    order = '""'
    for i, (name, annotation, required) in enumerate(spec):
        v = f"v{i}"
        lines.append(f"    {v} = data.get({name!r})")
        if required:
            lines.append(f"    if {v} is None: raise M('missing required {name}')")
        simple = _SIMPLE.get(annotation)
        if simple is not None:
            env[f"t{i}"] = {"str": str, "int": int, "bool": bool}[simple]
            lines.append(f"    if {v} is not None and type({v}) is not t{i}:")
            lines.append(f"        raise M('{name}: expected {simple}, got ' + type({v}).__name__)")
        elif annotation in _LAZY:
            # Only the id now (it orders the event); the rest when the field is read.
            _make_lazy(cls, name, _LAZY[annotation])
            lines.append(f"    if {v} is not None and (type({v}) is not dict"
                         f" or type({v}.get('id')) is not str):")
            lines.append(f"        raise M('{name}: expected an object with a string id')")
            if cls.ORDER_BY is not None and cls.ORDER_BY[0] == name:
                order = f"({cls.ORDER_BY[1]!r} + {v}['id'] if {v} is not None else '')"
        else:
            env[f"c{i}"] = _CONVERTERS[annotation]
            lines.append(f"    if {v} is not None: {v} = c{i}({v})")
        args.append(f"{name}={v}")
    lines.append("    return cls(type=event_type, node=node, application=application,"
                 f" timestamp=timestamp, asterisk_id=asterisk_id, raw=data, _order={order}"
                 + "".join(f", {a}" for a in args) + ")")
    exec("\n".join(lines), env)  # noqa: S102 -- generated from our own dataclass fields only
    return env["build"]


_BUILDERS: dict[str, Builder] = {
    name: _compile(cls, _spec(cls)) for name, cls in EVENT_TYPES.items()
}


def event_fields(cls: type[AriEvent]) -> dict[str, bool]:
    """The ARI properties a typed event models, with whether each is required."""
    return {name: required for name, _annotation, required in _spec(cls)}


def loads(frame: str | bytes) -> dict[str, Any]:
    """Decode one WebSocket frame into a JSON object, or raise :class:`AriMalformedFrame`."""
    try:
        data = orjson.loads(frame)
    except orjson.JSONDecodeError as err:
        raise AriMalformedFrame(f"not JSON: {err}", frame) from err
    if type(data) is not dict:
        raise AriMalformedFrame(f"not a JSON object but {type(data).__name__}", frame)
    return data


def from_json(data: dict[str, Any], node: str) -> AriEvent:
    """Build the typed event for one decoded ARI event object."""
    get = data.get
    event_type = get("type")
    if type(event_type) is not str or not event_type:
        raise AriMalformedFrame("no 'type' string")
    application = get("application", "")
    timestamp = get("timestamp", "")
    asterisk_id = get("asterisk_id")
    if type(application) is not str or type(timestamp) is not str or (
        asterisk_id is not None and type(asterisk_id) is not str
    ):
        raise AriMalformedFrame(f"{event_type}: application/timestamp/asterisk_id must be strings")
    build = _BUILDERS.get(event_type)
    if build is None:
        return GenericEvent(
            type=event_type, node=node, application=application, timestamp=timestamp,
            asterisk_id=asterisk_id, raw=data,
        )
    try:
        return build(data, node, event_type, application, timestamp, asterisk_id)
    except AriMalformedFrame as err:
        raise AriMalformedFrame(f"{event_type}: {err.reason}") from err


def parse_event(frame: str | bytes, node: str) -> AriEvent:
    """Decode and type one WebSocket frame; raises :class:`AriMalformedFrame`."""
    return from_json(loads(frame), node)
