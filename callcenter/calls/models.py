"""The call record (B §5.10) and the agent state trail the supervisor's figures come from."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class CallKind(enum.StrEnum):
    """Which flow a call belongs to."""

    HOTLINE = "hotline"  # an inbound call to 12349 through the queue
    CALLBACK = "callback"  # the product calling back an abandoned caller
    CLICK_TO_DIAL = "click_to_dial"  # an agent calling out from the console
    SOS_LEG = "sos_leg"  # one leg of an SOS conference
    CARE = "care"  # a scheduled care call or reminder
    TRANSFER = "transfer"  # the outside leg of a transfer to a number


class CallDirection(enum.StrEnum):
    """Seen from the centre."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class CallOutcome(enum.StrEnum):
    """How a call ended; NULL while it runs."""

    ANSWERED = "answered"  # an agent (or the called party) answered
    ABANDONED = "abandoned"  # the caller hung up waiting, after the short-abandon threshold
    SHORT_ABANDON = "short_abandon"  # ... before it (counted apart, still called back)
    OVERFLOW = "overflow"  # left the queue by timeout or out of hours, to its fallback
    TRANSFERRED = "transferred"  # answered here, then handed on (the new part is its own row)
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"


def _tail_of_number(context: Any) -> str:
    return str(context.get_current_parameters().get("caller_number") or "")[::-1]


class Call(Base):
    """One call: who, where it waited, who took it, and its times (all UTC).

    ``id`` is the product's own id (Asterisk's ``linkedid`` of the call for inbound calls,
    or the channel id the product chose when it originated). Durations are whole seconds,
    filled in as the call moves; the supervisor's figures read them, so they are the truth.
    """

    __tablename__ = "calls"
    __table_args__ = (
        CheckConstraint(check_in("kind", CallKind), name="kind"),
        CheckConstraint(check_in("direction", CallDirection), name="direction"),
        CheckConstraint(f"outcome IS NULL OR {check_in('outcome', CallOutcome)}", name="outcome"),
        Index("ix_calls_started_at", "started_at"),
        Index("ix_calls_queue_started_at", "queue", "started_at"),
        Index("ix_calls_agent_started_at", "agent", "started_at"),
        Index("ix_calls_elder_started_at", "elder_id", "started_at"),
        # A number's calls (its reversed digits: "ends with" searches too), by time: the
        # route's repeat check reads the last minutes of one caller (migration 0020).
        Index("ix_calls_caller_tail", "caller_tail", "started_at"),
        # The continuations (transfer parts, callbacks) by time: few rows, so the supervisor's
        # figures find a window's parts without walking parent_id (migration 0012).
        Index("ix_calls_parts_started_at", "started_at",
              postgresql_where=text("parent_id IS NOT NULL"),
              sqlite_where=text("parent_id IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    direction: Mapped[str] = mapped_column(String(8))
    caller_number: Mapped[str] = mapped_column(String(32), default="")
    #: The caller's number reversed, for "ends with" searches on an index and for a
    #: number's calls (the route's repeat check, the pop's last calls). An insert that
    #: names the number and not its tail gets the tail from the number.
    caller_tail: Mapped[str] = mapped_column(String(32), default=_tail_of_number)
    called_number: Mapped[str] = mapped_column(String(32), default="")
    elder_id: Mapped[int | None] = mapped_column(ForeignKey("elders.id", ondelete="RESTRICT"))
    #: elder | kin | provider | staff | unknown (what routing decided the caller is).
    caller_kind: Mapped[str] = mapped_column(String(16), default="unknown")
    incident_id: Mapped[str | None] = mapped_column(String(32), index=True)
    queue: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    #: The username of the agent who answered (the last one, after a transfer to an agent).
    agent: Mapped[str | None] = mapped_column(String(64))
    #: The call this one continues (a transfer's new part, a callback's abandon).
    parent_id: Mapped[str | None] = mapped_column(String(64), index=True)
    #: The care call this hotline call came from: its elder pressed 2 to talk to someone
    #: (a link, not a parent: the hotline call is offered and answered like any other).
    care_call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column()
    #: When Asterisk took the originate of a call the product placed (a care call): from
    #: then on it may ring. Unset on a care call's row, the attempt never reached the PBX.
    dialled_at: Mapped[datetime | None] = mapped_column()
    answered_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    wait_seconds: Mapped[int] = mapped_column(Integer, default=0)
    talk_seconds: Mapped[int] = mapped_column(Integer, default=0)
    hold_seconds: Mapped[int] = mapped_column(Integer, default=0)
    wrapup_seconds: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str | None] = mapped_column(String(16))
    hangup_cause: Mapped[str | None] = mapped_column(String(64))
    disposition: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(String(1000), default="")
    recording_name: Mapped[str | None] = mapped_column(String(128))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AgentEventKind(enum.StrEnum):
    """A change in an agent's availability; occupancy and time in state come from these."""

    LOGIN = "login"
    LOGOUT = "logout"
    PAUSE = "pause"
    UNPAUSE = "unpause"


class AgentEvent(Base):
    """An append-only trail of logins and pauses per agent and queue."""

    __tablename__ = "agent_events"
    __table_args__ = (
        CheckConstraint(check_in("kind", AgentEventKind), name="kind"),
        Index("ix_agent_events_agent_at", "agent", "at"),
        # The supervisor's view reads a window of every agent's events (migration 0012).
        Index("ix_agent_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    agent: Mapped[str] = mapped_column(String(64))
    queue: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    #: A pause's reason, and whether it counts as productive work (B: wrap-up, training …).
    reason: Mapped[str] = mapped_column(String(64), default="")
    productive: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime] = mapped_column(default=utcnow)
