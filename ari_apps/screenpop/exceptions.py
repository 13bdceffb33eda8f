"""The screen-pop's domain errors, as the console and the API report them."""

from __future__ import annotations

from callcenter.errors import DomainError


class CallNotFound(DomainError):
    """No stored call with that id, or not one this user was rung for or took."""

    error_id = "call-not-found"
    status = 404
