"""The recordings feature's domain errors, as the console, the API and the CLI report them."""

from __future__ import annotations

from callcenter.errors import DomainError


class PolicyTooShort(DomainError):
    """A retention setting below the law's minimum (the product refuses to start)."""

    error_id = "retention-too-short"
    status = 500


class RecordingNotFound(DomainError):
    """No such recording, or one the user may not hear (the same answer for both)."""

    error_id = "recording-not-found"
    status = 404


class AudioGone(DomainError):
    """The recording exists but its audio does not (deleted by retention, missing, corrupt)."""

    error_id = "recording-audio-gone"
    status = 410


class LinkInvalid(DomainError):
    """A play or download link that is forged, expired, or another user's."""

    error_id = "recording-link-invalid"
    status = 403


class RangeNotSatisfiable(DomainError):
    """A Range header that cannot be served (beyond the end, several ranges, garbage)."""

    error_id = "range-not-satisfiable"
    status = 416


class StoreUnavailable(DomainError):
    """The recordings directory is gone or not the store (unmounted, wrong path)."""

    error_id = "recordings-store-unavailable"
    status = 503


class StoreFull(DomainError):
    """No space left in the recordings store: the file stays where it was (spool/Asterisk)."""

    error_id = "recordings-store-full"
    status = 507


class InvalidAudio(DomainError):
    """A file that is not a WAV we can read, is empty, or is cut short."""

    error_id = "recording-invalid-audio"
    status = 422


class HoldNotFound(DomainError):
    """No such open hold."""

    error_id = "hold-not-found"
    status = 404


class InvalidHold(DomainError):
    """A hold without a target, a reason, a case, or with an expiry in the past."""

    error_id = "hold-invalid"
    status = 422


class RecordingNotComplete(DomainError):
    """A spool file that reads empty or cut short and changed a moment ago: not taken yet."""

    error_id = "recording-not-complete"
    status = 409
