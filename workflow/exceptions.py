"""The workflow store's domain errors, as the console and the API report them."""

from __future__ import annotations

from callcenter.errors import DomainError


class IllegalTransition(DomainError):
    """The move does not exist, or is not possible from the case's state."""

    error_id = "illegal-transition"
    status = 409


class RoleNotAllowed(DomainError):
    """The actor's role may not make this move."""

    error_id = "role-not-allowed"
    status = 403


class OutsideArea(DomainError):
    """The case is outside the actor's jurisdiction."""

    error_id = "outside-area"
    status = 403


class MissingField(DomainError):
    """The move needs a field that was not given."""

    error_id = "missing-field"
    status = 422


class InvalidField(DomainError):
    """A field's value is not acceptable (a satisfaction out of range, say)."""

    error_id = "invalid-field"
    status = 422


class VersionConflict(DomainError):
    """Somebody else moved the case first: reload it and try again."""

    error_id = "version-conflict"
    status = 409


class CaseNotFound(DomainError):
    """No such case, or one outside the user's jurisdiction."""

    error_id = "case-not-found"
    status = 404


class ProviderNotCovering(DomainError):
    """The provider does not serve the elder's area (or that service type), or is inactive."""

    error_id = "provider-not-covering"
    status = 422


class ElderNotFound(DomainError):
    """No such elder (in the user's jurisdiction)."""

    error_id = "case-elder-not-found"
    status = 422


class CalendarImportError(DomainError):
    """A year's arrangement that cannot be imported (every problem listed)."""

    error_id = "calendar-import-invalid"
    status = 422
