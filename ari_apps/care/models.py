"""Care plans, each day's care calls (tasks), paused campaigns and the care timeline.

A plan says which call an elder gets and when (A §5.3.2, §5.6; B §5.8). Each day the
plans due that day become tasks (``care_tasks``, one per plan and local date, id
``p<plan>-<yyyymmdd>``); a task is dialled once per attempt, and every attempt is one
row of the shared ``calls`` table (kind ``care``, id ``care-<task>-<attempt>``, the
channel's own id), so a restarted product never dials an attempt twice.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class CareKind(enum.StrEnum):
    """What a care call is for."""

    WELLBEING = "wellbeing"  # "press 1 if you are well, 2 to talk to someone"
    MEDICATION = "medication"  # a reminder, the medicine named, press 1 to confirm
    BIRTHDAY = "birthday"  # a greeting, press 1 to confirm
    WEATHER = "weather"  # a warning for the elder's area, press 1 to confirm

    @property
    def is_reminder(self) -> bool:
        return self is not CareKind.WELLBEING


class Repeat(enum.StrEnum):
    """How often a plan's call comes."""

    DAILY = "daily"
    WEEKLY = "weekly"  # on ``weekdays`` (1 = Monday … 7 = Sunday)
    ONCE = "once"  # on ``on_date``


class PlanSource(enum.StrEnum):
    CONSOLE = "console"
    IMPORT = "import"
    DEFAULT = "default"  # made for an elder living alone or disabled


class TaskState(enum.StrEnum):
    """Where a day's care call stands."""

    SCHEDULED = "scheduled"  # its attempt's timer is armed
    QUEUED = "queued"  # handed to the dialler, waiting for a line
    CALLING = "calling"  # an attempt is on the line
    DONE = "done"  # it has its final result
    CANCELLED = "cancelled"


class CareResult(enum.StrEnum):
    """Every call has a result (and a reason)."""

    ANSWERED_WELL = "answered_well"  # wellbeing: pressed 1
    WANTS_TO_TALK = "wants_to_talk"  # wellbeing: pressed 2 → the hotline queue
    CONFIRMED = "confirmed"  # a reminder: pressed 1
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # the line or Asterisk refused, no phone, a bad number
    NO_RESPONSE = "no_response"  # answered, no valid key (a reminder: unconfirmed)


#: Results that mean the elder was reached and answered the question.
REACHED = frozenset({CareResult.ANSWERED_WELL, CareResult.WANTS_TO_TALK, CareResult.CONFIRMED})


class Escalation(enum.StrEnum):
    """What followed a task whose elder could not be reached."""

    NONE = "none"
    ALERTED = "alerted"  # an agent task ("call this elder") and kin / social worker alerted
    VISIT = "visit"  # still nothing: a welfare-visit work order
    RESOLVED = "resolved"  # an agent reached the elder (or a later call did)
    KIN_REPORTED = "kin_reported"  # an unconfirmed medication reminder, reported to kin


class CarePlan(Base):
    """One elder's recurring (or one-off) care call."""

    __tablename__ = "care_plans"
    __table_args__ = (
        CheckConstraint(check_in("kind", CareKind), name="kind"),
        CheckConstraint(check_in("repeat", Repeat), name="repeat"),
        CheckConstraint(check_in("source", PlanSource), name="source"),
        Index("ix_care_plans_elder", "elder_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The plan's code (CSV re-imports update by it); default plans: ``DEF-<elder code>``.
    code: Mapped[str] = mapped_column(String(40), unique=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    repeat: Mapped[str] = mapped_column(String(8))
    #: Local time of day, ``HH:MM`` in the centre's time zone.
    at_time: Mapped[str] = mapped_column(String(5))
    #: Weekly plans: ISO weekdays, e.g. ``1,3,5``.
    weekdays: Mapped[str] = mapped_column(String(20), default="")
    on_date: Mapped[date | None] = mapped_column(Date)
    medicine: Mapped[str] = mapped_column(String(100), default="")
    message: Mapped[str] = mapped_column(String(500), default="")
    #: Unconfirmed medication reminders (and unreached elders) are reported to kin.
    report_to_kin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(8), default=PlanSource.CONSOLE.value)
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CareHours(Base):
    """The hours an elder likes to be called (local time); outside them nobody calls."""

    __tablename__ = "care_hours"

    elder_id: Mapped[int] = mapped_column(
        ForeignKey("elders.id", ondelete="CASCADE"), primary_key=True)
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))


class CareTask(Base):
    """One day's care call of one plan (or a call placed by hand): attempts and result."""

    __tablename__ = "care_tasks"
    __table_args__ = (
        CheckConstraint(check_in("kind", CareKind), name="kind"),
        CheckConstraint(check_in("state", TaskState), name="state"),
        CheckConstraint(f"result IS NULL OR {check_in('result', CareResult)}", name="result"),
        CheckConstraint(check_in("escalation", Escalation), name="escalation"),
        Index("ix_care_tasks_day", "local_date", "kind"),
        Index("ix_care_tasks_elder", "elder_id", "due_at"),
        Index("ix_care_tasks_state", "state"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(
        ForeignKey("care_plans.id", ondelete="SET NULL"))
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    local_date: Mapped[date] = mapped_column(Date)
    due_at: Mapped[datetime] = mapped_column()
    state: Mapped[str] = mapped_column(String(12), default=TaskState.SCHEDULED.value)
    #: Attempts placed so far (an attempt's calls row exists once it is placed).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: How many of them were answered without a key (they get one second try).
    unanswered_keys: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200), default="")
    escalation: Mapped[str] = mapped_column(String(16), default=Escalation.NONE.value)
    #: The process whose dialler holds the task, and when it last said so.
    owner: Mapped[str | None] = mapped_column(String(128))
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(64), default="plan")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The weather warning this call carries (one task per elder and broadcast).
    broadcast_id: Mapped[int | None] = mapped_column(
        ForeignKey("care_broadcasts.id", ondelete="CASCADE"), index=True)


class CareBroadcast(Base):
    """A weather warning for an area and its sub-areas: one weather call per elder (A §5.3.2).

    Its calls are ``care_tasks`` (``b<id>-e<elder>``) made with it in one transaction, so
    a restart forgets none and calls none twice; its counts are read from them.
    """

    __tablename__ = "care_broadcasts"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    message: Mapped[str] = mapped_column(String(500))
    #: Urgent warnings ring in the quiet hours and outside the elders' own hours too.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    #: No call is placed after this moment (a retry due later is dropped).
    valid_until: Mapped[datetime] = mapped_column()
    #: Elders called, and elders of the area left out for want of a phone.
    elders: Mapped[int] = mapped_column(Integer, default=0)
    without_phone: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_by: Mapped[str | None] = mapped_column(String(64))
    cancelled_at: Mapped[datetime | None] = mapped_column()


class CareCampaign(Base):
    """A campaign is one kind of care call; a supervisor pauses and resumes it."""

    __tablename__ = "care_campaigns"
    __table_args__ = (CheckConstraint(check_in("kind", CareKind), name="kind"),)

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    changed_by: Mapped[str] = mapped_column(String(64), default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class CareEvent(Base):
    """The elder's care timeline: calls, keys, alerts, visits, one-key calls to kin."""

    __tablename__ = "care_events"
    __table_args__ = (Index("ix_care_events_elder_at", "elder_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int | None] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"))
    task_id: Mapped[str | None] = mapped_column(String(40), index=True)
    call_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class CareLayout(Base):
    """A day whose care calls were laid out for every active plan, and when.

    A process start fills only the gap since this moment (plans changed later) instead of
    reading every plan again; a day without a row is laid out in full.
    """

    __tablename__ = "care_layouts"

    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    #: When the layout read the plans: plans changed at or after it are laid out again.
    laid_out_at: Mapped[datetime] = mapped_column()
    calls: Mapped[int] = mapped_column(Integer, default=0)
