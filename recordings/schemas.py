"""What the recordings API takes and answers (and so what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Serial = Annotated[str, StringConstraints(pattern=r"^R[0-9]{8}-[0-9A-F]{10}$")]


class RecordingSearch(BaseModel):
    """``GET /api/recordings``: every given filter must match; newest first."""

    model_config = ConfigDict(extra="forbid")

    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9]{4,20}$")] | None = Field(
        default=None, description="the caller's number, or its last digits (at least 4)")
    elder: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                            max_length=50)] | None = Field(
        default=None, description="the elder's id, or the start of their name")
    date_from: date | None = Field(default=None, description="first local date (inclusive)")
    date_to: date | None = Field(default=None, description="last local date (inclusive)")
    serial: Serial | None = None
    agent: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] | None = None
    incident: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    case: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")] | None = Field(
        default=None, description="a complaint or legal case reference")
    limit: int = Field(default=50, ge=1, le=200)


class HoldView(BaseModel):
    id: int
    kind: str
    case_ref: str | None
    reason: str
    placed_by: str
    expires_at: datetime | None


class RecordingSummary(BaseModel):
    """One recording as the console lists it (the caller's number masked)."""

    serial: str
    started_at: datetime
    duration_ms: int
    state: str
    problem: str | None
    caller: str = Field(description="the caller's number, masked (138****8001)")
    agent: str | None
    elder_id: int | None
    elder_name: str | None
    call_id: str | None
    incident_id: str | None
    case_ref: str | None
    kept_through: date = Field(description="the last local date the audio must be kept")
    holds: list[HoldView]
    deleted_at: datetime | None
    delete_reason: str | None
    delete_policy: str | None


class RecordingList(BaseModel):
    recordings: list[RecordingSummary]


class RecordingDetail(RecordingSummary):
    """One recording with what is shown beside the player."""

    peaks: list[int] = Field(description="a waveform: peak levels 0..255, left to right")
    segments: list[list[int]] = Field(description="talk segments, [start_ms, end_ms]")
    sample_rate: int
    size: int


class AccessRequest(BaseModel):
    """Why I listen to or download this recording (kept in the audit trail)."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(max_length=500)]
    purpose: Literal["play", "download"] = "play"


class AccessLink(BaseModel):
    """A short-lived link to the audio, for me only."""

    url: str
    expires_at: datetime
    purpose: str


class LegalHoldRequest(BaseModel):
    """An auditor's legal hold on a recording's call."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(max_length=500)]
    case_ref: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:/-]{1,64}$")]
    expires_at: datetime


class HoldRelease(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, StringConstraints(max_length=500)]


class HoldPlaced(BaseModel):
    hold: HoldView
