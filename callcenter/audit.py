"""The append-only, hash-chained audit trail (DESIGN invariant 3; B §4.2.4, E A.1.2).

Each entry's hash covers its content and the previous entry's hash, and the single
``audit_head`` row pins the last sequence number and hash. Editing, deleting,
reordering or truncating entries therefore breaks :func:`verify_chain`.
Database triggers refuse UPDATE and DELETE on ``audit_log``; the product has no
code path that edits it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Integer, Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.store.models import AuditEntry, AuditHead, utcnow

GENESIS = "0" * 64
_LOG: Table = AuditEntry.__table__  # type: ignore[assignment]
_HEAD: Table = AuditHead.__table__  # type: ignore[assignment]
# Built once with bound values: SQLAlchemy's cache key then covers a fixed statement
# instead of walking fresh literal values on every append.
_APPEND = insert(_LOG).values({c.name: bindparam(c.name, type_=c.type) for c in _LOG.columns})
_MOVE = update(_HEAD).where(_HEAD.c.id == 1).values(
    seq=bindparam("seq", type_=Integer()), hash=bindparam("head_hash", type_=_HEAD.c.hash.type))
_APPEND_AND_MOVE = _MOVE.add_cte(_APPEND.cte("entry"))
_LOCK_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_VERIFY_BATCH = 2000


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    reason: str,
    prev_hash: str,
) -> str:
    """The SHA-256 of an entry's canonical JSON form."""
    canonical = orjson.dumps(
        {
            "seq": seq,
            "at": at.isoformat(timespec="microseconds"),
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "before": before,
            "after": after,
            "reason": reason,
            "prev_hash": prev_hash,
        },
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    return hashlib.sha256(canonical).hexdigest()


def _jsonable(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # Round-trip so what is hashed is exactly what the JSON column gives back.
    if value is None:
        return None
    return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: str | int,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    reason: str = "",
) -> AuditEntry:
    """Append one entry inside the caller's transaction (it commits with the change).

    The chain's head is locked from its read to the commit, so everything else happens
    outside that window: the caller's pending rows are flushed first, and on PostgreSQL the
    entry and the new head are written by one statement (one round trip, no ORM flush),
    leaving only that statement and the commit while other writers wait.
    """
    await session.flush()
    # FOR UPDATE serialises appenders on PostgreSQL; SQLite's BEGIN IMMEDIATE already has.
    head = (await session.execute(_LOCK_HEAD)).one()
    at = utcnow()
    values = {
        "seq": head.seq + 1,
        "at": at,
        "actor": actor,
        "action": action,
        "entity": entity,
        "entity_id": str(entity_id),
        "before": _jsonable(before),
        "after": _jsonable(after),
        "reason": reason,
        "prev_hash": head.hash,
    }
    digest = entry_hash(**values)
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_APPEND_AND_MOVE, {**values, "hash": digest, "head_hash": digest})
    else:  # SQLite has no data-modifying WITH
        await session.execute(_APPEND, {**values, "hash": digest})
        await session.execute(_MOVE, {"seq": values["seq"], "head_hash": digest})
    return AuditEntry(**values, hash=digest)


@dataclass
class ChainReport:
    """What :func:`verify_chain` found."""

    entries: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Walk the whole trail and report every entry that does not chain."""
    report = ChainReport()
    expected_prev = GENESIS
    expected_seq = 1
    last_seq = 0
    while True:
        rows = (
            await session.execute(
                select(AuditEntry)
                .where(AuditEntry.seq > last_seq)
                .order_by(AuditEntry.seq)
                .limit(_VERIFY_BATCH)
            )
        ).scalars().all()
        if not rows:
            break
        for entry in rows:
            report.entries += 1
            if entry.seq != expected_seq:
                report.problems.append(
                    f"entries {expected_seq}..{entry.seq - 1} are missing (deleted)"
                )
            if entry.prev_hash != expected_prev:
                report.problems.append(f"entry {entry.seq}: does not follow the entry before it")
            recomputed = entry_hash(
                seq=entry.seq,
                at=entry.at,
                actor=entry.actor,
                action=entry.action,
                entity=entry.entity,
                entity_id=entry.entity_id,
                before=entry.before,
                after=entry.after,
                reason=entry.reason,
                prev_hash=entry.prev_hash,
            )
            if recomputed != entry.hash:
                report.problems.append(f"entry {entry.seq}: content was altered")
            expected_prev = entry.hash
            expected_seq = entry.seq + 1
        last_seq = rows[-1].seq
        session.expunge_all()
    head = (await session.execute(select(AuditHead).where(AuditHead.id == 1))).scalar_one_or_none()
    if head is None:
        report.problems.append("the chain head is missing")
    elif head.seq != last_seq or head.hash != expected_prev:
        report.problems.append(
            f"the chain ends at entry {last_seq} but its head says {head.seq}: "
            "entries were removed from the end or the head was altered"
        )
    return report
