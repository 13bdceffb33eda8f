"""ARI WebSocket frames to typed events, with one parser per event type built at import.

:func:`parse_event` raises :class:`AriMalformedFrame` for frames that are not JSON
objects, have no ``type``, or carry wrong field types; a type without a class becomes
a :class:`GenericEvent`.

Each type's parser is a :class:`_FieldCheck` tuple read off its dataclass fields once,
walked by one loop: the field's JSON type is compared with ``type(value) is``, and
only ``Playback``, ``LiveRecording``, lists and objects call a converter.

Nested ``Channel`` and ``Bridge`` objects are built on first access: a frame's
channel is a third of its parse cost and many handlers never read it. Their ``id``
is checked when the frame is parsed (it is the ordering key); their other fields
when first read, which raises :class:`AriMalformedFrame` for a malformed one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import orjson

from callcenter.asterisk.ari.errors import AriMalformedFrame
from callcenter.asterisk.ari.events import EVENT_TYPES, AriEvent, GenericEvent, event_fields
from callcenter.asterisk.ari.models import Bridge, Channel, LiveRecording, Playback


def _str_list(value: list[Any]) -> list[str]:
    if not all(type(v) is str for v in value):
        raise AriMalformedFrame("expected a list of strings")
    return value


class _FieldCheck(NamedTuple):
    """How one event field is read from the frame."""

    name: str
    required: bool
    #: The exact JSON type the value must have (``type(v) is kind``; orjson gives exact types).
    kind: type[Any]
    #: A Channel or Bridge kept as JSON until first read; only its ``id`` is checked now.
    lazy: bool
    #: Builds or validates the value after the kind check.
    convert: Callable[[Any], Any] | None


#: Annotation -> (JSON kind, converter); Channel and Bridge have no converter: they are lazy.
_FIELD_KINDS: dict[str, tuple[type[Any], Callable[[Any], Any] | None]] = {
    "str": (str, None),
    "int": (int, None),  # bool is an int subclass; ARI never sends true for an int field
    "bool": (bool, None),
    "list[str]": (list, _str_list),
    "dict[str, Any]": (dict, dict),
    "Playback": (dict, Playback.from_json),
    "LiveRecording": (dict, LiveRecording.from_json),
    "Channel": (dict, None),
    "Bridge": (dict, None),
}

#: Nested objects built on first access (see the module docstring).
_LAZY: dict[str, Callable[[Any], Any]] = {"Channel": Channel.from_json, "Bridge": Bridge.from_json}


def _lazy_slot(slot: Any, build: Callable[[Any], Any], name: str) -> property:
    """A property over a dataclass slot: keeps the frame's JSON object until first read.

    Setting (the dataclass ``__init__``) goes straight to the slot's own C setter, so
    an event pays nothing here for a nested object nobody reads.
    """
    get_raw, set_raw = slot.__get__, slot.__set__

    def read(obj: Any) -> Any:
        value = get_raw(obj, None)
        if type(value) is dict:
            try:
                value = build(value)
            except AriMalformedFrame as err:
                raise AriMalformedFrame(f"{type(obj).__name__}.{name}: {err.reason}") from err
            set_raw(obj, value)
        return value

    return property(read, set_raw, slot.__delete__)


def _make_lazy(cls: type[AriEvent], name: str, build: Callable[[Any], Any]) -> None:
    owner = next(k for k in cls.__mro__ if name in k.__dict__)
    slot = owner.__dict__[name]
    if not isinstance(slot, property):  # a base class's field is made lazy once
        setattr(owner, name, _lazy_slot(slot, build, name))


def _field_checks(cls: type[AriEvent]) -> tuple[_FieldCheck, ...]:
    annotations = {f.name: str(f.type).removesuffix(" | None") for f in dataclasses.fields(cls)}
    checks = []
    for name, required in event_fields(cls).items():
        annotation = annotations[name]
        if annotation not in _FIELD_KINDS:
            raise TypeError(f"{cls.__name__}.{name}: no parser for {annotation}")
        lazy = annotation in _LAZY
        if lazy:
            _make_lazy(cls, name, _LAZY[annotation])
        kind, convert = _FIELD_KINDS[annotation]
        checks.append(_FieldCheck(name, required, kind, lazy, convert))
    return tuple(checks)


Builder = Callable[[dict[str, Any], dict[str, Any]], AriEvent]


def _builder(cls: type[AriEvent]) -> Builder:
    """The parser of one event type: its field checks in one loop, then the constructor."""
    checks = _field_checks(cls)
    order_field, order_prefix = cls.ORDER_BY or ("", "")

    def build(data: dict[str, Any], values: dict[str, Any]) -> AriEvent:
        get = data.get
        for name, required, kind, lazy, convert in checks:
            value: Any = get(name)
            if type(value) is not kind:
                if value is not None:
                    raise AriMalformedFrame(
                        f"{name}: expected {kind.__name__}, got {type(value).__name__}")
                if required:
                    raise AriMalformedFrame(f"missing required {name}")
            elif lazy:
                if type(value.get("id")) is not str:
                    raise AriMalformedFrame(f"{name}: expected an object with a string id")
            elif convert is not None:
                try:
                    value = convert(value)
                except AriMalformedFrame as err:
                    raise AriMalformedFrame(f"{name}: {err.reason}") from err
            values[name] = value
        if order_field:
            keyed = values[order_field]
            if keyed is not None:
                # The id was checked above: the key costs no Channel/Bridge object.
                values["_order"] = order_prefix + keyed["id"]
        return cls(**values)

    return build


_BUILDERS: dict[str, Builder] = {name: _builder(cls) for name, cls in EVENT_TYPES.items()}


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
        return build(data, {"type": event_type, "node": node, "application": application,
                            "timestamp": timestamp, "asterisk_id": asterisk_id, "raw": data})
    except AriMalformedFrame as err:
        raise AriMalformedFrame(f"{event_type}: {err.reason}") from err


def parse_event(frame: str | bytes, node: str) -> AriEvent:
    """Decode and type one WebSocket frame; raises :class:`AriMalformedFrame`."""
    return from_json(loads(frame), node)


__all__ = ["from_json", "loads", "parse_event"]
