"""Creating cases and moving them: one transaction per step, optimistic versions, the
timeline and the audit trail written with the change, deadline timers armed in it too.

A move is ``UPDATE … SET status, version = version + 1 … WHERE id = ? AND version = ?``: of
two people acting at once one wins, the other gets :class:`VersionConflict` and nothing of
theirs is written (their transaction rolls back whole: no event, no audit row, no timer).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from callcenter import audit
from callcenter.settings import Settings
from callcenter.store.models import Area, Elder
from workflow import deadlines
from workflow.calendar import WorkCalendar
from workflow.exceptions import CaseNotFound, ElderNotFound, InvalidField, VersionConflict
from workflow.holds import link_calls, release_holds
from workflow.kinds import CaseKind, CaseRow, get_row, table_of
from workflow.machines import Actor, Move
from workflow.matching import check_provider
from workflow.models import CaseEvent, Complaint, WorkOrder
from workflow.schemas import CaseCreate
from workflow.supervision import check_repeated, close_for_case, raise_supervision

_FOR_KIND = {
    "workorder": {"type", "service_type", "priority", "incident_id", "recording_name"},
    "consult": set(),
    "complaint": {"source", "reply_due_at", "provider_id", "work_order_id", "calls"},
}
_COMMON = {"title", "description", "elder_id", "call_id"}
EVENTS: Table = CaseEvent.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Context:
    """What every step needs besides the session: settings, calendar, time zone, now."""

    settings: Settings
    calendar: WorkCalendar
    zone: ZoneInfo
    now: datetime


async def _elder_area(session: AsyncSession, elder_id: int, actor: Actor) -> tuple[str, int | None]:
    row = (await session.execute(
        select(Area.path, Elder.provider_id).join(Area, Area.id == Elder.area_id)
        .where(Elder.id == elder_id))).one_or_none()
    if row is None or not actor.covers(row[0]):
        raise ElderNotFound("no such elder in your area", {"elder_id": elder_id})
    return row[0], row[1]


async def create_case(session: AsyncSession, kind: CaseKind, data: CaseCreate, actor: Actor,
                      ctx: Context) -> CaseRow:
    """Open a case (受理): its number, its deadline (fixed now), timeline, audit, timers."""
    given = {name for name in data.model_fields_set if getattr(data, name) not in (None, [])}
    foreign = given - _COMMON - _FOR_KIND[kind.name]
    if foreign:
        raise InvalidField("fields that do not apply to this kind of case",
                           {"fields": sorted(foreign)})
    area_path = actor.area_path
    if data.elder_id is not None:
        area_path, _ = await _elder_area(session, data.elder_id, actor)
    row = _new_row(kind, data, actor, area_path, ctx)
    if kind.name == "complaint" and data.reply_due_at is not None:
        if data.reply_due_at.tzinfo is None or data.reply_due_at <= ctx.now:
            raise InvalidField("reply_due_at must be a future time with its offset",
                               {"reply_due_at": str(data.reply_due_at)})
        row.due_at, row.due_provisional = data.reply_due_at, False
        row.details = {deadlines.FORWARDED: data.reply_due_at.isoformat()}
    else:
        deadline = deadlines.initial_deadline(kind, ctx.settings, ctx.calendar, ctx.now, ctx.zone)
        if deadline is not None:
            row.due_at, row.due_provisional = deadline.due_at, deadline.provisional
    session.add(row)
    await session.flush()
    row.number = f"{kind.prefix}-{ctx.now.astimezone(ctx.zone):%Y%m%d}-{row.id:06d}"
    session.add(CaseEvent(case_kind=kind.name, case_id=row.id, at=ctx.now, actor=actor.name,
                          action="create", to_status=row.status,
                          detail={"due_at": row.due_at.isoformat() if row.due_at else None,
                                  "provisional": row.due_provisional}))
    await audit.record(session, actor=actor.name, action=f"{kind.entity}.create",
                       entity=kind.entity, entity_id=row.number,
                       after={"status": row.status, "elder_id": row.elder_id,
                              "due_at": row.due_at, "provisional": row.due_provisional},
                       reason="received")
    if isinstance(row, Complaint) and data.calls:
        await link_calls(session, row.id, row.number, data.calls, actor=actor.name, at=ctx.now)
    await session.flush()
    await deadlines.arm(session, kind, row, ctx.settings, ctx.now)
    if isinstance(row, WorkOrder):
        await check_repeated(session, row, count=ctx.settings.workflow_repeat_count,
                             days=ctx.settings.workflow_repeat_days, at=ctx.now)
    return row


def _new_row(kind: CaseKind, data: CaseCreate, actor: Actor, area_path: str | None,
             ctx: Context) -> CaseRow:
    common: dict[str, Any] = {
        "number": f"new-{uuid.uuid4().hex[:28]}", "title": data.title.strip(),
        "description": data.description.strip(), "elder_id": data.elder_id,
        "area_path": area_path, "call_id": data.call_id, "details": {},
        "created_by": actor.name, "created_at": ctx.now, "updated_at": ctx.now,
        "status": kind.machine.initial, "version": 1,
    }
    if kind.name == "workorder":
        return WorkOrder(**common, type=data.type or "service", service_type=data.service_type,
                         priority=data.priority or "normal", incident_id=data.incident_id,
                         recording_name=data.recording_name)
    if kind.name == "complaint":
        return Complaint(**common, source=data.source or "direct", provider_id=data.provider_id,
                         work_order_id=data.work_order_id)
    return kind.model(**common)


async def load_case(session: AsyncSession, kind: CaseKind, case_id: int, actor: Actor) -> CaseRow:
    """The case, or 404 when it does not exist or lies outside the actor's jurisdiction."""
    row = await get_row(session, kind, case_id)
    if row is None or not actor.covers(row.area_path):
        raise CaseNotFound(f"no such {kind.name}", {"id": case_id})
    return row


def _text(fields: Mapping[str, object], name: str, limit: int = 2000) -> str:
    value = str(fields.get(name) or "").strip()
    if len(value) > limit:
        raise InvalidField(f"{name} is too long", {"field": name, "max": limit})
    return value


def _int(fields: Mapping[str, object], name: str, low: int, high: int) -> int:
    value = fields.get(name)
    try:
        number = int(str(value))
    except ValueError as err:
        raise InvalidField(f"{name} must be a whole number", {"field": name}) from err
    if not low <= number <= high:
        raise InvalidField(f"{name} must be {low}–{high}", {"field": name, "min": low, "max": high})
    return number


async def _changes(session: AsyncSession, kind: CaseKind, row: CaseRow, move: Move,
                   fields: Mapping[str, object], ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
    """The columns the move sets, and what goes on the timeline with it."""
    values: dict[str, Any] = {}
    detail: dict[str, Any] = {}
    action = move.action
    for name in ("result", "opinion", "answer", "proposal", "reply"):
        if name in move.needs:
            detail[name] = _text(fields, name)
    if "satisfaction" in move.needs:
        detail["satisfaction"] = _int(fields, "satisfaction", 1, 5)
        if action != "return_slip":
            values["satisfaction"] = detail["satisfaction"]
    if action == "review":
        service_type = _text(fields, "service_type", 32)
        if not service_type.replace("_", "").isalpha() or not service_type.islower():
            raise InvalidField("service_type is a lower-case name such as home_care",
                               {"field": "service_type"})
        values["service_type"] = service_type
    elif action == "amend":
        values["description"] = _text(fields, "description", 4000)
    elif action in ("dispatch", "redispatch"):
        assert isinstance(row, WorkOrder)
        designated = None
        if row.elder_id is not None:
            designated = (await session.execute(
                select(Elder.provider_id).where(Elder.id == row.elder_id))).scalar_one_or_none()
        chosen, override = await check_provider(
            session, _int(fields, "provider_id", 1, 2**31 - 1), service_type=row.service_type,
            area_path=row.area_path, designated_id=designated)
        if override and not _text(fields, "reason"):
            raise InvalidField("choosing another provider than the best match needs a reason",
                               {"field": "reason", "best": "override"})
        values.update(provider_id=chosen.provider_id, provider_reason=chosen.reason[:255],
                      provider_override=override)
        detail.update(provider_id=chosen.provider_id, provider=chosen.name,
                      match=chosen.reason, override=override)
    elif action in ("take", "check_in") and "staff_name" in fields:
        values["staff_name"] = _text(fields, "staff_name", 100)
    if action == "check_in" and _text(fields, "number") != row.number:
        raise InvalidField("the number given is not this work order's", {"field": "number"})
    if action == "close" and kind.name == "complaint":
        valid = str(fields.get("valid")).lower()
        if valid not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidField("valid must be yes or no", {"field": "valid"})
        values["valid"] = detail["valid"] = valid in ("true", "1", "yes")
    return values, detail


async def transition(session: AsyncSession, kind: CaseKind, case_id: int, action: str,
                     version: int, fields: Mapping[str, object], actor: Actor,
                     ctx: Context) -> CaseRow:
    """Make ``action`` on the case at ``version`` (see the module's docstring)."""
    row = await load_case(session, kind, case_id, actor)
    machine = kind.machine
    if row.version != version:  # first: what the client saw is no longer the case
        raise VersionConflict("the case was changed meanwhile: reload it",
                              {"version": row.version, "given": version})
    move = machine.check(row.status, action, actor, row.area_path, fields)
    values, detail = await _changes(session, kind, row, move, fields, ctx)
    before = {"status": row.status, "version": row.version}
    values.update(status=move.target, version=version + 1, updated_at=ctx.now)
    was_waiting, waits = row.status in machine.waiting, move.target in machine.waiting
    if waits and not was_waiting:
        values["paused_at"] = ctx.now
    if was_waiting and not waits and row.paused_at is not None and row.due_at is not None:
        resumed = deadlines.resumed_deadline(kind, row, ctx.calendar, ctx.zone, ctx.now)
        values.update(due_at=resumed.due_at, due_provisional=resumed.provisional, paused_at=None)
        detail.update(due_at=resumed.due_at.isoformat(), provisional=resumed.provisional)
    if move.target in machine.final:
        values["closed_at"] = ctx.now
    table = table_of(kind)
    # Bound values (the SET columns from the keys): a fixed statement for SQLAlchemy's cache.
    result = await session.execute(
        update(table).where(table.c.id == bindparam("case_id"),
                            table.c.version == bindparam("seen_version")),
        {**values, "case_id": case_id, "seen_version": version})
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise VersionConflict("the case was changed meanwhile: reload it", {"given": version})
    reason = _text(fields, "reason")
    from_status = row.status
    for name, value in values.items():  # what the UPDATE wrote, without a read back
        set_committed_value(row, name, value)
    # A Core INSERT, not an ORM object: nothing reads it back, and the unit of work's CPU
    # would be spent while other moves wait on the audit chain.
    await session.execute(insert(EVENTS), {
        "case_kind": kind.name, "case_id": case_id, "at": ctx.now, "actor": actor.name,
        "action": action, "from_status": from_status, "to_status": move.target,
        "reason": reason, "detail": detail})
    await _after_move(session, kind, row, move, detail, ctx, was_waiting, waits, actor)
    # The audit chain's head is locked from here to the commit: last, and short.
    await audit.record(session, actor=actor.name, action=f"{kind.entity}.{action}",
                       entity=kind.entity, entity_id=row.number, before=before,
                       after={"status": move.target, "version": version + 1, **detail},
                       reason=reason)
    return row


async def _after_move(session: AsyncSession, kind: CaseKind, row: CaseRow, move: Move,
                      detail: Mapping[str, Any], ctx: Context, was_waiting: bool,
                      waits: bool, actor: Actor) -> None:
    machine = kind.machine
    if move.target in machine.met or waits:
        await deadlines.disarm(session, kind, row.id, ctx.now)
    elif was_waiting:
        await deadlines.arm(session, kind, row, ctx.settings, ctx.now)
    if move.target in machine.final:
        await close_for_case(session, kind.name, row.id)
        if isinstance(row, Complaint):
            await release_holds(session, row.number, actor=actor.name, at=ctx.now)
    satisfaction = detail.get("satisfaction")
    if (move.action != "return_slip" and isinstance(satisfaction, int)
            and satisfaction < ctx.settings.workflow_unsatisfied_below):
        await raise_supervision(
            session, kind=kind.name, case_id=row.id, number=row.number, reason="unsatisfied",
            area_path=row.area_path, provider_id=getattr(row, "provider_id", None), at=ctx.now,
            detail={"satisfaction": satisfaction, "action": move.action})
