"""The recordings store's tables: one row per recording, holds, call-record tombstones, sweeps.

A recording row is the recording's part of the call record (``calls``): its serial number,
checksum, where it came from and, once its audio is removed, the tombstone (when, why,
under which policy). The row itself is kept as long as the call record.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from callcenter.store.models import Base, check_in, utcnow


class RecordingSource(enum.StrEnum):
    """Where the audio was taken from."""

    ARI = "ari"  # GET /recordings/stored/{name}/file (bridge and channel recordings)
    SPOOL = "spool"  # a MixMonitor file in the directory shared with Asterisk


class RecordingState(enum.StrEnum):
    """The audio's life: stored, then (past retention) deleting → deleted; or a problem."""

    STORED = "stored"
    DELETING = "deleting"  # marked by a sweep before the file goes: a re-run finishes it
    DELETED = "deleted"  # tombstone: deleted_at, delete_reason, delete_policy
    MISSING = "missing"  # never arrived, arrived empty, or vanished from the store
    CORRUPT = "corrupt"  # its checksum no longer matches (verify)


class HoldKind(enum.StrEnum):
    """Why something must not be deleted."""

    COMPLAINT = "complaint"  # an open complaint case (the workflow places and releases it)
    INCIDENT = "incident"  # an SOS incident (placed on recording.ready, for a set period)
    LEGAL = "legal"  # placed by an auditor with a reason, a case and an expiry


class Recording(Base):
    """One recording in the store, linked to its call, incident and case."""

    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint(check_in("source", RecordingSource), name="source"),
        CheckConstraint(check_in("state", RecordingState), name="state"),
        UniqueConstraint("source", "node", "name", name="uq_recordings_origin"),
        Index("ix_recordings_started_at", "started_at"),
        Index("ix_recordings_state_started_at", "state", "started_at"),
        # Pattern ops: PostgreSQL serves "area_path LIKE 'prefix%'" from it under any collation.
        Index("ix_recordings_area_started_at", "area_path", "started_at",
              postgresql_ops={"area_path": "varchar_pattern_ops"}),
        Index("ix_recordings_agent_started_at", "agent", "started_at"),
        Index("ix_recordings_elder_started_at", "elder_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The recording serial number (B §5.10) the console and the auditors quote.
    serial: Mapped[str] = mapped_column(String(32), unique=True)
    source: Mapped[str] = mapped_column(String(8))
    node: Mapped[str] = mapped_column(String(64), default="default")
    #: Asterisk's recording name, or the spool file's name.
    name: Mapped[str] = mapped_column(String(128))
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), index=True)
    case_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    elder_id: Mapped[int | None] = mapped_column(Integer)
    #: The username of the agent who took the call (agents hear only their own).
    agent: Mapped[str | None] = mapped_column(String(64))
    #: The area the call belongs to (the elder's, else the agent's): supervisors' scope.
    area_path: Mapped[str | None] = mapped_column(String(255))
    #: When the call began (UTC); retention counts from its local date.
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    captured_at: Mapped[datetime] = mapped_column(default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default=RecordingState.STORED.value)
    #: empty | truncated | never-arrived | unknown-call | not-wav | vanished | checksum-mismatch
    problem: Mapped[str | None] = mapped_column(String(32))
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    sample_rate: Mapped[int] = mapped_column(Integer, default=0)
    #: ``{"peaks": [0..255 …], "segments": [[start_ms, end_ms] …]}``: shown beside the player.
    shape: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deleted_at: Mapped[datetime | None] = mapped_column()
    delete_reason: Mapped[str | None] = mapped_column(String(64))
    delete_policy: Mapped[str | None] = mapped_column(String(64))


class RecordingHold(Base):
    """Nothing a live hold covers is deleted: a call, an incident or a case's recordings."""

    __tablename__ = "recording_holds"
    __table_args__ = (
        CheckConstraint(check_in("kind", HoldKind), name="kind"),
        CheckConstraint("call_id IS NOT NULL OR incident_id IS NOT NULL OR recording_id IS NOT NULL",
                        name="target"),
        Index("ix_recording_holds_open", "released_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    call_id: Mapped[str | None] = mapped_column(String(64), index=True)
    incident_id: Mapped[str | None] = mapped_column(String(32), index=True)
    recording_id: Mapped[int | None] = mapped_column(Integer, index=True)
    case_ref: Mapped[str | None] = mapped_column(String(64), index=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    placed_by: Mapped[str] = mapped_column(String(64))
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: NULL: until released (an open complaint).
    expires_at: Mapped[datetime | None] = mapped_column()
    released_at: Mapped[datetime | None] = mapped_column()
    released_by: Mapped[str | None] = mapped_column(String(64))


class CallTombstone(Base):
    """A call record past its retention: anonymised in place, or purged (this row remains)."""

    __tablename__ = "call_tombstones"
    __table_args__ = (CheckConstraint("action IN ('anonymised', 'purged')", name="action"),)

    call_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column()
    at: Mapped[datetime] = mapped_column(default=utcnow)
    policy: Mapped[str] = mapped_column(String(64))


class SweepRun(Base):
    """One retention sweep: when, as of which date, and what it did (its report)."""

    __tablename__ = "retention_sweeps"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    as_of: Mapped[str] = mapped_column(String(10))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CdrEvent(Base):
    """A CDR as Asterisk reported it (AMI ``Cdr``), written the moment it arrives and removed
    once applied to the call records: a process killed in between loses none of them."""

    __tablename__ = "cdr_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    node: Mapped[str] = mapped_column(String(64), default="default")
    #: The call it belongs to (``LinkedID``, else ``UniqueID``), for the log and a look by hand.
    linkedid: Mapped[str] = mapped_column(String(64), default="")
    #: The event's headers as they came (names as in AMI).
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
