"""Faults a test injects into the simulated ARI: a request answered with an error instead.

Real Asterisk answers a request with a 5xx when a module or a driver fails, and with a
404 when the channel went away between an event and the request; tests script both here
(or over the control API) rather than patching the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass
class AriFault:
    """Answer ``times`` requests matching ``method`` and the path pattern with ``status``."""

    method: str
    path: str  # fnmatch pattern on the request path, e.g. /ari/channels/*/answer
    status: int = 500
    message: str = "Internal Server Error"
    times: int = 1

    def to_json(self) -> dict[str, object]:
        return {"method": self.method, "path": self.path, "status": self.status,
                "message": self.message, "times": self.times}


class Faults:
    """The faults waiting for their request, in the order they were added."""

    def __init__(self) -> None:
        self.pending: list[AriFault] = []

    def fail(self, method: str, path: str, *, status: int = 500,
             message: str = "Internal Server Error", times: int = 1) -> AriFault:
        """The next ``times`` ``method`` requests on ``path`` answer ``status``."""
        fault = AriFault(method.upper(), path, status, message, times)
        self.pending.append(fault)
        return fault

    def take(self, method: str, path: str) -> AriFault | None:
        """The fault this request meets, if any (used up after ``times`` requests)."""
        for fault in self.pending:
            if fault.method == method.upper() and fnmatchcase(path, fault.path):
                fault.times -= 1
                if fault.times <= 0:
                    self.pending.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        self.pending.clear()
