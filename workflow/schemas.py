"""The workflow API's payloads (and so its OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

FieldValue = str | int | bool | None


class LinkedCall(BaseModel):
    """A call a complaint refers to; its recording is held while the complaint is open."""

    call_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    recording_name: str | None = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9_.:/-]+$")


class CaseCreate(BaseModel):
    """A new case (the fields that do not apply to its type are refused)."""

    model_config = {"extra": "forbid"}

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=4000)
    elder_id: int | None = Field(default=None, ge=1)
    call_id: str | None = Field(default=None, max_length=64)
    # Work orders.
    type: Literal["service", "alarm", "sos"] | None = None
    service_type: str | None = Field(default=None, pattern=r"^[a-z_]{1,32}$")
    priority: Literal["normal", "urgent"] | None = None
    incident_id: str | None = Field(default=None, max_length=32)
    recording_name: str | None = Field(default=None, max_length=128)
    # Complaints.
    source: Literal["direct", "consumer_association", "authority", "media"] | None = None
    reply_due_at: datetime | None = Field(
        default=None, description="A forwarded complaint's own reply deadline (with offset).")
    provider_id: int | None = Field(default=None, ge=1)
    work_order_id: int | None = Field(default=None, ge=1)
    calls: list[LinkedCall] = Field(default_factory=list, max_length=20)


class TransitionRequest(BaseModel):
    """A move on a case at the version the client saw."""

    model_config = {"extra": "forbid"}

    action: str = Field(min_length=1, max_length=32, pattern=r"^[a-z_]+$")
    version: int = Field(ge=1)
    fields: dict[str, FieldValue] = Field(default_factory=dict, max_length=12)


class CaseListQuery(BaseModel):
    """Filters of a case list (always within the caller's jurisdiction)."""

    status: str | None = Field(default=None, pattern=r"^[a-z_]{1,24}$")
    type: str | None = Field(default=None, pattern=r"^[a-z_]{1,16}$")
    provider_id: int | None = Field(default=None, ge=1)
    elder_id: int | None = Field(default=None, ge=1)
    area: str | None = Field(default=None, max_length=255, pattern=r"^/[A-Za-z0-9_/-]*$",
                             description="An area path inside the caller's jurisdiction.")
    q: str | None = Field(default=None, max_length=32, description="A number prefix.")
    overdue: bool | None = None
    open: bool | None = None
    before_id: int | None = Field(default=None, ge=1, description="The next page: the last id seen.")
    limit: int = Field(default=50, ge=1, le=200)


class EventView(BaseModel):
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    reason: str
    detail: dict[str, Any]


class SupervisionView(BaseModel):
    id: int
    reason: str
    open: bool
    raised_at: datetime
    urgings: int


class CaseSummary(BaseModel):
    id: int
    number: str
    kind: str
    status: str
    version: int
    title: str
    elder_id: int | None
    area_path: str | None
    created_at: datetime
    due_at: datetime | None
    due_provisional: bool
    paused: bool
    closed_at: datetime | None


class CaseList(BaseModel):
    items: list[CaseSummary]
    next_before_id: int | None


class CaseView(CaseSummary):
    description: str
    details: dict[str, Any]
    call_id: str | None
    elder_name: str | None
    type: str | None = None
    service_type: str | None = None
    provider_id: int | None = None
    provider_name: str | None = None
    provider_reason: str | None = None
    provider_override: bool | None = None
    staff_name: str | None = None
    satisfaction: int | None = None
    source: str | None = None
    valid: bool | None = None
    remaining: str | None = Field(default=None, description="e.g. 剩余 2 个工作日")
    due_text: str | None = Field(default=None, description="The deadline in the centre's time, "
                                 "e.g. 2026-10-10 24:00 (the end of that working day).")
    actions: list[str] = Field(description="The moves the caller may make now.")
    timeline: list[EventView]
    supervisions: list[SupervisionView]
    calls: list[LinkedCall] = Field(default_factory=list)


class UrgeRequest(BaseModel):
    model_config = {"extra": "forbid"}

    channel: Literal["phone", "online"]
    note: str = Field(min_length=1, max_length=1000)


class UrgeResult(BaseModel):
    supervision: int
    urging: int


class ProviderCandidate(BaseModel):
    """A provider that may take the order, and why it ranks where it does."""

    provider_id: int
    code: str
    name: str
    designated: bool
    load: int
    capacity: int
    rating: float
    score: float
    reason: str


class ProviderCandidates(BaseModel):
    candidates: list[ProviderCandidate]
