"""Who may hear what, and the search behind the auditors' console.

Agents hear only their own calls; supervisors their area's (the call's elder's area, else
the answering agent's); auditors everything within their scope (their area, or the whole
service). Admins run the system and hear nothing. Scope is part of the SQL: a recording
outside it answers exactly as one that does not exist (404).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import ColumnElement, Select, and_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.calls.models import Call
from callcenter.store.models import Elder, Role
from recordings.exceptions import RecordingNotFound
from recordings.holds import covering
from recordings.models import Recording, RecordingHold
from recordings.policy import RetentionPolicy
from recordings.schemas import HoldView, RecordingDetail, RecordingSearch, RecordingSummary
from webui.keys import Principal

LISTEN_ROLES = (Role.AGENT, Role.SUPERVISOR, Role.AUDITOR)


def in_scope(principal: Principal) -> ColumnElement[bool]:
    """The recordings this user may find and hear."""
    if principal.role == Role.AGENT.value:
        return Recording.agent == principal.username
    if principal.role in (Role.SUPERVISOR.value, Role.AUDITOR.value):
        if principal.area_path is None:
            return true()
        return Recording.area_path.startswith(principal.area_path, autoescape=True)
    raise web.HTTPForbidden(reason="role not allowed")


def mask_number(number: str) -> str:
    """138****8001; short numbers keep their last two digits."""
    if len(number) >= 11:
        return f"{number[:3]}****{number[-4:]}"
    if len(number) > 4:
        return "*" * (len(number) - 2) + number[-2:]
    return number


def ends_with(digits: str) -> ColumnElement[bool]:
    """Calls whose number ends with ``digits``: a range on the reversed number, so a plain
    b-tree index serves it under any collation (LIKE 'x%' needs C or pattern ops), and the
    LIKE keeps it exact (the numbers are digits and '+', all below 'z')."""
    tail = digits[::-1]
    return and_(Call.caller_tail >= tail, Call.caller_tail < tail + "z",
                Call.caller_tail.startswith(tail))


def search_statement(principal: Principal, query: RecordingSearch, policy: RetentionPolicy,
                     now: datetime) -> Select[Recording, str, str]:
    statement = (
        select(Recording, Call.caller_number, Elder.name)
        .outerjoin(Call, Call.id == Recording.call_id)
        .outerjoin(Elder, Elder.id == Recording.elder_id)
        .where(in_scope(principal))
    )
    if query.serial:
        statement = statement.where(Recording.serial == query.serial)
    if query.phone:
        statement = statement.where(Recording.call_id.in_(
            select(Call.id).where(ends_with(query.phone))))
    if query.elder:
        if query.elder.isdigit():
            statement = statement.where(Recording.elder_id == int(query.elder))
        else:  # the elders first (name index), then their recordings (elder index)
            statement = statement.where(Recording.elder_id.in_(select(Elder.id).where(
                Elder.name.startswith(query.elder, autoescape=True))))
    if query.date_from:
        statement = statement.where(Recording.started_at >= policy.midnight(query.date_from))
    if query.date_to:
        statement = statement.where(
            Recording.started_at < policy.midnight(query.date_to + timedelta(days=1)))
    if query.agent:
        statement = statement.where(Recording.agent == query.agent)
    if query.incident:
        statement = statement.where(Recording.incident_id == query.incident)
    if query.case:
        held = select(RecordingHold.recording_id, RecordingHold.call_id,
                      RecordingHold.incident_id).where(RecordingHold.case_ref == query.case)
        statement = statement.where(or_(
            Recording.case_ref == query.case,
            Recording.id.in_(held.with_only_columns(RecordingHold.recording_id)),
            Recording.call_id.in_(held.with_only_columns(RecordingHold.call_id)),
            Recording.incident_id.in_(held.with_only_columns(RecordingHold.incident_id))))
    return statement.order_by(Recording.started_at.desc(), Recording.id.desc()).limit(query.limit)


async def _holds(session: AsyncSession, rows: list[Recording], now: datetime
                 ) -> dict[int, list[HoldView]]:
    found: dict[int, list[HoldView]] = defaultdict(list)
    if not rows:
        return found
    pairs = covering(now, Recording.id.in_([r.id for r in rows]))
    holds = await session.execute(
        select(pairs.c.recording_id, RecordingHold)
        .join(RecordingHold, RecordingHold.id == pairs.c.hold_id))
    for rec_id, hold in holds:
        found[rec_id].append(HoldView.model_validate(hold, from_attributes=True))
    return found


def _summary(row: Recording, caller: str | None, elder: str | None,
             holds: list[HoldView], policy: RetentionPolicy) -> dict[str, Any]:
    return {
        "serial": row.serial, "started_at": row.started_at, "duration_ms": row.duration_ms,
        "state": row.state, "problem": row.problem, "caller": mask_number(caller or ""),
        "agent": row.agent, "elder_id": row.elder_id, "elder_name": elder,
        "call_id": row.call_id, "incident_id": row.incident_id, "case_ref": row.case_ref,
        "kept_through": policy.audio_kept_through(row.started_at), "holds": holds,
        "deleted_at": row.deleted_at, "delete_reason": row.delete_reason,
        "delete_policy": row.delete_policy,
    }


async def search(session: AsyncSession, principal: Principal, query: RecordingSearch,
                 policy: RetentionPolicy, now: datetime) -> list[RecordingSummary]:
    rows = list(await session.execute(search_statement(principal, query, policy, now)))
    holds = await _holds(session, [r for r, _, _ in rows], now)
    return [RecordingSummary.model_validate(_summary(r, caller, elder, holds[r.id], policy))
            for r, caller, elder in rows]


async def find_visible(session: AsyncSession, principal: Principal, serial: str
                       ) -> tuple[Recording, str | None, str | None]:
    """The recording by serial within the user's scope, else :class:`RecordingNotFound`."""
    found = (await session.execute(
        select(Recording, Call.caller_number, Elder.name)
        .outerjoin(Call, Call.id == Recording.call_id)
        .outerjoin(Elder, Elder.id == Recording.elder_id)
        .where(Recording.serial == serial, in_scope(principal)))).first()
    if found is None:
        raise RecordingNotFound("no such recording", {"serial": serial})
    return found[0], found[1], found[2]


async def detail(session: AsyncSession, principal: Principal, serial: str,
                 policy: RetentionPolicy, now: datetime) -> RecordingDetail:
    row, caller, elder = await find_visible(session, principal, serial)
    holds = await _holds(session, [row], now)
    shape = row.shape or {}
    return RecordingDetail.model_validate(_summary(row, caller, elder, holds[row.id], policy) | {
        "peaks": shape.get("peaks", []), "segments": shape.get("segments", []),
        "sample_rate": row.sample_rate, "size": row.size})
