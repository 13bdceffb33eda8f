"""Writing an incident's rows off the call path, and reading them back.

The call flow never waits for the database (DESIGN invariant 1): it hands each row
to :class:`IncidentRecorder`, which writes them in order, in batches, in one
transaction per batch. When the store is unreachable the batch goes to the journal
and is replayed later; every write is an idempotent upsert keyed by its own id, so
a replay, or a replay twice, gives the same rows.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.models import Incident, IncidentEvent, IncidentLeg, IncidentStatus
from callcenter import audit
from callcenter.journal import Journal, is_store_unavailable
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory, dialect_insert
from callcenter.store.models import Area, Elder, utcnow
from workflow.models import WorkOrder, WorkOrderType

log = get_logger(__name__)

INCIDENT = "sos.incident"
OPENED = "sos.opened"
LEG = "sos.leg"
EVENT = "sos.event"
WORK_ORDER = "sos.work_order"
_BATCH = 200

_DATETIME_FIELDS = {"started_at", "first_answer_at", "ended_at", "created_at", "answered_at", "at"}


def _dump(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()}


def _load(values: dict[str, Any]) -> dict[str, Any]:
    return {
        k: datetime.fromisoformat(v) if k in _DATETIME_FIELDS and isinstance(v, str) else v
        for k, v in values.items()
    }


def json_safe(detail: dict[str, Any]) -> dict[str, Any]:
    """``detail`` as JSON can hold it: NaN and Infinity become null, other values text.

    A timeline entry is a jsonb row on PostgreSQL, which refuses NaN: one such value
    would lose the entry, so whatever reaches the recorder is made plain JSON first.
    """
    safe: dict[str, Any] = orjson.loads(
        orjson.dumps(detail, default=str, option=orjson.OPT_NON_STR_KEYS)
    )
    return safe


def _insert(session: AsyncSession) -> Any:
    return dialect_insert(session.get_bind().dialect.name)


def _upsert_many(session: AsyncSession, model: type[Any]) -> Any:
    """INSERT … ON CONFLICT (id) DO UPDATE of every column, to run with many rows."""
    statement = _insert(session)(model)
    columns = [c.name for c in model.__table__.columns if c.name != "id"]
    return statement.on_conflict_do_update(
        index_elements=["id"], set_={c: statement.excluded[c] for c in columns}
    )


async def apply_incident(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    """Create or update an incident row."""
    await session.execute(_upsert_many(session, Incident), [_load(payload)])


async def apply_opened(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    """An incident's first row, unless the recorder (or an earlier replay) wrote one."""
    statement = _insert(session)(Incident).values(**_load(payload)).on_conflict_do_nothing()
    await session.execute(statement)


async def apply_leg(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    """Create or update a leg row."""
    await session.execute(_upsert_many(session, IncidentLeg), [_load(payload)])


async def apply_event(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    """Add a timeline entry once (its key is unique)."""
    insert = _insert(session)
    values = _load(payload) | {"key": key}
    await session.execute(insert(IncidentEvent).values(**values).on_conflict_do_nothing())


async def apply_work_order(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    """Open the incident's emergency work order once, audited (E A.1.2)."""
    exists = (
        await session.execute(
            select(WorkOrder.id).where(WorkOrder.incident_id == payload["incident_id"])
        )
    ).scalar_one_or_none()
    if exists is not None:
        return
    elder_id = payload.get("elder_id")
    area_path = None if elder_id is None else (await session.execute(
        select(Area.path).join(Elder, Elder.area_id == Area.id).where(Elder.id == elder_id)
    )).scalar_one_or_none()
    order = WorkOrder(
        number=payload["number"],
        area_path=area_path,
        type=WorkOrderType.SOS.value if payload.get("kind", "sos") == "sos" else WorkOrderType.ALARM.value,
        priority="urgent",
        elder_id=payload.get("elder_id"),
        incident_id=payload["incident_id"],
        recording_name=payload.get("recording_name"),
        title=payload["title"],
        description=payload.get("description", ""),
        details={"incident": payload["incident_id"]},
        created_by="sos",
        created_at=datetime.fromisoformat(payload["created_at"]),
    )
    session.add(order)
    await session.flush()
    await audit.record(
        session,
        actor="sos",
        action="work_order.create",
        entity="work_order",
        entity_id=order.number,
        after={"type": order.type, "status": order.status, "incident": order.incident_id},
        reason="opened by an SOS incident",
    )


def register_journal_kinds(journal: Journal) -> None:
    """Let the journal replay what the recorder could not write."""
    journal.register(INCIDENT, apply_incident)
    journal.register(OPENED, apply_opened)
    journal.register(LEG, apply_leg)
    journal.register(EVENT, apply_event)
    journal.register(WORK_ORDER, apply_work_order)


@dataclass(frozen=True, slots=True)
class _Write:
    kind: str
    payload: dict[str, Any]
    key: str


_APPLY = {INCIDENT: apply_incident, LEG: apply_leg, EVENT: apply_event, WORK_ORDER: apply_work_order}


#: How long the recorder lets a batch gather before it writes it.
LINGER = 0.01


class IncidentRecorder:
    """Writes incident rows in the order given, never blocking the caller."""

    def __init__(self, sessions: SessionFactory, journal: Journal, *, timeout: float = 5.0) -> None:
        self._sessions = sessions
        self._journal = journal
        self._timeout = timeout
        self._queue: asyncio.Queue[_Write] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._openings: set[asyncio.Task[None]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        #: Rows wait in the journal: newer ones must not overtake them (see ``_store``).
        self._behind = False

    def start(self) -> None:
        if self._task is None:
            self._behind = self._journal.backlog() > 0  # a previous run's rows, maybe
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sos-recorder")

    async def close(self, grace: float = 15.0) -> None:
        """Write what is queued (for at most ``grace`` seconds), then stop."""
        try:
            async with asyncio.timeout(grace):
                await self.flush()
        except TimeoutError:
            log.error("sos rows still queued at shutdown", rows=self._queue.qsize())
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def flush(self) -> None:
        """Wait until everything queued so far is stored or journaled."""
        if self._openings:
            await asyncio.gather(*self._openings, return_exceptions=True)
        if self._task is not None:
            await self._idle.wait()

    def opened(self, values: dict[str, Any]) -> None:
        """A new incident: its first row goes to the journal (fsync'd) at once, beside the
        first REST calls, so a crash a few milliseconds after the press loses nothing.

        Replayed, it only creates the row when missing: it never undoes a newer state.
        """
        payload = _dump(values)
        task = asyncio.get_running_loop().create_task(
            self._journal.write(OPENED, payload, f"opened:{values['id']}", quiet=True),
            name=f"sos-opened-{values['id']}",
        )
        self._openings.add(task)
        task.add_done_callback(self._opening_done)

    def _opening_done(self, task: asyncio.Task[None]) -> None:
        self._openings.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sos opening not journaled", exc_info=task.exception())

    def incident(self, values: dict[str, Any]) -> None:
        self._put(INCIDENT, _dump(values), f"inc:{values['id']}:{utcnow().timestamp()}")

    def leg(self, values: dict[str, Any]) -> None:
        self._put(LEG, _dump(values), f"leg:{values['id']}:{values.get('state')}")

    def event(self, incident_id: str, kind: str, detail: dict[str, Any], *, key: str,
              at: datetime, actor: str = "system") -> None:
        payload = {"incident_id": incident_id, "kind": kind, "detail": json_safe(detail),
                   "actor": actor, "at": at}
        self._put(EVENT, _dump(payload), key)

    def work_order(self, values: dict[str, Any]) -> None:
        self._put(WORK_ORDER, _dump(values), f"wo:{values['incident_id']}")

    def _put(self, kind: str, payload: dict[str, Any], key: str) -> None:
        self._idle.clear()
        self._queue.put_nowait(_Write(kind, payload, key))

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            # Rows of one step come together: a short wait gathers them into one
            # transaction, and keeps its CPU off the turn where that step's requests go out
            # (an SOS start rings its first round meanwhile).
            await asyncio.sleep(LINGER)
            while len(batch) < _BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                await self._store(batch)
            except Exception as err:  # noqa: BLE001 - task boundary: never lose the batch
                log.error("sos rows could not be written", rows=len(batch), exc_info=err)
            finally:
                if self._queue.empty():
                    self._idle.set()

    async def _apply(self, batch: list[_Write]) -> None:
        """One transaction, one statement per table: rows are whole states, so only the
        newest state of each incident and leg in the batch needs writing."""
        incidents: dict[str, dict[str, Any]] = {}
        legs: dict[str, dict[str, Any]] = {}
        events: list[dict[str, Any]] = []
        orders: list[_Write] = []
        for write in batch:
            if write.kind == INCIDENT:
                incidents[write.payload["id"]] = _load(write.payload)
            elif write.kind == LEG:
                legs[write.payload["id"]] = _load(write.payload)
            elif write.kind == EVENT:
                events.append(_load(write.payload) | {"key": write.key})
            else:
                orders.append(write)
        async with asyncio.timeout(self._timeout), self._sessions.begin() as session:
            # Parents first: legs and events refer to their incident.
            for model, rows in ((Incident, incidents), (IncidentLeg, legs)):
                if rows:
                    await session.execute(_upsert_many(session, model), list(rows.values()))
            if events:
                statement = _insert(session)(IncidentEvent).on_conflict_do_nothing()
                await session.execute(statement, events)
            for write in orders:
                await apply_work_order(session, write.payload, write.key)

    async def _store(self, batch: list[_Write]) -> None:
        # Rows are upserts of a whole state: an older leg or incident row replayed from the
        # journal after a newer one was written would undo it. So once rows were journaled,
        # newer ones follow them into the journal until a replay has caught the store up.
        if self._behind and not await self._caught_up():
            await self._journal_all(batch)
            return
        try:
            await self._apply(batch)
            return
        except Exception as err:  # noqa: BLE001 - sorted just below
            if not is_store_unavailable(err):
                # One bad row must not sink the others: write them one by one.
                await self._store_each(batch)
                return
        self._behind = True
        await self._journal_all(batch)  # the store is down: keep every row for the replayer
        self._journal.nudge()

    async def _journal_all(self, batch: list[_Write]) -> None:
        for write in batch:
            await self._journal.write(write.kind, write.payload, write.key)

    async def _caught_up(self) -> bool:
        """Replay the journal (in order, before anything newer); True once it is empty."""
        report = await self._journal.replay()
        self._behind = report.blocked is not None or self._journal.backlog() > 0
        return not self._behind

    async def _store_each(self, batch: list[_Write]) -> None:
        for write in batch:
            try:
                await self._apply([write])
            except Exception as err:  # noqa: BLE001 - sorted just below
                if is_store_unavailable(err):
                    self._behind = True
                    await self._journal.write(write.kind, write.payload, write.key)
                else:
                    log.error("sos row refused by the store", kind=write.kind, key=write.key,
                              error=str(err))


async def incident_with_timeline(session: AsyncSession, incident_id: str) -> tuple[
    Incident, list[IncidentLeg], list[IncidentEvent]
] | None:
    """An incident, its legs and its timeline in order."""
    incident = await session.get(Incident, incident_id)
    if incident is None:
        return None
    legs = (
        await session.execute(
            select(IncidentLeg)
            .where(IncidentLeg.incident_id == incident_id)
            .order_by(IncidentLeg.created_at, IncidentLeg.id)
        )
    ).scalars().all()
    events = (
        await session.execute(
            select(IncidentEvent)
            .where(IncidentEvent.incident_id == incident_id)
            .order_by(IncidentEvent.at, IncidentEvent.id)
        )
    ).scalars().all()
    return incident, list(legs), list(events)


async def active_incidents(session: AsyncSession) -> list[Incident]:
    """Incidents whose conference has not ended."""
    return list(
        (
            await session.execute(
                select(Incident).where(Incident.status == IncidentStatus.ACTIVE.value)
            )
        ).scalars()
    )
