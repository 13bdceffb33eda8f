"""Work orders: every request, alarm or SOS becomes one with a unique identifier (E A.1.3)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class WorkOrderType(enum.StrEnum):
    """What a work order is for."""

    SOS = "sos"
    ALARM = "alarm"
    SERVICE = "service"
    CONSULT = "consult"


class WorkOrderStatus(enum.StrEnum):
    """The closed loop of B §6: accept → review → dispatch → serve → return visit → close."""

    ACCEPTED = "accepted"
    REVIEWING = "reviewing"
    DISPATCHED = "dispatched"
    IN_SERVICE = "in_service"
    RETURNED = "returned"
    VISITED = "visited"
    CLOSED = "closed"



class WorkOrder(Base):
    """One work order; ``number`` is its unique, human-readable identifier."""

    __tablename__ = "work_orders"
    __table_args__ = (
        CheckConstraint(check_in("type", WorkOrderType), name="type"),
        CheckConstraint(check_in("status", WorkOrderStatus), name="status"),
        Index("ix_work_orders_status_due", "status", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=WorkOrderStatus.ACCEPTED.value)
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
