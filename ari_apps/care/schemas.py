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
