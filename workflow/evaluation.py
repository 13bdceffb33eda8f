"""Evaluation (B §8.2, A §6.2.3): per provider or area and period, satisfaction, completion
rate, timeliness, complaints and their valid-closure rate, supervision count; a provider
assessment with warnings; CSV; the answer rate from the hotline's calls when a calls source
is provided (:data:`workflow.keys.CALL_STATS`), else shown as unavailable."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.store.models import Area, Provider
from workflow.keys import CallStats
from workflow.models import Complaint, Supervision, WorkOrder

#: Below these a provider is warned about in the assessment.
MIN_SATISFACTION, MIN_TIMELINESS, MIN_COMPLETION = 4.0, 0.9, 0.8


class EvaluationQuery(BaseModel):
    start: date | None = Field(default=None, description="First day (default: 30 days ago).")
    end: date | None = Field(default=None, description="Last day (default: today).")
    by: Literal["provider", "area"] = "provider"


class EvaluationRow(BaseModel):
    key: str
    name: str
    orders: int
    closed: int
    completion_rate: float | None
    satisfaction: float | None
    timeliness: float | None
    complaints: int
    complaints_closed: int
    valid_closure_rate: float | None
    supervisions: int
    warnings: list[str]


class EvaluationReport(BaseModel):
    start: date
    end: date
    by: str
    rows: list[EvaluationRow]
    answer_rate: float | None
    answer_rate_note: str


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None


def _warnings(row: EvaluationRow) -> list[str]:
    found = []
    if row.satisfaction is not None and row.satisfaction < MIN_SATISFACTION:
        found.append(f"满意度 {row.satisfaction:.1f} 低于 {MIN_SATISFACTION:.0f} 分")
    if row.timeliness is not None and row.timeliness < MIN_TIMELINESS:
        found.append(f"按时办结率 {row.timeliness:.0%} 低于 {MIN_TIMELINESS:.0%}")
    if row.completion_rate is not None and row.completion_rate < MIN_COMPLETION:
        found.append(f"办结率 {row.completion_rate:.0%} 低于 {MIN_COMPLETION:.0%}")
    if row.complaints:
        found.append(f"被投诉 {row.complaints} 件")
    if row.supervisions:
        found.append(f"被督办 {row.supervisions} 次")
    return found


async def evaluate(session: AsyncSession, query: EvaluationQuery, area_path: str | None,
                   stats: CallStats | None, zone: ZoneInfo, today: date) -> EvaluationReport:
    """The figures of cases opened in the period, within ``area_path`` (None: everywhere)."""
    end = query.end or today
    start = query.start or end - timedelta(days=29)
    since = datetime.combine(start, time(0), zone)
    until = datetime.combine(end + timedelta(days=1), time(0), zone)
    by_provider = query.by == "provider"

    def scoped(column: Any, created: Any) -> ColumnElement[bool]:
        where = [created >= since, created < until]
        if area_path is not None:
            where.append(or_(column.is_(None), column.startswith(area_path, autoescape=True)))
        return and_(*where)

    wo_key = WorkOrder.provider_id if by_provider else WorkOrder.area_path
    closed = WorkOrder.status == "closed"
    orders = await session.execute(select(
        wo_key, func.count(), func.sum(case((closed, 1), else_=0)),
        func.avg(WorkOrder.satisfaction),
        func.sum(case((and_(closed, WorkOrder.due_at.is_not(None), WorkOrder.closed_at <= WorkOrder.due_at), 1), else_=0)),
        func.sum(case((and_(closed, WorkOrder.due_at.is_not(None)), 1), else_=0)),
    ).where(scoped(WorkOrder.area_path, WorkOrder.created_at), WorkOrder.type != "sos").group_by(wo_key))
    cp_key = Complaint.provider_id if by_provider else Complaint.area_path
    complaints = {k: (int(n), int(c or 0), int(v or 0)) for k, n, c, v in await session.execute(select(
        cp_key, func.count(), func.sum(case((Complaint.status == "closed", 1), else_=0)),
        func.sum(case((Complaint.valid.is_(True), 1), else_=0)),
    ).where(scoped(Complaint.area_path, Complaint.created_at)).group_by(cp_key))}
    sv_key = Supervision.provider_id if by_provider else Supervision.area_path
    supervised: dict[object, int] = {k: int(n) for k, n in await session.execute(select(sv_key, func.count()).where(
        scoped(Supervision.area_path, Supervision.raised_at)).group_by(sv_key))}
    names = await _names(session, by_provider)
    figures: dict[object, list[int | float | None]] = {
        k: [int(n), int(c or 0), float(s) if s is not None else None, int(o or 0), int(d or 0)]
        for k, n, c, s, o, d in orders}
    rows = []
    for key in sorted(set(figures) | set(complaints) | set(supervised), key=lambda k: str(k)):
        if key is None:
            continue
        n, c, s, on_time, with_due = figures.get(key, [0, 0, None, 0, 0])
        cn, cc, cv = complaints.get(key, (0, 0, 0))
        row = EvaluationRow(
            key=str(key), name=names.get(str(key), str(key)), orders=int(n or 0), closed=int(c or 0),
            completion_rate=_ratio(int(c or 0), int(n or 0)),
            satisfaction=round(float(s), 2) if s is not None else None,
            timeliness=_ratio(int(on_time or 0), int(with_due or 0)), complaints=cn,
            complaints_closed=cc, valid_closure_rate=_ratio(cv, cc),
            supervisions=supervised.get(key, 0), warnings=[])
        row.warnings = _warnings(row)
        rows.append(row)
    rate = await stats.answer_rate(area_path, since, until) if stats is not None else None
    note = ("" if rate is not None else
            "暂无：话务数据源（热线通话记录）尚未接入" if stats is None else "该期间无来电")
    return EvaluationReport(start=start, end=end, by=query.by, rows=rows, answer_rate=rate,
                            answer_rate_note=note)


async def _names(session: AsyncSession, by_provider: bool) -> dict[str, str]:
    if by_provider:
        return {str(i): n for i, n in await session.execute(select(Provider.id, Provider.name))}
    return {p: n for p, n in await session.execute(select(Area.path, Area.name))}


CSV_COLUMNS = ("key", "name", "orders", "closed", "completion_rate", "satisfaction", "timeliness",
               "complaints", "complaints_closed", "valid_closure_rate", "supervisions", "warnings")


def to_csv(report: EvaluationReport) -> str:
    """The report as CSV (UTF-8 with a BOM, so spreadsheet programs read the Chinese)."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        data = row.model_dump()
        writer.writerow([("；".join(data[c]) if c == "warnings" else
                          "" if data[c] is None else data[c]) for c in CSV_COLUMNS])
    writer.writerow([])
    writer.writerow(["answer_rate", "" if report.answer_rate is None else report.answer_rate,
                     report.answer_rate_note])
    return out.getvalue()

