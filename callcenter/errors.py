"""The base of every domain error: a stable error id, an HTTP status and details."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A domain failure the console and the API report as ``error_id`` with ``status``."""

    error_id = "error"
    status = 400

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
