"""The workflow store's tables: work orders, consults, complaints, their timeline,
supervision (督办) and urgings, the calendar's overrides and complaint-call holds.

``work_orders`` predates the closed loop (the SOS opens one as ``accepted``); migration
0010 extends it. Every case row carries ``version`` for optimistic concurrency: a move is
``UPDATE … WHERE id = ? AND version = ?`` and the loser gets a conflict.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow
from workflow.machines import COMPLAINT, CONSULT, WORK_ORDER


class WorkOrderType(enum.StrEnum):
    """What a work order is for."""

    SOS = "sos"
    ALARM = "alarm"
    SERVICE = "service"
    CONSULT = "consult"




class ComplaintSource(enum.StrEnum):
    """Who brought the complaint (forwarded ones carry their own reply deadline)."""

    DIRECT = "direct"
    CONSUMER_ASSOCIATION = "consumer_association"
    AUTHORITY = "authority"
    MEDIA = "media"


class SupervisionReason(enum.StrEnum):
    """Why a case is supervised (B §6.6, E A.5)."""

    OVERDUE = "overdue"
    REPEATED = "repeated"
    UNSATISFIED = "unsatisfied"


class DayKind(enum.StrEnum):
    """A calendar override: a day off, or a (make-up) working day."""

    HOLIDAY = "holiday"
    WORKDAY = "workday"


def _checked(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class WorkOrder(Base):
    """One work order; ``number`` is its unique, human-readable identifier."""

    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint(check_in("type", WorkOrderType), name="type"),
        CheckConstraint(_checked("status", WORK_ORDER.states), name="status"),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction"),
        Index("ix_work_orders_status_due", "status", "due_at"),
        Index("ix_work_orders_created", "created_at"),
        Index("ix_work_orders_area_created", "area_path", "created_at",
              postgresql_ops={"area_path": "varchar_pattern_ops"}),
        Index("ix_work_orders_provider_status", "provider_id", "status"),
        Index("ix_work_orders_elder_type", "elder_id", "service_type", "created_at"),
        # A number prefix (WO-2026…) by LIKE: PostgreSQL needs the pattern operator class.
        Index("ix_work_orders_number_prefix", "number",
              postgresql_ops={"number": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="accepted")
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    elder_id: Mapped[int | None] = mapped_column(ForeignKey("elders.id", ondelete="RESTRICT"), index=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    recording_name: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    due_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    # Added by 0010: the closed loop.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    area_path: Mapped[str | None] = mapped_column(String(255))
    call_id: Mapped[str | None] = mapped_column(String(64))
    service_type: Mapped[str | None] = mapped_column(String(32))
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"))
    provider_reason: Mapped[str | None] = mapped_column(String(255))
    provider_override: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    staff_name: Mapped[str | None] = mapped_column(String(100))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    paused_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime | None] = mapped_column()


class CaseColumns:
    """What a consult and a complaint share (a work order has the same, by 0003 and 0010)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    status: Mapped[str] = mapped_column(String(24), default="received")
    version: Mapped[int] = mapped_column(Integer, default=1)
    elder_id: Mapped[int | None] = mapped_column(ForeignKey("elders.id", ondelete="RESTRICT"), index=True)
    area_path: Mapped[str | None] = mapped_column(String(255))
    call_id: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column()
    due_at: Mapped[datetime | None] = mapped_column()
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    paused_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()


class Consult(CaseColumns, Base):
    """A consultation (咨询): answered at once, or within 48 hours (B §6.1.2)."""

    __tablename__ = "consults"
    __table_args__ = (
        CheckConstraint(_checked("status", CONSULT.states), name="status"),
        Index("ix_consults_area_created", "area_path", "created_at",
              postgresql_ops={"area_path": "varchar_pattern_ops"}),
    )


class Complaint(CaseColumns, Base):
    """A complaint case (B §6.5, E A.6): handled within 5 working days, or by the deadline
    the forwarding body set."""

    __tablename__ = "complaints"
    __table_args__ = (
        CheckConstraint(_checked("status", COMPLAINT.states), name="status"),
        CheckConstraint(check_in("source", ComplaintSource), name="source"),
        CheckConstraint("satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5", name="satisfaction"),
        Index("ix_complaints_area_created", "area_path", "created_at",
              postgresql_ops={"area_path": "varchar_pattern_ops"}),
    )

    source: Mapped[str] = mapped_column(String(24), default=ComplaintSource.DIRECT.value)
    provider_id: Mapped[int | None] = mapped_column(ForeignKey("providers.id", ondelete="RESTRICT"), index=True)
    work_order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id", ondelete="SET NULL"))
    satisfaction: Mapped[int | None] = mapped_column(Integer)
    valid: Mapped[bool | None] = mapped_column(Boolean)


class CaseEvent(Base):
    """A case's timeline: who, when, from → to, why (the audit trail has the same, chained)."""

    __tablename__ = "case_events"
    __table_args__ = (Index("ix_case_events_case", "case_kind", "case_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class Supervision(Base):
    """督办: raised once per case and reason; urged by phone or online until closed."""

    __tablename__ = "supervisions"
    __table_args__ = (
        UniqueConstraint("case_kind", "case_id", "reason"),
        CheckConstraint(check_in("reason", SupervisionReason), name="reason"),
        Index("ix_supervisions_raised", "raised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_kind: Mapped[str] = mapped_column(String(16))
    case_id: Mapped[int] = mapped_column(Integer)
    case_number: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))
    open: Mapped[bool] = mapped_column(Boolean, default=True)
    area_path: Mapped[str | None] = mapped_column(String(255))
    provider_id: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)


class Urging(Base):
    """One urging action (催办) on a supervision: by phone or online, with a note."""

    __tablename__ = "urgings"
    __table_args__ = (CheckConstraint("channel IN ('phone', 'online')", name="channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    supervision_id: Mapped[int] = mapped_column(ForeignKey("supervisions.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(Text, default="")


class CalendarDay(Base):
    """An admin's override of one day, or a day of an imported year's arrangement."""

    __tablename__ = "calendar_days"
    __table_args__ = (
        CheckConstraint(check_in("kind", DayKind), name="kind"),
        CheckConstraint("source IN ('override', 'import')", name="source"),
    )

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(64), default="")
    source: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarYear(Base):
    """A year whose official arrangement an admin imported (its deadlines are not provisional)."""

    __tablename__ = "calendar_years"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)


class ComplaintCall(Base):
    """A call linked to a complaint; its recording is held while the complaint is open."""

    __tablename__ = "complaint_calls"
    __table_args__ = (UniqueConstraint("complaint_id", "call_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    complaint_id: Mapped[int] = mapped_column(ForeignKey("complaints.id", ondelete="CASCADE"), index=True)
    call_id: Mapped[str] = mapped_column(String(64))
    recording_name: Mapped[str | None] = mapped_column(String(128), index=True)
    linked_by: Mapped[str] = mapped_column(String(64))
    linked_at: Mapped[datetime] = mapped_column(default=utcnow)
