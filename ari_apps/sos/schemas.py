"""What the SOS API answers (and so what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class LegView(BaseModel):
    """One call leg of an incident."""

    id: str
    role: str
    name: str
    number: str
    state: str
    cause: int | None
    cause_text: str | None
    created_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None


class TimelineEntry(BaseModel):
    """One step of an incident's timeline."""

    at: datetime
    kind: str
    actor: str
    detail: dict[str, Any]


class NotificationView(BaseModel):
    """One SMS or email sent about the incident."""

    channel: str
    recipient: str
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class HandlerView(BaseModel):
    """A console user on an incident: ``joined``, ``joining`` (ringing), ``acknowledged``."""

    user_id: int | None
    name: str
    role: str
    how: str


class IncidentSummary(BaseModel):
    """An incident as listed; ``acknowledged`` by the user asking, ``handlers`` for all."""

    id: str
    kind: str
    status: str
    elder_id: int | None
    elder_name: str | None
    identified: bool
    caller_number: str
    started_at: datetime
    first_answer_at: datetime | None
    ended_at: datetime | None
    outcome: str | None
    acknowledged: bool = False
    handlers: list[HandlerView] = []


class IncidentList(BaseModel):
    """Incidents visible to the user, newest first."""

    incidents: list[IncidentSummary]


class IncidentView(IncidentSummary):
    """An incident with everything that happened in it."""

    device_id: str | None
    recording_name: str | None
    work_order_number: str | None
    legs: list[LegView]
    timeline: list[TimelineEntry]
    notifications: list[NotificationView]
    live: dict[str, Any] | None


class IncidentListQuery(BaseModel):
    """Filters of the incident list."""

    status: str = "active"
    limit: int = 50


class JoinResult(BaseModel):
    """The softphone leg the product is ringing to join the user in."""

    incident: str
    leg: str
    endpoint: str


class AckResult(BaseModel):
    """The user's acknowledgement of an incident; ``new`` when it changed something."""

    incident: str
    new: bool
