"""Reading cases: lists with filters (jurisdiction inside the SQL), and one case with its
timeline, supervisions, linked calls and the moves the reader may make now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.store.models import Elder, Provider
from workflow.calendar import WorkCalendar, remaining_text
from workflow.holds import linked_calls
from workflow.kinds import CaseKind, CaseRow, table_of
from workflow.machines import Actor
from workflow.models import CaseEvent, Supervision, Urging
from workflow.schemas import (
    CaseList,
    CaseListQuery,
    CaseSummary,
    CaseView,
    EventView,
    SupervisionView,
)
from workflow.services import load_case

_SUMMARY = ("id", "number", "status", "version", "title", "elder_id", "area_path", "created_at",
            "due_at", "due_provisional", "paused_at", "closed_at")


def prefix(column: Any, value: str) -> ColumnElement[bool]:
    """``column LIKE 'value%'`` with the value written into the SQL (PostgreSQL uses a
    pattern index only when it sees the prefix: a bound parameter gets a generic plan)."""
    escaped = value.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return column.like(bindparam(None, escaped + "%", literal_execute=True), escape="/")


def visible(kind: CaseKind, area_path: str | None) -> ColumnElement[bool]:
    """Cases in the jurisdiction (a case of no known area is everybody's)."""
    column = table_of(kind).c.area_path
    if area_path is None:
        return column.is_(None) | column.is_not(None)
    return or_(column.is_(None), prefix(column, area_path))


def list_statement(kind: CaseKind, actor: Actor, query: CaseListQuery, now: datetime) -> Any:
    """The SELECT behind a list (the benchmark runs the same one)."""
    t = table_of(kind)
    statement = select(*[t.c[name] for name in _SUMMARY]).where(visible(kind, actor.area_path))
    if query.area:
        statement = statement.where(prefix(t.c.area_path, query.area))
    if query.status:
        statement = statement.where(t.c.status == query.status)
    if query.type and "type" in t.c:
        statement = statement.where(t.c.type == query.type)
    if query.provider_id and "provider_id" in t.c:
        statement = statement.where(t.c.provider_id == query.provider_id)
    if query.elder_id:
        statement = statement.where(t.c.elder_id == query.elder_id)
    if query.q:
        statement = statement.where(prefix(t.c.number, query.q.strip().upper()))
    final = sorted(kind.machine.final)
    if query.open is not None:
        statement = statement.where(t.c.status.not_in(final) if query.open
                                    else t.c.status.in_(final))
    if query.overdue:
        statement = statement.where(t.c.status.not_in(sorted(kind.machine.met)), t.c.paused_at.is_(None),
                                    t.c.due_at < now)
    if query.before_id:
        statement = statement.where(t.c.id < query.before_id)
    return statement.order_by(t.c.id.desc()).limit(query.limit + 1)


def summaries(kind: CaseKind, rows: Sequence[Mapping[str, Any]], limit: int) -> CaseList:
    """A page of the list from its rows (one more than ``limit`` says there is a next page)."""
    more = len(rows) > limit
    items = [CaseSummary(kind=kind.name, paused=r["paused_at"] is not None,
                         **{k: r[k] for k in _SUMMARY if k != "paused_at"})
             for r in rows[:limit]]
    return CaseList(items=items, next_before_id=items[-1].id if more else None)


async def timeline(session: AsyncSession, kind: CaseKind, case_id: int) -> list[EventView]:
    rows = (await session.execute(select(CaseEvent).where(
        CaseEvent.case_kind == kind.name, CaseEvent.case_id == case_id)
        .order_by(CaseEvent.at, CaseEvent.id))).scalars().all()
    return [EventView.model_validate(r, from_attributes=True) for r in rows]


async def supervisions_of(session: AsyncSession, kind: CaseKind, case_id: int) -> list[SupervisionView]:
    urged = (select(func.count()).where(Urging.supervision_id == Supervision.id)
             .correlate(Supervision).scalar_subquery())
    rows = await session.execute(select(Supervision, urged).where(
        Supervision.case_kind == kind.name, Supervision.case_id == case_id).order_by(Supervision.id))
    return [SupervisionView(id=s.id, reason=s.reason, open=s.open, raised_at=s.raised_at,
                            urgings=int(n)) for s, n in rows]


async def case_view(session: AsyncSession, kind: CaseKind, case_id: int, actor: Actor,
                    calendar: WorkCalendar, zone: ZoneInfo, now: datetime) -> CaseView:
    """One case as the reader sees it (404 outside the jurisdiction)."""
    row = await load_case(session, kind, case_id, actor)
    return await _view(session, kind, row, actor, calendar, zone, now)


async def _view(session: AsyncSession, kind: CaseKind, row: CaseRow, actor: Actor,
                calendar: WorkCalendar, zone: ZoneInfo, now: datetime) -> CaseView:
    elder = await session.get(Elder, row.elder_id) if row.elder_id else None
    data: dict[str, Any] = {name: getattr(row, name) for name in _SUMMARY if name != "paused_at"}
    provider_id = getattr(row, "provider_id", None)
    provider = await session.get(Provider, provider_id) if provider_id else None
    remaining = due_text = None
    if row.due_at is not None:  # "by the end of that day": 2025-03-06 24:00
        last = (row.due_at - timedelta(microseconds=1)).astimezone(zone)
        due_text = f"{last:%Y-%m-%d} 24:00" if row.due_at.astimezone(zone).time() == time(0) \
            else f"{row.due_at.astimezone(zone):%Y-%m-%d %H:%M}"
    if row.due_at is not None and row.status not in kind.machine.met:
        remaining = ("已暂停（等待老人/投诉人）" if row.paused_at is not None
                     else remaining_text(calendar, now, row.due_at, zone)[0])
    extra = {name: getattr(row, name) for name in (
        "type", "service_type", "provider_reason", "provider_override", "staff_name",
        "satisfaction", "source", "valid") if hasattr(row, name)}
    return CaseView(
        **data, **extra, kind=kind.name, paused=row.paused_at is not None,
        description=row.description, details=row.details, call_id=row.call_id,
        elder_name=elder.name if elder else None, provider_id=provider_id,
        provider_name=provider.name if provider else None, remaining=remaining, due_text=due_text,
        actions=[m.action for m in kind.machine.available(row.status, actor, row.area_path)],
        timeline=await timeline(session, kind, row.id),
        supervisions=await supervisions_of(session, kind, row.id),
        calls=await linked_calls(session, row.id) if kind.name == "complaint" else [],
    )
