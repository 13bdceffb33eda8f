"""SOS incidents, their call legs and their timeline."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class IncidentStatus(enum.StrEnum):
    """An incident is active until its conference ends."""

    ACTIVE = "active"
    ENDED = "ended"


class LegRole(enum.StrEnum):
    """Who a call leg reaches: every role of an SOS is dialled at once."""

    ELDER = "elder"
    EMERGENCY = "emergency"
    DOCTOR = "doctor"
    KIN = "kin"
    SOCIAL_WORKER = "social_worker"
    AGENT = "agent"
    SUPERVISOR = "supervisor"


class LegState(enum.StrEnum):
    """A leg's life: dialling → ringing → answered → joined → left, or failed."""

    DIALING = "dialing"
    RINGING = "ringing"
    ANSWERED = "answered"
    JOINED = "joined"
    LEFT = "left"
    FAILED = "failed"


class Disposition(enum.StrEnum):
    """How staff closed an incident by hand (the list the console offers, defined once)."""

    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"
    TRANSFERRED_TO_120 = "transferred_to_120"
    ELDER_UNREACHABLE = "elder_unreachable"
    OTHER = "other"


class Incident(Base):
    """One SOS or alarm incident: one conference bridge, one recording, one timeline."""

    __tablename__ = "sos_incidents"
    __table_args__ = (
        CheckConstraint(check_in("status", IncidentStatus), name="status"),
        CheckConstraint(f"disposition IS NULL OR {check_in('disposition', Disposition)}",
                        name="disposition"),
        Index("ix_sos_incidents_status_started", "status", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), default="sos")
    status: Mapped[str] = mapped_column(String(16), default=IncidentStatus.ACTIVE.value)
    elder_id: Mapped[int | None] = mapped_column(
        ForeignKey("elders.id", ondelete="RESTRICT"), index=True
    )
    identified: Mapped[bool] = mapped_column(Boolean, default=False)
    caller_number: Mapped[str] = mapped_column(String(64), default="")
    device_id: Mapped[str | None] = mapped_column(String(64))
    area_path: Mapped[str | None] = mapped_column(String(255))
    node: Mapped[str] = mapped_column(String(64), default="default")
    bridge_id: Mapped[str] = mapped_column(String(64))
    recording_name: Mapped[str | None] = mapped_column(String(128))
    work_order_number: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_answer_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()
    #: Set when staff end the incident by hand (``POST /api/sos/{incident}/end``).
    disposition: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(1000))
    ended_by: Mapped[str | None] = mapped_column(String(64))


class IncidentLeg(Base):
    """One call leg of an incident; its id is the Asterisk channel id we chose."""

    __tablename__ = "sos_legs"
    __table_args__ = (
        CheckConstraint(check_in("role", LegRole), name="role"),
        CheckConstraint(check_in("state", LegState), name="state"),
    )

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("sos_incidents.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16))
    contact_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), default="")
    number: Mapped[str] = mapped_column(String(64), default="")
    state: Mapped[str] = mapped_column(String(16), default=LegState.DIALING.value)
    cause: Mapped[int | None] = mapped_column(Integer)
    cause_text: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column()
    ended_at: Mapped[datetime | None] = mapped_column()


class IncidentEvent(Base):
    """One step of an incident's timeline; ``key`` makes a journal replay idempotent."""

    __tablename__ = "sos_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    incident_id: Mapped[str] = mapped_column(
        ForeignKey("sos_incidents.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column()
    kind: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(64), default="system")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IncidentAck(Base):
    """A console user has seen an incident (the pop's button, joining, opening its page):
    that user's consoles stop popping it until a new alert (see ``ari_apps/sos/acks.py``)."""

    __tablename__ = "sos_acks"

    incident_id: Mapped[str] = mapped_column(
        ForeignKey("sos_incidents.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
