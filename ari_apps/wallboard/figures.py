"""The supervisor's figures, by SQL over the stored calls (README "Supervisor's live view").

Every figure comes from the ``calls`` rows of a window (``started_at`` in ``[start, end)``),
so it survives restarts and never resets. A queue's calls are its hotline calls that are
not the continuation of another (``parent_id IS NULL``): a transferred call's new part is
its own row with ``parent_id``, so it is never offered twice; its talk, hold and wrap-up
count in the handling time of the call it continues. Abandons are split by the call's own
wait against the short-abandon threshold (so the figure and its threshold agree even for
rows written under another threshold).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Integer,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from callcenter.calls.models import Call, CallKind
from callcenter.store.engine import Prebuilt

#: How long after its call's window a transfer part may start and still count.
PART_HORIZON = timedelta(days=1)
#: A 15-minute interval, in seconds.
INTERVAL_SECONDS = 900
_ABANDONS = ("abandoned", "short_abandon")
_CALLS = Call.__table__.alias("c")
_PARTS = Call.__table__.alias("p")


@dataclass(frozen=True, slots=True)
class Counts:
    """The sums one window (or one 15-minute interval) of one queue is made of."""

    offered: int = 0
    answered: int = 0
    abandoned: int = 0  # after the short-abandon threshold
    short_abandoned: int = 0
    answered_within: int = 0  # answered with a wait of at most T
    answered_wait: int = 0  # seconds, total over the answered calls
    handling: int = 0  # talk + hold + wrap-up seconds, transfer parts included

    def plus(self, handling: int) -> Counts:
        return Counts(self.offered, self.answered, self.abandoned, self.short_abandoned,
                      self.answered_within, self.answered_wait, self.handling + handling)

    def figures(self) -> dict[str, float | None]:
        """The ratios (None when their denominator is zero: no figure, not a zero)."""
        counted = self.offered - self.short_abandoned
        return {
            "service_level": _ratio(self.answered_within, self.answered + self.abandoned),
            "answer_rate": _ratio(self.answered, counted),
            "abandon_rate": _ratio(self.abandoned, counted),
            "asa_seconds": _ratio(self.answered_wait, self.answered),
            "aht_seconds": _ratio(self.handling, self.answered),
        }


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


_SPAN = literal_column(str(INTERVAL_SECONDS), Integer)
_ONE, _ZERO = literal_column("1", Integer), literal_column("0", Integer)


def _bucket(column: Any, dialect: str) -> ColumnElement[Any]:
    """The 15-minute interval a time falls in, as whole intervals since the epoch (constants
    written into the SQL: GROUP BY must see the very same expression)."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column) / _SPAN), Integer)
    return cast(func.strftime("%s", column), Integer) / _SPAN


def _count(condition: ColumnElement[bool]) -> Any:
    return func.coalesce(func.sum(case((condition, _ONE), else_=_ZERO)), _ZERO)


def _abandon(column: Any) -> ColumnElement[bool]:
    # Spelled out rather than IN (...): an expanding IN cannot be compiled once.
    return or_(*(column == literal_column(f"'{outcome}'") for outcome in _ABANDONS))


def _originals(table: Any) -> ColumnElement[bool]:
    return and_(table.c.kind == CallKind.HOTLINE.value, table.c.parent_id.is_(None),
                table.c.queue.is_not(None), table.c.started_at >= bindparam("start"),
                table.c.started_at < bindparam("end"))


class FigureQueries:
    """The figure statements, built once per service-level setting and dialect."""

    def __init__(self, default_t: int, per_queue_t: Mapping[str, int]) -> None:
        self.default_t = default_t
        self.per_queue_t = dict(per_queue_t)
        self._built: dict[tuple[str, bool], tuple[Prebuilt, Prebuilt]] = {}

    def service_level_seconds(self, queue: str) -> int:
        return self.per_queue_t.get(queue, self.default_t)

    def _t(self) -> Any:
        if not self.per_queue_t:
            return literal(self.default_t)
        return case(*((_CALLS.c.queue == q, t) for q, t in sorted(self.per_queue_t.items())),
                    else_=self.default_t)

    def _statements(self, dialect: str, by_interval: bool) -> tuple[Prebuilt, Prebuilt]:
        key = (dialect, by_interval)
        if key not in self._built:
            c, p = _CALLS, _PARTS
            answered = c.c.answered_at.is_not(None)
            abandoned = _abandon(c.c.outcome)
            short = bindparam("short", type_=Integer)
            group: list[Any] = [c.c.queue]
            if by_interval:
                group.append(_bucket(c.c.started_at, dialect).label("bucket"))
            own = (c.c.talk_seconds + c.c.hold_seconds + c.c.wrapup_seconds)
            counts = (
                select(*group, func.count().label("offered"), _count(answered).label("answered"),
                       _count(and_(abandoned, c.c.wait_seconds >= short)).label("abandoned"),
                       _count(and_(abandoned, c.c.wait_seconds < short)).label("short"),
                       _count(and_(answered, c.c.wait_seconds <= self._t())).label("within"),
                       func.coalesce(func.sum(case((answered, c.c.wait_seconds), else_=_ZERO)), _ZERO)
                       .label("wait"),
                       func.coalesce(func.sum(case((answered, own), else_=_ZERO)), _ZERO)
                       .label("handling"))
                .where(_originals(c)).group_by(*group)
            )
            parts = (
                select(*group, func.coalesce(func.sum(
                    p.c.talk_seconds + p.c.hold_seconds + p.c.wrapup_seconds), _ZERO).label("handling"))
                .select_from(p.join(c, c.c.id == p.c.parent_id))
                # A part starts after its call, within the day after the window: both sides
                # are read by time (a join along parent_id would walk the whole table).
                .where(_originals(c), p.c.kind == CallKind.HOTLINE.value,
                       p.c.parent_id.is_not(None),  # on ix_calls_parts_started_at
                       p.c.started_at >= bindparam("start"),
                       p.c.started_at < bindparam("parts_end"))
                .group_by(*group)
            )
            self._built[key] = (Prebuilt(counts), Prebuilt(parts))
        return self._built[key]

    async def counts(
        self, conn: AsyncConnection, start: datetime, end: datetime, short_seconds: int,
        *, by_interval: bool = False,
    ) -> dict[tuple[str, int | None], Counts]:
        """Counts per queue (and per 15-minute interval start, epoch seconds) in the window."""
        counts_q, parts_q = self._statements(conn.dialect.name, by_interval)
        params = {"start": start, "end": end, "short": short_seconds,
                  "parts_end": end + PART_HORIZON}
        found: dict[tuple[str, int | None], Counts] = {}
        for row in await counts_q.fetch(conn, params):
            key = _key(row, by_interval)
            found[key] = Counts(int(row["offered"]), int(row["answered"]), int(row["abandoned"]),
                                int(row["short"]), int(row["within"]), int(row["wait"]),
                                int(row["handling"]))
        for row in await parts_q.fetch(conn, params):
            key = _key(row, by_interval)
            found[key] = found.get(key, Counts()).plus(int(row["handling"]))
        return found


def _key(row: Mapping[str, Any], by_interval: bool) -> tuple[str, int | None]:
    bucket = int(row["bucket"]) * INTERVAL_SECONDS if by_interval else None
    return str(row["queue"]), bucket


_WAITING = Prebuilt(
    select(Call.queue, func.count().label("waiting"), func.min(Call.queued_at).label("since"))
    .where(Call.kind == CallKind.HOTLINE.value, Call.queue.is_not(None),
           Call.queued_at.is_not(None), Call.answered_at.is_(None), Call.ended_at.is_(None),
           Call.started_at >= bindparam("since"))
    .group_by(Call.queue)
)


async def waiting_now(conn: AsyncConnection, since: datetime) -> dict[str, tuple[int, datetime]]:
    """Callers in each queue now, by the stored calls (queued, not answered, not ended,
    started after ``since``): the live view's starting point before the PBX reports it."""
    rows = await _WAITING.fetch(conn, {"since": since})
    return {str(r["queue"]): (int(r["waiting"]), aware(r["since"])) for r in rows}


def aware(value: Any) -> datetime:
    """A stored time as an aware UTC datetime (SQLite hands back text or naive times)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)
