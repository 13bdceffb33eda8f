"""Supervision (督办, B §6.6, E A.5): raised automatically, once per case and reason, for an
overdue case, a repeated or clustered request (the same elder and service type
``WORKFLOW_REPEAT_COUNT`` times within ``WORKFLOW_REPEAT_DAYS`` days) and an unsatisfied
result; urging actions (by phone, online) are recorded against it; it closes with its case."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import audit
from callcenter.store.engine import dialect_insert
from workflow.exceptions import CaseNotFound, InvalidField
from workflow.machines import Actor
from workflow.models import CaseEvent, Supervision, Urging, WorkOrder


async def raise_supervision(session: AsyncSession, *, kind: str, case_id: int, number: str,
                            reason: str, area_path: str | None, provider_id: int | None,
                            at: datetime, detail: dict[str, Any]) -> bool:
    """Open a supervision once (True when new), on the case's timeline and in the trail."""
    insert = dialect_insert(session.get_bind().dialect.name)
    result = await session.execute(insert(Supervision).values(
        case_kind=kind, case_id=case_id, case_number=number, reason=reason, open=True,
        area_path=area_path, provider_id=provider_id, detail=detail, raised_at=at,
    ).on_conflict_do_nothing())
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    session.add(CaseEvent(case_kind=kind, case_id=case_id, at=at, actor="system",
                          action="supervision", reason=reason, detail=detail))
    await audit.record(session, actor="system", action="supervision.raise", entity=kind,
                       entity_id=number, after={"reason": reason, **detail}, reason=reason)
    return True


async def check_repeated(session: AsyncSession, order: WorkOrder, *, count: int, days: int,
                         at: datetime) -> bool:
    """Supervise ``order`` when its elder asked for the same service ``count`` times in ``days``."""
    if order.elder_id is None or not order.service_type:
        return False
    since = at - timedelta(days=days)
    seen = (await session.execute(select(func.count()).select_from(WorkOrder).where(
        WorkOrder.elder_id == order.elder_id, WorkOrder.service_type == order.service_type,
        WorkOrder.created_at >= since))).scalar_one()
    if seen < count:
        return False
    return await raise_supervision(
        session, kind="workorder", case_id=order.id, number=order.number, reason="repeated",
        area_path=order.area_path, provider_id=order.provider_id, at=at,
        detail={"requests": int(seen), "days": days, "service_type": order.service_type})


async def close_for_case(session: AsyncSession, kind: str, case_id: int) -> None:
    """The case ended: its supervisions close."""
    await session.execute(update(Supervision).where(
        Supervision.case_kind == kind, Supervision.case_id == case_id, Supervision.open.is_(True),
    ).values(open=False))


async def urge(session: AsyncSession, supervision_id: int, *, actor: Actor, channel: str,
               note: str, at: datetime) -> Urging:
    """Record an urging (催办) by phone or online on an open supervision in the actor's area."""
    if channel not in ("phone", "online"):
        raise InvalidField("channel must be phone or online", {"channel": channel})
    found = await session.get(Supervision, supervision_id)
    if found is None or not actor.covers(found.area_path):
        raise CaseNotFound("no such supervision", {"supervision": supervision_id})
    if not found.open:
        raise InvalidField("the supervision is closed", {"supervision": supervision_id})
    urging = Urging(supervision_id=supervision_id, at=at, actor=actor.name, channel=channel,
                    note=note.strip())
    session.add(urging)
    session.add(CaseEvent(case_kind=found.case_kind, case_id=found.case_id, at=at,
                          actor=actor.name, action="urge", reason=note.strip(),
                          detail={"channel": channel, "supervision": supervision_id}))
    await audit.record(session, actor=actor.name, action="supervision.urge",
                       entity=found.case_kind, entity_id=found.case_number,
                       after={"channel": channel}, reason=note.strip())
    await session.flush()
    return urging
