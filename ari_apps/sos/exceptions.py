"""The SOS feature's domain errors, as the console and the API report them."""

from __future__ import annotations

from callcenter.errors import DomainError


class IncidentNotVisible(DomainError):
    """No such incident, or one outside the user's jurisdiction."""

    error_id = "incident-not-found"
    status = 404


class IncidentNotActive(DomainError):
    """The incident's conference has ended (or no process runs it any more)."""

    error_id = "incident-not-active"
    status = 409


class CallControlUnavailable(DomainError):
    """This process runs no call control (``--role calls``)."""

    error_id = "call-control-unavailable"
    status = 503


class NoSoftphone(DomainError):
    """The user has no softphone endpoint to ring."""

    error_id = "no-softphone"
    status = 422


class BriefingNotFound(DomainError):
    """No such spoken file: a wrong name, or its incident has ended."""

    error_id = "briefing-not-found"
    status = 404


class NotAConsoleUser(DomainError):
    """An API client acknowledging: only a console user has pops to acknowledge."""

    error_id = "not-a-console-user"
    status = 422


class LegNotFound(DomainError):
    """No leg of that id in the incident."""

    error_id = "leg-not-found"
    status = 404


class LegNotLive(DomainError):
    """The leg is not on the line (any more): nothing to hang up or mute."""

    error_id = "leg-not-live"
    status = 409


class ElderLegSupervisorOnly(DomainError):
    """Only a supervisor may hang up the elder's own call."""

    error_id = "elder-leg-supervisor-only"
    status = 403


class ContactAlreadyCalled(DomainError):
    """That number is already being called, or on the line, in this incident."""

    error_id = "contact-already-called"
    status = 409


class RoleNotReady(DomainError):
    """The caller is still being identified: the role's contacts are not known yet."""

    error_id = "role-not-ready"
    status = 409
