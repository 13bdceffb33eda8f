"""The device alarms the product accepted: each device's alarm id once, with its incident.

A device retries an alarm until it gets an answer, also after the product restarted and
after the incident ended; this table answers such a repeat with the first receipt
instead of a second incident. No foreign key to the incident: its row is written off
the call path and may follow this one.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, utcnow


class DeviceAlarm(Base):
    """One accepted alarm: (device, the device's alarm id) -> the incident it started or joined."""

    __tablename__ = "device_alarms"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    alarm_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))
    via: Mapped[str] = mapped_column(String(8))
    raised_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
