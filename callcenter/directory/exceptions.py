"""Directory errors: each carries a stable error id, an HTTP status and details."""

from __future__ import annotations

from callcenter.errors import DomainError


class DirectoryError(DomainError):
    """Base of the directory's domain errors."""

    error_id = "directory-error"


class ElderNotVisible(DirectoryError):
    """No such elder, or one outside the user's jurisdiction: the two are not told apart."""

    error_id = "elder-not-found"
    status = 404


class InvalidSearch(DirectoryError):
    """A search query that cannot be run (too short, too long)."""

    error_id = "invalid-search"
    status = 422


class IdNumberMissing(DirectoryError):
    """The elder has no ID number on file, so there is nothing to reveal."""

    error_id = "id-number-missing"
    status = 404
