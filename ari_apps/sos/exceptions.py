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
