"""What the care API answers and takes (and so what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ari_apps.care.models import CareKind, CareResult


class CareCallQuery(BaseModel):
    """``GET /api/care/calls`` filters: elder (code), kind, result, due from/to, limit."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    elder: str | None = Field(default=None, max_length=32)
    kind: CareKind | None = None
    result: CareResult | None = None
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    limit: int = Field(default=200, ge=1, le=1000)


class CareCallView(BaseModel):
    """One care call (a plan's call on a day, or one placed by hand) and its result."""

    id: str
    elder_id: int
    elder_code: str
    elder_name: str
    kind: str
    due_at: datetime
    state: str
    attempts: int
    result: str | None
    reason: str
    escalation: str
    created_by: str


class CareCallList(BaseModel):
    calls: list[CareCallView]


class PlanQuery(BaseModel):
    """``GET /api/care/plans`` filters."""

    model_config = ConfigDict(extra="forbid")

    elder: str | None = Field(default=None, max_length=32)
    kind: CareKind | None = None
    limit: int = Field(default=500, ge=1, le=5000)


class PlanView(BaseModel):
    """One care plan."""

    id: int
    code: str
    elder_id: int
    elder_code: str
    elder_name: str
    kind: str
    repeat: str
    at_time: str
    weekdays: str
    on_date: date | None
    medicine: str
    message: str
    report_to_kin: bool
    active: bool
    source: str


class PlanList(BaseModel):
    plans: list[PlanView]


class PlanSaved(BaseModel):
    code: str
    inserted: int
    updated: int
    laid_out_today: int


class CampaignChange(BaseModel):
    """``POST /api/care/campaigns/{kind}``: pause or resume one kind of care call."""

    model_config = ConfigDict(extra="forbid")

    paused: bool


class CampaignView(BaseModel):
    kind: str
    paused: bool


class HistoryEntry(BaseModel):
    """One step on an elder's care timeline."""

    at: datetime
    kind: str
    task_id: str | None
    call_id: str | None
    detail: dict[str, Any]


class History(BaseModel):
    elder_id: int
    calls: list[CareCallView]
    timeline: list[HistoryEntry]


class BroadcastInput(BaseModel):
    """``POST /api/care/broadcasts``: a weather warning for an area and its sub-areas."""

    model_config = ConfigDict(extra="forbid")

    area_code: str = Field(min_length=1, max_length=32)
    #: Spoken to every elder (at most 300 characters, no control characters).
    message: str
    #: Ring in the quiet hours and outside the elders' own hours too.
    urgent: bool = False
    #: No call is placed after this (local time without an offset; default: 12 hours on).
    until: datetime | None = None


class BroadcastView(BaseModel):
    """A weather warning and its calls counted: confirmed, no_response (not confirmed),
    no_answer, busy, failed, pending, cancelled, expired."""

    id: int
    area_code: str
    area_name: str
    message: str
    urgent: bool
    valid_until: datetime
    state: str
    elders: int
    without_phone: int
    counts: dict[str, int]
    created_by: str
    created_at: datetime
    cancelled_by: str | None
    cancelled_at: datetime | None


class BroadcastList(BaseModel):
    broadcasts: list[BroadcastView]


class BroadcastCancelled(BaseModel):
    id: int
    stopped: int
