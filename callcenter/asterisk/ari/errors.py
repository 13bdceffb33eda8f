"""ARI errors: one class per HTTP status Asterisk 22 answers, all under :class:`AriError`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class AriError(Exception):
    """An ARI request failed; carries the status, Asterisk's message and the request."""

    error_id = "ari_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        params: Mapping[str, str] | None = None,
        node: str = "",
        body: Any = None,
    ) -> None:
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.params = dict(params or {})
        self.node = node
        self.body = body
        where = f"{method} {path}".strip()
        super().__init__(f"[{node}] {where} -> {status}: {message}" if where else message)

    @property
    def details(self) -> dict[str, Any]:
        """What a log line or an API error body needs."""
        return {
            "error_id": self.error_id,
            "status": self.status,
            "message": self.message,
            "method": self.method,
            "path": self.path,
            "node": self.node,
        }


class AriConnectionError(AriError):
    """Asterisk could not be reached, or the request timed out (no HTTP status)."""

    error_id = "ari_unreachable"


class AriClientError(AriError):
    """A 4xx status not covered by a narrower class."""

    error_id = "ari_client_error"


class AriBadRequest(AriClientError):
    """400: missing or invalid parameter (also 'Channel not found' on addChannel)."""

    error_id = "ari_bad_request"


class AriUnauthorized(AriClientError):
    """401: wrong or missing credentials."""

    error_id = "ari_unauthorized"


class AriNotFound(AriClientError):
    """404: channel, bridge, recording, playback or resource not found."""

    error_id = "ari_not_found"


class AriMethodNotAllowed(AriClientError):
    """405: the resource does not take this method."""

    error_id = "ari_method_not_allowed"


class AriConflict(AriClientError):
    """409: e.g. channel not in Stasis, bridge id exists, recording name exists."""

    error_id = "ari_conflict"


class AriPreconditionFailed(AriClientError):
    """412: e.g. playback control in a state that does not allow it."""

    error_id = "ari_precondition_failed"


class AriUnprocessable(AriClientError):
    """422: e.g. channel not in this bridge, unknown recording format."""

    error_id = "ari_unprocessable"


class AriServerError(AriError):
    """5xx: Asterisk failed (e.g. 500 'Allocation failed' for an unknown endpoint)."""

    error_id = "ari_server_error"


class AriUnavailable(AriServerError):
    """503: Asterisk is not ready (e.g. still booting)."""

    error_id = "ari_unavailable"


class AriMalformedResponse(AriError):
    """Asterisk answered 2xx with a body that does not fit the expected model."""

    error_id = "ari_malformed_response"


_BY_STATUS: dict[int, type[AriError]] = {
    400: AriBadRequest,
    401: AriUnauthorized,
    404: AriNotFound,
    405: AriMethodNotAllowed,
    409: AriConflict,
    412: AriPreconditionFailed,
    422: AriUnprocessable,
    503: AriUnavailable,
}


def error_for_status(status: int) -> type[AriError]:
    """The exception class for an HTTP status."""
    cls = _BY_STATUS.get(status)
    if cls is not None:
        return cls
    if 400 <= status < 500:
        return AriClientError
    if status >= 500:
        return AriServerError
    return AriError


def error_message(body: Any, fallback: str) -> str:
    """Asterisk's error text: ``{"message": ...}``, or ``{"error": ...}`` for 500 'Allocation failed'."""
    if isinstance(body, Mapping):
        for key in ("message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return fallback


class AriMalformedFrame(ValueError):
    """A WebSocket frame that is not a usable ARI event (not JSON, no type, wrong types)."""

    def __init__(self, reason: str, frame: str | bytes | None = None) -> None:
        self.reason = reason
        self.frame = frame
        super().__init__(reason)
