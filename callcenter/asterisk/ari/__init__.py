"""ARI adapter: REST resources, typed events, the events WebSocket with reconnect and resync."""

from __future__ import annotations

from callcenter.asterisk.ari.client import (
    AriClient,
    AriSnapshot,
    AriStats,
    ari_client_for,
)
from callcenter.asterisk.ari.errors import (
    AriBadRequest,
    AriClientError,
    AriConflict,
    AriConnectionError,
    AriError,
    AriMalformedFrame,
    AriMalformedResponse,
    AriMethodNotAllowed,
    AriNotFound,
    AriPreconditionFailed,
    AriServerError,
    AriUnauthorized,
    AriUnavailable,
    AriUnprocessable,
)
from callcenter.asterisk.ari.events import *  # noqa: F403 -- the typed events are the API
from callcenter.asterisk.ari.events import EVENT_TYPES, AriEvent, GenericEvent, parse_event
from callcenter.asterisk.ari.models import (
    Application,
    Bridge,
    CallerID,
    Channel,
    DialplanCEP,
    LiveRecording,
    Playback,
    StoredRecording,
)

__all__ = [
    "EVENT_TYPES", "AriBadRequest", "AriClient", "AriClientError", "AriConflict",
    "AriConnectionError", "AriError", "AriEvent", "AriMalformedFrame", "AriMalformedResponse",
    "AriMethodNotAllowed", "AriNotFound", "AriPreconditionFailed", "AriServerError",
    "AriSnapshot", "AriStats", "AriUnauthorized", "AriUnavailable", "AriUnprocessable",
    "Application", "Bridge", "CallerID", "Channel", "DialplanCEP", "GenericEvent",
    "LiveRecording", "Playback", "StoredRecording", "ari_client_for", "parse_event",
    *EVENT_TYPES,
]
