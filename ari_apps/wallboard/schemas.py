"""The supervisor's figures as the API gives them (in the OpenAPI document); each figure's
formula is in the README ("Supervisor's live view")."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class QueuesQuery(BaseModel):
    """A window: ``today`` (default) or ``week`` in the centre's time zone, or ``from``/``to``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    period: Literal["today", "week"] = "today"
    start: datetime | None = Field(default=None, alias="from")
    end: datetime | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _window(self) -> QueuesQuery:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both from and to, or neither")
        for value in (self.start, self.end):
            if value is not None and value.tzinfo is None:
                raise ValueError("from and to need a time zone (e.g. 2025-03-03T00:00:00+08:00)")
        if self.start and self.end and not self.start < self.end:
            raise ValueError("from must be before to")
        if self.start and self.end and (self.end - self.start).days > 366:
            raise ValueError("a window is at most 366 days")
        return self


class QueueFigures(BaseModel):
    queue: str
    waiting: int = Field(description="callers waiting now (live)")
    longest_wait_since: datetime | None = Field(description="when the longest waiter joined")
    longest_wait_seconds: int
    offered: int
    answered: int
    abandoned: int = Field(description="hung up after the short-abandon threshold")
    short_abandoned: int = Field(description="hung up before it (counted apart)")
    answered_within: int = Field(description="answered with a wait of at most T")
    service_level_seconds: int = Field(description="T of this queue")
    handled: int
    handling_seconds: int = Field(description="talk + hold + wrap-up, transfer parts included")
    answered_wait_seconds: int
    service_level: float | None
    answer_rate: float | None
    abandon_rate: float | None
    asa_seconds: float | None
    aht_seconds: float | None
    meets_targets: list[bool] = Field(description="answer rate ≥ each of the targets")


class AgentFigures(BaseModel):
    agent: str
    name: str
    state: str
    reason: str
    since: datetime | None
    calls: int
    handling_seconds: int
    logged_seconds: int
    paused_seconds: int
    occupancy: float | None


class QueuesView(BaseModel):
    """§7's figures: per queue, per agent, and the callback list."""

    period: str
    start: datetime
    end: datetime
    generated_at: datetime
    targets: list[float]
    short_abandon_seconds: int
    queues: list[QueueFigures]
    agents: list[AgentFigures]
    callbacks_pending: int | None = Field(description="None until the hotline reports it")


class IntervalsQuery(BaseModel):
    """One day (the centre's calendar) of 15-minute history, all visible queues or one."""

    model_config = ConfigDict(extra="forbid")

    day: date | None = None
    queue: str | None = Field(default=None, max_length=64)


class IntervalRow(BaseModel):
    start: datetime
    offered: int
    answered: int
    abandoned: int
    short_abandoned: int
    service_level: float | None
    answer_rate: float | None
    abandon_rate: float | None
    asa_seconds: float | None
    aht_seconds: float | None


class IntervalsView(BaseModel):
    day: date
    queue: str | None
    intervals: list[IntervalRow]
