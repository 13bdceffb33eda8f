"""The hotline's errors: an id, an HTTP status and details, as the console shows them."""

from __future__ import annotations

from callcenter.errors import DomainError


class HotlineError(DomainError):
    """Something the hotline refuses."""

    error_id = "hotline-error"
    status = 409


class UnknownQueue(HotlineError):
    """A queue the hotline does not serve."""

    error_id = "unknown-queue"
    status = 422


class UnknownPauseReason(HotlineError):
    """A pause reason that is not in the settings."""

    error_id = "unknown-pause-reason"
    status = 422


class NoSoftphone(HotlineError):
    """The user has no softphone endpoint in their profile."""

    error_id = "no-softphone"
    status = 409


class SoftphoneUnregistered(HotlineError):
    """Asterisk reports the agent's softphone as unavailable (not registered)."""

    error_id = "softphone-unregistered"
    status = 409


class SoftphoneTaken(HotlineError):
    """The softphone of the user's profile is in the queue as another agent."""

    error_id = "softphone-taken"
    status = 409


class NotLoggedIn(HotlineError):
    """The agent is not logged in to any queue."""

    error_id = "agent-not-logged-in"
    status = 409


class CallNotFound(HotlineError):
    """No such call (or not visible to this user)."""

    error_id = "call-not-found"
    status = 404


class CallNotLive(HotlineError):
    """The call is not in a state that allows this action (ended, not answered)."""

    error_id = "call-not-live"
    status = 409


class ConsultNotAnswered(HotlineError):
    """An attended transfer completed before its target answered."""

    error_id = "consult-not-answered"
    status = 409


class TransferFailed(HotlineError):
    """Asterisk refused the transfer, or the target could not be reached."""

    error_id = "transfer-failed"
    status = 502


class PbxUnavailable(HotlineError):
    """Asterisk (AMI) is not reachable now."""

    error_id = "pbx-unavailable"
    status = 503
