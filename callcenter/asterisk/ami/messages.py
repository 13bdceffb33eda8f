"""What the AMI client hands out: events, action responses, Originate outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: AMI OriginateResponse ``Reason`` codes as Asterisk 22 reports them (traces: ami-originate).
ORIGINATE_REASONS = {0: "failed", 1: "hangup", 3: "no_answer", 4: "answered", 5: "busy",
                     8: "congestion"}


@dataclass(slots=True, frozen=True)
class AmiEvent:
    """One AMI event; ``headers`` is case-insensitive (repeated headers are lists).

    ``seq`` is the arrival order on this client: handlers of different calls or queues
    run concurrently, so sorting by ``seq`` recovers the order Asterisk sent them in.
    """

    name: str
    node: str
    headers: Mapping[str, Any] = field(repr=False)
    seq: int = 0

    def get(self, key: str, default: str = "") -> Any:
        """A header value, case-insensitively."""
        value = self.headers.get(key)
        return default if value is None else value

    def __getitem__(self, key: str) -> Any:
        return self.headers[key]

    def order_key(self) -> str:
        """Events of one call (``Linkedid``), else of one ``Queue``, are handled in order."""
        headers = self.headers
        for header in ("Linkedid", "Queue"):
            value = headers.get(header)
            if isinstance(value, str) and value:
                return f"{header.lower()}:{value}"
        return "ami"


@dataclass(slots=True, frozen=True)
class AmiResponse:
    """An action's response, with the events of an event list (``*Complete`` last)."""

    node: str
    action: str
    action_id: str
    response: str
    message: str
    headers: Mapping[str, Any] = field(repr=False)
    events: list[AmiEvent] = field(default_factory=list, repr=False)

    @property
    def success(self) -> bool:
        """True for Success/Follows/Goodbye."""
        return self.response in ("Success", "Follows", "Goodbye")

    def items(self, name: str | None = None) -> list[AmiEvent]:
        """The listed events, without the ``*Complete`` terminator (optionally of one name)."""
        return [e for e in self.events
                if not e.name.endswith("Complete") and (name is None or e.name == name)]


@dataclass(slots=True, frozen=True)
class OriginateResult:
    """Outcome of an async Originate: the matching OriginateResponse event."""

    success: bool
    reason: int
    channel: str
    uniqueid: str | None
    event: AmiEvent | None
    #: The action's own answer ('Originate successfully queued'), before the event.
    response: AmiResponse | None = None

    @property
    def outcome(self) -> str:
        """'answered', 'busy', 'congestion', 'no_answer', 'failed' ..."""
        return ORIGINATE_REASONS.get(self.reason, f"reason_{self.reason}")
