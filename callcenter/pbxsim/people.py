"""Scripted people: how a dialled number or a ``[people]`` extension behaves."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

Behaviour = Literal["answer", "busy", "noanswer", "congestion"]


@dataclass
class Person:
    """A scripted party: rings, then answers, refuses or never answers; may hang up or press keys."""

    behaviour: Behaviour = "answer"
    ring_seconds: float = 0.0  # 0: answers at once, without a Ringing indication
    hangup_after: float | None = None  # seconds after answering; None: stays on the line
    dtmf: str = ""  # digits pressed after answering
    dtmf_after: float = 1.0
    #: Press the digits again every so many seconds while on the line, as someone asked the
    #: question again does (None: once).
    dtmf_again: float | None = None
    # The [people] extensions of the traces' dialplan name the apps they run, which show
    # in ChannelDialplan events; PJSIP parties have no dialplan.
    dialplan_apps: bool = False
    busy_app: str = field(default="Busy", repr=False)

    @classmethod
    def from_json(cls, data: dict[str, object]) -> Person:
        """Build from the control API's JSON (unknown keys are an error)."""
        allowed = {"behaviour", "ring_seconds", "hangup_after", "dtmf", "dtmf_after",
                   "dtmf_again"}
        extra = set(data) - allowed
        if extra:
            raise ValueError(f"unknown fields: {', '.join(sorted(extra))}")
        behaviour = str(data.get("behaviour", "answer"))
        if behaviour not in ("answer", "busy", "noanswer", "congestion"):
            raise ValueError("behaviour must be answer, busy, noanswer or congestion")
        hangup, again = data.get("hangup_after"), data.get("dtmf_again")
        if again is not None and not 0 < float(again) < math.inf:  # type: ignore[arg-type]
            # 0, below 0 or NaN would press again at once, for ever, in simulated time
            raise ValueError("dtmf_again must be a number of seconds above 0")
        return cls(
            behaviour=behaviour,  # type: ignore[arg-type]
            ring_seconds=float(data.get("ring_seconds", 0) or 0),  # type: ignore[arg-type]
            hangup_after=None if hangup is None else float(hangup),  # type: ignore[arg-type]
            dtmf=str(data.get("dtmf", "")),
            dtmf_after=float(data.get("dtmf_after", 1.0)),  # type: ignore[arg-type]
            dtmf_again=None if again is None else float(again),  # type: ignore[arg-type]
        )

    def to_json(self) -> dict[str, object]:
        """The control API's view."""
        return {"behaviour": self.behaviour, "ring_seconds": self.ring_seconds,
                "hangup_after": self.hangup_after, "dtmf": self.dtmf,
                "dtmf_after": self.dtmf_after, "dtmf_again": self.dtmf_again}


def _dp(**kw: object) -> Person:
    return Person(dialplan_apps=True, **kw)  # type: ignore[arg-type]


# The traces README's dialplan, extension by extension (context -> exten -> person).
DIALPLAN_PEOPLE: dict[str, dict[str, Person]] = {
    "people": {
        "answer": _dp(behaviour="answer", hangup_after=30),
        "answer2": _dp(behaviour="answer", ring_seconds=2, hangup_after=30),
        "busy": _dp(behaviour="busy"),
        "noanswer": _dp(behaviour="noanswer", ring_seconds=60),
        "congestion": _dp(behaviour="congestion"),
        "hangup_after_3": _dp(behaviour="answer", hangup_after=3),
    },
    "agents-sim": {
        "agent1": _dp(behaviour="answer", ring_seconds=2, hangup_after=10),
        "agent_ring": _dp(behaviour="noanswer", ring_seconds=60),
    },
}

# Extensions that are not people but entry points of the traces' dialplan.
ENTRY_EXTENSIONS = {("people", "phone"), ("sos-entry", "sos"), ("queue-entry", "hotline"),
                    ("agi-test", "agi"),
                    # The hotline's entry, where care calls go on when the elder presses 2.
                    ("hotline-entry", "12349")}


class Directory:
    """Scripted people by phone number, with a default for unknown numbers."""

    def __init__(self) -> None:
        self.by_number: dict[str, Person] = {}
        self.default = Person(behaviour="answer", ring_seconds=2)
        #: Softphone endpoints with no registered contact: nothing can ring them.
        self.unregistered: set[str] = set()

    def person(self, number: str) -> Person:
        """The person who answers ``number``."""
        return self.by_number.get(number, self.default)

    def set(self, number: str, person: Person) -> None:
        """Script the person behind ``number``."""
        self.by_number[number] = person


def dialplan_person(context: str, exten: str) -> Person | None:
    """The scripted person of a ``[people]``-style extension, if any."""
    return DIALPLAN_PEOPLE.get(context, {}).get(exten)


#: Contexts of the rendered hotline dialplan (``pbxsim/hotline.py``): every extension exists.
HOTLINE_CONTEXTS = frozenset({"hotline-entry", "hotline-callback", "hotline-transfer",
                              "dial-out"})


def extension_exists(context: str, exten: str) -> bool:
    """Whether the simulated dialplan has ``exten@context``."""
    return (dialplan_person(context, exten) is not None or (context, exten) in ENTRY_EXTENSIONS
            or context in HOTLINE_CONTEXTS)
