"""ARI resource models (Channel, Bridge, recordings, Playback) as slotted dataclasses.

Field names are the ARI JSON names (Asterisk 22 ``*.json`` models), so a reader can
check them against the API description. Parsing validates types and raises
:class:`AriMalformedFrame` on a mismatch; unknown extra keys are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from callcenter.asterisk.ari.errors import AriMalformedFrame

Json = Mapping[str, Any]


def _bad(model: str, key: str, value: Any) -> AriMalformedFrame:
    return AriMalformedFrame(f"{model}.{key}: unexpected {type(value).__name__}")


def req_str(d: Json, key: str, model: str) -> str:
    """A required string field."""
    value = d.get(key)
    if type(value) is not str:
        raise _bad(model, key, value)
    return value


def opt_str(d: Json, key: str, model: str, default: str | None = None) -> str | None:
    """An optional string field."""
    value = d.get(key, default)
    if value is not None and type(value) is not str:
        raise _bad(model, key, value)
    return value


def opt_int(d: Json, key: str, model: str) -> int | None:
    """An optional integer field (bool is refused)."""
    value = d.get(key)
    if value is not None and type(value) is not int:
        raise _bad(model, key, value)
    return value


def as_mapping(value: Any, model: str) -> Json:
    """A nested JSON object, or a malformed-frame error."""
    if not isinstance(value, dict):
        raise AriMalformedFrame(f"{model}: expected an object, got {type(value).__name__}")
    return value


def str_list(value: Any, model: str, key: str) -> list[str]:
    """A list of strings."""
    if not isinstance(value, list) or not all(type(v) is str for v in value):
        raise _bad(model, key, value)
    return value


def parse_ari_time(value: str) -> datetime:
    """ARI's ``2026-11-21T21:12:48.326+0000`` as an aware datetime."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


@dataclass(slots=True, frozen=True)
class CallerID:
    """A caller or connected-line identity."""

    name: str
    number: str

    @classmethod
    def from_json(cls, value: Any) -> CallerID:
        """Build from ARI JSON."""
        d = as_mapping(value, "CallerID")
        return cls(name=opt_str(d, "name", "CallerID", "") or "", number=opt_str(d, "number", "CallerID", "") or "")


@dataclass(slots=True, frozen=True)
class DialplanCEP:
    """A dialplan location (context, extension, priority)."""

    context: str
    exten: str
    priority: int
    app_name: str = ""
    app_data: str = ""

    @classmethod
    def from_json(cls, value: Any) -> DialplanCEP:
        """Build from ARI JSON."""
        d = as_mapping(value, "DialplanCEP")
        return cls(
            context=req_str(d, "context", "DialplanCEP"),
            exten=req_str(d, "exten", "DialplanCEP"),
            priority=opt_int(d, "priority", "DialplanCEP") or 0,
            app_name=opt_str(d, "app_name", "DialplanCEP", "") or "",
            app_data=opt_str(d, "app_data", "DialplanCEP", "") or "",
        )


_NO_CALLER = CallerID("", "")
_NO_DIALPLAN = DialplanCEP("", "", 0)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which
# doubles the cost of building the one Channel nearly every ARI event carries.
@dataclass(slots=True)
class Channel:
    """An ARI channel snapshot."""

    id: str
    name: str
    state: str
    protocol_id: str = ""
    caller: CallerID = _NO_CALLER
    connected: CallerID = _NO_CALLER
    accountcode: str = ""
    dialplan: DialplanCEP = _NO_DIALPLAN
    creationtime: str = ""
    language: str = ""
    channelvars: dict[str, Any] | None = None
    caller_rdnis: str | None = None
    tenantid: str | None = None

    @classmethod
    def from_json(cls, value: Any) -> Channel:
        """Build from ARI JSON (fast path for well-formed input, full checks otherwise)."""
        d = as_mapping(value, "Channel")
        get = d.get
        cid, name, state = get("id"), get("name"), get("state")
        protocol_id, accountcode = get("protocol_id", ""), get("accountcode", "")
        creationtime, language = get("creationtime", ""), get("language", "")
        channelvars, rdnis, tenantid = get("channelvars"), get("caller_rdnis"), get("tenantid")
        if not (type(cid) is str and type(name) is str and type(state) is str
                and type(protocol_id) is str and type(accountcode) is str
                and type(creationtime) is str and type(language) is str
                and (channelvars is None or type(channelvars) is dict)
                and (rdnis is None or type(rdnis) is str)
                and (tenantid is None or type(tenantid) is str)):
            return cls._checked(d)
        caller, connected, dialplan = get("caller"), get("connected"), get("dialplan")
        return cls(
            cid, name, state, protocol_id,
            _NO_CALLER if caller is None else _caller_id(caller),
            _NO_CALLER if connected is None else _caller_id(connected),
            accountcode,
            _NO_DIALPLAN if dialplan is None else _dialplan(dialplan),
            creationtime, language, channelvars, rdnis, tenantid,
        )

    @classmethod
    def _checked(cls, d: Json) -> Channel:
        """The slow path: names the first bad field."""
        channelvars = d.get("channelvars")
        if channelvars is not None and not isinstance(channelvars, dict):
            raise _bad("Channel", "channelvars", channelvars)
        return cls(
            id=req_str(d, "id", "Channel"),
            name=req_str(d, "name", "Channel"),
            state=req_str(d, "state", "Channel"),
            protocol_id=opt_str(d, "protocol_id", "Channel", "") or "",
            accountcode=opt_str(d, "accountcode", "Channel", "") or "",
            creationtime=opt_str(d, "creationtime", "Channel", "") or "",
            language=opt_str(d, "language", "Channel", "") or "",
            channelvars=channelvars,
            caller_rdnis=opt_str(d, "caller_rdnis", "Channel"),
            tenantid=opt_str(d, "tenantid", "Channel"),
            caller=_NO_CALLER if d.get("caller") is None else _caller_id(d["caller"]),
            connected=_NO_CALLER if d.get("connected") is None else _caller_id(d["connected"]),
            dialplan=_NO_DIALPLAN if d.get("dialplan") is None else _dialplan(d["dialplan"]),
        )


# Caller ids and dialplan locations repeat across a call's events: share the (frozen)
# instances instead of building new ones each time. Bounded by a plain reset.
_CALLERS: dict[tuple[Any, Any], CallerID] = {}
_DIALPLANS: dict[tuple[Any, ...], DialplanCEP] = {}
_CACHE_LIMIT = 4096


def _caller_id(value: Any) -> CallerID:
    if type(value) is dict:
        key = (value.get("name", ""), value.get("number", ""))
        found = _CALLERS.get(key)
        if found is not None:
            return found
    made = CallerID.from_json(value)
    if len(_CALLERS) >= _CACHE_LIMIT:
        _CALLERS.clear()
    _CALLERS[(made.name, made.number)] = made
    return made


def _dialplan(value: Any) -> DialplanCEP:
    if type(value) is dict:
        key = (value.get("context"), value.get("exten"), value.get("priority"),
               value.get("app_name", ""), value.get("app_data", ""))
        found = _DIALPLANS.get(key)
        if found is not None and type(key[2]) is int:
            return found
    made = DialplanCEP.from_json(value)
    if len(_DIALPLANS) >= _CACHE_LIMIT:
        _DIALPLANS.clear()
    _DIALPLANS[(made.context, made.exten, made.priority, made.app_name, made.app_data)] = made
    return made


@dataclass(slots=True)
class Bridge:
    """An ARI bridge snapshot."""

    id: str
    technology: str = ""
    bridge_type: str = ""
    bridge_class: str = ""
    creator: str = ""
    name: str = ""
    channels: list[str] = field(default_factory=list)
    creationtime: str = ""
    video_mode: str | None = None
    video_source_id: str | None = None
    bridgevars: dict[str, Any] | None = None

    @classmethod
    def from_json(cls, value: Any) -> Bridge:
        """Build from ARI JSON."""
        d = as_mapping(value, "Bridge")
        bridgevars = d.get("bridgevars")
        if bridgevars is not None and not isinstance(bridgevars, dict):
            raise _bad("Bridge", "bridgevars", bridgevars)
        return cls(
            id=req_str(d, "id", "Bridge"),
            technology=opt_str(d, "technology", "Bridge", "") or "",
            bridge_type=opt_str(d, "bridge_type", "Bridge", "") or "",
            bridge_class=opt_str(d, "bridge_class", "Bridge", "") or "",
            creator=opt_str(d, "creator", "Bridge", "") or "",
            name=opt_str(d, "name", "Bridge", "") or "",
            channels=str_list(d.get("channels", []), "Bridge", "channels"),
            creationtime=opt_str(d, "creationtime", "Bridge", "") or "",
            video_mode=opt_str(d, "video_mode", "Bridge"),
            video_source_id=opt_str(d, "video_source_id", "Bridge"),
            bridgevars=bridgevars,
        )


def _target(uri: str) -> tuple[str, str]:
    kind, _, ident = uri.partition(":")
    return kind, ident


@dataclass(slots=True, frozen=True)
class LiveRecording:
    """A recording in progress (or just finished)."""

    name: str
    format: str
    state: str
    target_uri: str = ""
    duration: int | None = None
    talking_duration: int | None = None
    silence_duration: int | None = None
    cause: str | None = None

    @property
    def target(self) -> tuple[str, str]:
        """``("bridge", "sos-1")`` from ``target_uri``."""
        return _target(self.target_uri)

    @classmethod
    def from_json(cls, value: Any) -> LiveRecording:
        """Build from ARI JSON."""
        d = as_mapping(value, "LiveRecording")
        m = "LiveRecording"
        return cls(
            name=req_str(d, "name", m),
            format=req_str(d, "format", m),
            state=req_str(d, "state", m),
            target_uri=opt_str(d, "target_uri", m, "") or "",
            duration=opt_int(d, "duration", m),
            talking_duration=opt_int(d, "talking_duration", m),
            silence_duration=opt_int(d, "silence_duration", m),
            cause=opt_str(d, "cause", m),
        )


@dataclass(slots=True, frozen=True)
class StoredRecording:
    """A recording file Asterisk keeps under its recording directory."""

    name: str
    format: str

    @classmethod
    def from_json(cls, value: Any) -> StoredRecording:
        """Build from ARI JSON."""
        d = as_mapping(value, "StoredRecording")
        return cls(name=req_str(d, "name", "StoredRecording"), format=req_str(d, "format", "StoredRecording"))


@dataclass(slots=True, frozen=True)
class Playback:
    """A media playback on a channel or bridge."""

    id: str
    media_uri: str
    state: str
    target_uri: str = ""
    next_media_uri: str | None = None
    language: str | None = None

    @property
    def target(self) -> tuple[str, str]:
        """``("channel", "1795295568.109")`` from ``target_uri``."""
        return _target(self.target_uri)

    @classmethod
    def from_json(cls, value: Any) -> Playback:
        """Build from ARI JSON."""
        d = as_mapping(value, "Playback")
        m = "Playback"
        return cls(
            id=req_str(d, "id", m),
            media_uri=req_str(d, "media_uri", m),
            state=req_str(d, "state", m),
            target_uri=opt_str(d, "target_uri", m, "") or "",
            next_media_uri=opt_str(d, "next_media_uri", m),
            language=opt_str(d, "language", m),
        )


@dataclass(slots=True, frozen=True)
class Application:
    """A Stasis application as ARI lists it (what it owns and is subscribed to)."""

    name: str
    channel_ids: list[str]
    bridge_ids: list[str]
    endpoint_ids: list[str] = field(default_factory=list)
    device_names: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, value: Any) -> Application:
        """Build from ARI JSON."""
        d = as_mapping(value, "Application")
        m = "Application"
        return cls(
            name=req_str(d, "name", m),
            channel_ids=str_list(d.get("channel_ids", []), m, "channel_ids"),
            bridge_ids=str_list(d.get("bridge_ids", []), m, "bridge_ids"),
            endpoint_ids=str_list(d.get("endpoint_ids", []), m, "endpoint_ids"),
            device_names=str_list(d.get("device_names", []), m, "device_names"),
        )
