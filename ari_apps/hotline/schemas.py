"""The hotline API's request and response bodies (they make its OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Strict(BaseModel):
    """Unknown fields are an error."""

    model_config = ConfigDict(extra="forbid")


class LoginRequest(Strict):
    """The queues to log in to."""

    queues: list[str] = Field(min_length=1, max_length=20)


class PauseRequest(Strict):
    """A pause reason from the settings (HOTLINE_PAUSE_REASONS)."""

    reason: str = Field(min_length=1, max_length=32)


class AgentView(BaseModel):
    """An agent as Asterisk reports them."""

    agent: str
    state: Literal["logged_out", "idle", "ringing", "in_call", "wrapup", "paused"]
    reason: str
    queues: list[str]
    interface: str
    reachable: bool
    since: datetime


class AgentList(BaseModel):
    """Every agent in a queue."""

    agents: list[AgentView]


class CallListQuery(Strict):
    """Filters of GET /api/calls."""

    number: str | None = Field(default=None, max_length=32, pattern=r"^\+?\d{1,20}$")
    elder: int | None = None
    agent: str | None = Field(default=None, max_length=64)
    queue: str | None = Field(default=None, max_length=64)
    from_: datetime | None = Field(default=None, alias="from")
    to: datetime | None = None
    limit: int = Field(default=100, ge=1, le=500)


class CallView(BaseModel):
    """One call record."""

    id: str
    kind: str
    direction: str
    caller_number: str
    caller_kind: str
    elder_id: int | None
    queue: str | None
    priority: int
    agent: str | None
    parent_id: str | None
    care_call_id: str | None = Field(default=None, description="the care call whose elder "
                                     "pressed 2 to reach the hotline")
    started_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int
    talk_seconds: int
    hold_seconds: int
    wrapup_seconds: int
    outcome: str | None
    hangup_cause: str | None
    disposition: str | None
    details: dict[str, object]


class CallDetail(CallView):
    """A call with the calls that continue it (transfers, callbacks)."""

    children: list[CallView]


class CallList(BaseModel):
    """Calls, newest first."""

    calls: list[CallView]


class CallbackView(BaseModel):
    """One entry of the callback list."""

    id: int
    call_id: str
    number: str
    elder_id: int | None
    queue: str
    priority: int
    queued_at: datetime
    status: str
    attempts: int
    next_at: datetime | None
    last_result: str
    connected_call_id: str | None
    work_order_id: int | None


class CallbackList(BaseModel):
    """The callback list: open entries in their callers' order, then the latest done."""

    callbacks: list[CallbackView]


class TransferRequest(Strict):
    """Where an answered call goes: at once (blind), or after consulting the target
    (attended: the caller is held; then ``/transfer/complete`` or ``/transfer/cancel``)."""

    to: Literal["queue", "agent", "number"]
    target: str = Field(min_length=1, max_length=64)
    mode: Literal["blind", "attended"] = "blind"


class TransferResult(BaseModel):
    """The transferred call and the call that continues it (an attended transfer's
    consultation is that call from the start; ``state``: calling, talking, completing)."""

    call_id: str
    new_call_id: str
    to: str
    target: str
    mode: str
    state: str | None = None


class SuperviseRequest(Strict):
    """Listen, whisper or barge (switching keeps the supervisor's call up)."""

    mode: Literal["listen", "whisper", "barge"]


class SuperviseResult(BaseModel):
    """The supervision session."""

    call_id: str
    mode: str
    session: str


class DialRequest(Strict):
    """Click-to-dial: my softphone rings first, then this number."""

    number: str = Field(min_length=2, max_length=32, pattern=r"^\+?[\d\- ]{2,32}$")
    elder_id: int | None = None


class DialResult(BaseModel):
    """The new call."""

    call_id: str
    number: str
    agent: str


class HighRiskRequest(Strict):
    """Why an elder's calls go first."""

    reason: str = Field(default="", max_length=200)


class HighRiskView(BaseModel):
    """An elder's high-risk flag."""

    elder_id: int
    high_risk: bool
    reason: str = ""
    set_by: str | None = None
    set_at: datetime | None = None
