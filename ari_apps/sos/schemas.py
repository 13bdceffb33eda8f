"""What the SOS API answers (and so what the OpenAPI document describes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from ari_apps.sos.models import Disposition

#: A phone number staff type in: digits, an optional leading +, 3 to 20 of them
#: (120, a landline with its area code, a mobile with +86).
PhoneNumber = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9]{3,20}$")]


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
    existing: bool = Field(
        default=False,
        description="The user already had a live leg in the incident: that leg, not a new one.",
    )


class EndRequest(BaseModel):
    """How staff close an incident: a disposition from the fixed list, and a note."""

    model_config = ConfigDict(extra="forbid")

    disposition: Disposition
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] = ""

    @model_validator(mode="after")
    def _other_says_why(self) -> EndRequest:
        if self.disposition is Disposition.OTHER and not self.note:
            raise ValueError("a note is required with the disposition 'other'")
        return self


class EndResult(BaseModel):
    """The incident staff ended."""

    incident: str
    outcome: str
    disposition: Disposition


class LegActionResult(BaseModel):
    """The leg staff hung up or muted, as it is now."""

    incident: str
    leg: str
    state: str | None = None
    muted: bool | None = None


class MuteRequest(BaseModel):
    """Mute (true) or unmute (false) what a leg says; it still hears the others."""

    model_config = ConfigDict(extra="forbid")

    muted: bool


class DialRequest(BaseModel):
    """A contact staff dial by hand into the conference, as one more of a role."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["emergency", "doctor", "kin", "social_worker"]
    number: PhoneNumber
    name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""


class DialResult(BaseModel):
    """The leg now dialling the contact."""

    incident: str
    leg: str


class AckResult(BaseModel):
    """The user's acknowledgement of an incident; ``new`` when it changed something."""

    incident: str
    new: bool
