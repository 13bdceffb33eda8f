"""The care feature's domain errors, as the console, the API and the CLI report them."""

from __future__ import annotations

from callcenter.errors import DomainError


class InvalidPlan(DomainError):
    """A care plan that cannot be kept: a bad time, a date in the past, a missing medicine."""

    error_id = "invalid-care-plan"
    status = 422


class ElderNotFound(DomainError):
    """No such elder (or one outside the user's jurisdiction)."""

    error_id = "elder-not-found"
    status = 404


class NoPhone(DomainError):
    """The elder has no phone number to call."""

    error_id = "elder-has-no-phone"
    status = 422


class BadNumber(DomainError):
    """The elder's number is not a mainland mobile or a fixed line with its area code."""

    error_id = "bad-phone-number"
    status = 422


class QuietHours(DomainError):
    """A call now would ring in the quiet hours or outside the elder's own hours."""

    error_id = "quiet-hours"
    status = 409


class ElderInactive(DomainError):
    """The elder is suspended or deceased: nobody calls them."""

    error_id = "elder-inactive"
    status = 409


class TaskNotFound(DomainError):
    """No such care call."""

    error_id = "care-call-not-found"
    status = 404


class CallControlUnavailable(DomainError):
    """No process with call control took the request in time."""

    error_id = "call-control-unavailable"
    status = 503


class InvalidBroadcast(DomainError):
    """A weather warning that cannot be sent: no message, a huge one, a past ``until``."""

    error_id = "invalid-care-broadcast"
    status = 422


class AreaNotFound(DomainError):
    """No area with that code."""

    error_id = "area-not-found"
    status = 404


class AreaOutOfScope(DomainError):
    """The area is outside the operator's own area."""

    error_id = "area-out-of-jurisdiction"
    status = 403


class NobodyToCall(DomainError):
    """No active elder with a phone in the area and its sub-areas."""

    error_id = "no-elders-to-call"
    status = 422


class BroadcastNotFound(DomainError):
    """No such broadcast (or one outside the user's area)."""

    error_id = "care-broadcast-not-found"
    status = 404


class BroadcastOver(DomainError):
    """The broadcast was cancelled already."""

    error_id = "care-broadcast-cancelled"
    status = 409
