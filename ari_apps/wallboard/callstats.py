"""The hotline's answer rate for the workflow's evaluation (``workflow.keys.CALL_STATS``).

The same definition as the live view's (README, "Supervisor's live view"): answered /
(offered − short abandons), over the hotline calls that are not the continuation of another
(a transfer's new part is not offered twice). An area counts the calls of the elders who
live in it; a whole-service figure counts every call, unknown callers included.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, func, select

from callcenter.calls.models import Call, CallKind, CallOutcome
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Elder


class HotlineCallStats:
    """Answer rates over the stored calls (any process: it reads the shared table)."""

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    async def answer_rate(self, area_path: str | None, start: datetime,
                          end: datetime) -> float | None:
        """Answered / (offered − short abandons) in ``[start, end)``; None without calls."""
        answered = func.count(Call.answered_at)
        short = func.count().filter(Call.outcome == CallOutcome.SHORT_ABANDON.value)
        query = select(func.count(), short, answered).select_from(Call).where(
            Call.kind == CallKind.HOTLINE.value, Call.parent_id.is_(None),
            Call.queue.is_not(None), Call.started_at >= start, Call.started_at < end)
        if area_path:
            query = query.join(Elder, Elder.id == Call.elder_id).join(
                Area, and_(Area.id == Elder.area_id, Area.path.startswith(area_path)))
        async with self._sessions() as session:
            offered, short_abandons, taken = (await session.execute(query)).one()
        counted = offered - short_abandons
        return taken / counted if counted else None
