"""Care calls in the store: each day's layout, attempts, results and the unreached path.

Every write here is one short transaction. An attempt's ``calls`` row is written before
its originate (and the task's ``attempts`` moved on with it), so no attempt is dialled
twice, also by a restarted product; each attempt's timer is keyed ``<task>:<attempt>``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import false, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.care.exceptions import (
    BadNumber,
    ElderInactive,
    ElderNotFound,
    NoPhone,
    QuietHours,
    TaskNotFound,
)
from ari_apps.care.models import (
    CareBroadcast,
    CareCampaign,
    CareEvent,
    CareHours,
    CareKind,
    CareLayout,
    CarePlan,
    CareTask,
    Escalation,
    PlanSource,
    Repeat,
    TaskState,
)
from ari_apps.care.plans import Hours, PlanSpec, Window, parse_time, parse_weekdays, task_id
from callcenter import audit
from callcenter.calls.models import Call, CallDirection, CallKind
from callcenter.directory.validators import normalise_phone
from callcenter.errors import DomainError
from callcenter.scheduler.models import ScheduledTimer, TimerState
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory, dialect_insert
from callcenter.store.models import (
    Area,
    Contact,
    ContactRole,
    Elder,
    ElderPhone,
    ElderStatus,
    utcnow,
)
from workflow.models import WorkOrder, WorkOrderType

CALL_KIND = "care.call"
WATCH_KIND = "care.watch"
VISIT_KIND = "care.visit"
DAY_KIND = "care.day"
_CHUNK = 500


def hours_for(settings: Settings, own: CareHours | None = None) -> Hours:
    """The centre's quiet hours and the elder's own hours."""
    own_window = Window(parse_time(own.start, "hours"), parse_time(own.end, "hours")) \
        if own is not None else None
    return Hours(ZoneInfo(settings.time_zone), Window.parse(settings.care_quiet_hours,
                                                            "CARE_QUIET_HOURS"), own_window)


def spec_of(plan: CarePlan) -> PlanSpec:
    return PlanSpec(kind=CareKind(plan.kind), repeat=Repeat(plan.repeat),
                    at_time=parse_time(plan.at_time),
                    weekdays=parse_weekdays(plan.weekdays) if plan.weekdays else (),
                    on_date=plan.on_date, medicine=plan.medicine, message=plan.message)


def timer_values(kind: str, key: str, due_at: datetime,
                 payload: dict[str, Any] | None = None) -> dict[str, Any]:
    """A pending timer row, as ``ensure`` inserts it (it never overrides one that exists)."""
    now = utcnow()
    return {"kind": kind, "key": key, "due_at": due_at, "payload": payload or {},
            "state": TimerState.PENDING.value, "attempts": 0,
            "requested_at": datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC")),
            "created_at": now, "updated_at": now}


async def ensure_timers(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Insert missing timers; those that exist (in whatever state) are left alone."""
    insert = dialect_insert(session.get_bind().dialect.name)
    for start in range(0, len(rows), _CHUNK):
        await session.execute(insert(ScheduledTimer).values(rows[start:start + _CHUNK])
                              .on_conflict_do_nothing(index_elements=["kind", "key"]))


async def arm_timer(session: AsyncSession, kind: str, key: str, due_at: datetime,
                    payload: dict[str, Any] | None = None, *,
                    requested_at: datetime | None = None) -> None:
    """Arm (or move) a timer in this transaction: the newest request wins (``requested_at``:
    the scheduler's clock, when the scheduler may move the same timer later)."""
    insert = dialect_insert(session.get_bind().dialect.name)
    values = timer_values(kind, key, due_at, payload) | {
        "requested_at": requested_at or utcnow()}
    stmt = insert(ScheduledTimer).values(**values)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["kind", "key"],
        set_={name: stmt.excluded[name] for name in
              ("due_at", "payload", "state", "attempts", "requested_at", "updated_at")},
        where=ScheduledTimer.requested_at < stmt.excluded.requested_at))


async def ensure_default_plans(session: AsyncSession, settings: Settings) -> int:
    """A daily wellbeing call for every active elder living alone or disabled without one."""
    has_plan = select(CarePlan.id).where(CarePlan.elder_id == Elder.id,
                                         CarePlan.kind == CareKind.WELLBEING.value)
    rows = (await session.execute(
        select(Elder.id, Elder.code).where(
            Elder.status == ElderStatus.ACTIVE.value,
            Elder.lives_alone.is_(True) | Elder.disabled.is_(True),
            ~has_plan.exists()))).all()
    for elder_id, code in rows:
        session.add(CarePlan(code=f"DEF-{code}"[:40], elder_id=elder_id,
                             kind=CareKind.WELLBEING.value, repeat=Repeat.DAILY.value,
                             at_time=settings.care_default_time, source=PlanSource.DEFAULT.value,
                             created_by="care"))
    await session.flush()
    return len(rows)


async def layout_day(sessions: SessionFactory, settings: Settings, day: date, *,
                     plan_ids: Iterable[int] | None = None, not_before: datetime | None = None,
                     changed_since: datetime | None = None) -> int:
    """Make ``day``'s care calls of the active plans (or of ``plan_ids``) and arm them.

    Idempotent: tasks and timers that exist are left as they are. Calls that would fall
    before ``not_before`` are not made (a plan added in the afternoon starts tomorrow).
    ``changed_since`` reads only the plans created or changed since then (the gap after
    the day's last layout). A layout of every plan (no ``plan_ids``) marks the day in
    ``care_layouts`` with the moment it read them.
    """
    zone = ZoneInfo(settings.time_zone)
    async with sessions.begin() as session:
        read_at = utcnow()
        if plan_ids is None:
            await ensure_default_plans(session, settings)
        query = (select(CarePlan, CareHours)
                 .join(Elder, Elder.id == CarePlan.elder_id)
                 .outerjoin(CareHours, CareHours.elder_id == CarePlan.elder_id)
                 .where(CarePlan.active.is_(True), Elder.status == ElderStatus.ACTIVE.value))
        if plan_ids is not None:
            query = query.where(CarePlan.id.in_(list(plan_ids)))
        if changed_since is not None:
            query = query.where(CarePlan.updated_at >= changed_since)
        tasks: list[dict[str, Any]] = []
        timers: list[dict[str, Any]] = []
        now = utcnow()
        quiet = hours_for(settings)
        for plan, own in (await session.execute(query)).all():
            spec = spec_of(plan)
            if not spec.due_on(day):
                continue
            hours = quiet if own is None else hours_for(settings, own)
            due = hours.place(datetime.combine(day, spec.at_time, zone))
            if not_before is not None and due < not_before:
                continue
            ident = task_id(plan.id, day)
            tasks.append({"id": ident, "plan_id": plan.id, "elder_id": plan.elder_id,
                          "kind": plan.kind, "local_date": day, "due_at": due,
                          "state": TaskState.SCHEDULED.value, "attempts": 0,
                          "unanswered_keys": 0, "reason": "",
                          "escalation": Escalation.NONE.value, "created_by": "plan",
                          "created_at": now, "updated_at": now, "details": {}})
            timers.append(timer_values(CALL_KIND, f"{ident}:1", due))
        await insert_tasks(session, tasks)
        await ensure_timers(session, timers)
        if plan_ids is None:
            await _mark_laid_out(session, day, read_at, len(tasks))
    return len(tasks)


async def insert_tasks(session: AsyncSession, tasks: list[dict[str, Any]]) -> None:
    """Insert care tasks in chunks; a task that exists is left as it is."""
    insert = dialect_insert(session.get_bind().dialect.name)
    for start in range(0, len(tasks), _CHUNK):
        await session.execute(insert(CareTask).values(tasks[start:start + _CHUNK])
                              .on_conflict_do_nothing(index_elements=["id"]))


async def _mark_laid_out(session: AsyncSession, day: date, read_at: datetime,
                         calls: int) -> None:
    # Plans saved after ``read_at`` are laid out by whoever saves them (``save_plans``
    # lays out their day after its commit); the mark only spares re-reading the rest.
    insert = dialect_insert(session.get_bind().dialect.name)
    stmt = insert(CareLayout).values(local_date=day, laid_out_at=read_at, calls=calls)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["local_date"],
        set_={"laid_out_at": stmt.excluded.laid_out_at,
              "calls": CareLayout.calls + stmt.excluded.calls}))


async def last_layout(sessions: SessionFactory, day: date) -> datetime | None:
    """When ``day``'s plans were last all read for its layout, or None."""
    async with sessions() as session:
        mark = await session.get(CareLayout, day)
        return mark.laid_out_at if mark is not None else None


def local_day(settings: Settings, moment: datetime) -> date:
    return moment.astimezone(ZoneInfo(settings.time_zone)).date()


@dataclass(frozen=True)
class Target:
    """Whom an attempt calls and what it says."""

    task_id: str
    elder_id: int
    kind: CareKind
    name: str
    number: str
    area_path: str
    medicine: str = ""
    message: str = ""
    report_to_kin: bool = False


async def target_of(session: AsyncSession, task: CareTask) -> Target:
    """The elder's number and the plan's words; a clear error when nobody can be called."""
    return await _target(session, task.id, task.elder_id, CareKind(task.kind), task.plan_id,
                         task.details or {})


async def _target(session: AsyncSession, task_id_: str, elder_id: int, kind: CareKind,
                  plan_id: int | None, details: dict[str, Any]) -> Target:
    # One query (an attempt's hot path): the elder, their area, first phone and the plan.
    first_phone = (select(ElderPhone.number).where(ElderPhone.elder_id == Elder.id)
                   .order_by(ElderPhone.id).limit(1).scalar_subquery())
    query = (select(Elder.code, Elder.name, Elder.status, Area.path, first_phone,
                    CarePlan.id, CarePlan.medicine, CarePlan.message, CarePlan.report_to_kin)
             .join(Area, Area.id == Elder.area_id)
             .outerjoin(CarePlan, (CarePlan.id == plan_id) if plan_id is not None
                        else false())
             .where(Elder.id == elder_id))
    row = (await session.execute(query)).first()
    if row is None:
        raise TaskNotFound("the care call's elder is gone", {"task": task_id_})
    code, name, status, path, phone, found_plan, medicine, message, report = row
    if status != ElderStatus.ACTIVE.value:
        raise ElderInactive(f"elder {code} is {status}", {"elder": code})
    if phone is None:
        raise NoPhone(f"elder {code} has no phone number", {"elder": code})
    try:
        number = normalise_phone(phone)
    except ValueError as err:
        raise BadNumber(f"elder {code}: {err}", {"elder": code}) from None
    if found_plan is not None:
        return Target(task_id_, elder_id, kind, name, number, path, medicine=medicine,
                      message=message, report_to_kin=bool(report))
    return Target(task_id_, elder_id, kind, name, number, path,
                  medicine=str(details.get("medicine", "")),
                  message=str(details.get("message", "")))


async def event(session: AsyncSession, kind: str, *, elder_id: int | None,
                task: str | None = None, call: str | None = None,
                detail: dict[str, Any] | None = None) -> None:
    """One entry on the elder's care timeline."""
    session.add(CareEvent(elder_id=elder_id, task_id=task, call_id=call, kind=kind,
                          detail=detail or {}, at=utcnow()))


@dataclass(frozen=True)
class Begun:
    """An attempt written: whom it calls, or why it cannot (it then fails at once)."""

    target: Target
    failure: DomainError | None = None


async def begin_attempt(sessions: SessionFactory, task_id_: str, attempt: int, call: str,
                        owner: str, now: datetime) -> Begun | None:
    """Write the attempt's calls row and move the task on, in one transaction; None if it
    was placed before, the task is cancelled, or its broadcast is cancelled or expired."""
    still_valid = select(CareBroadcast.id).where(
        CareBroadcast.id == CareTask.broadcast_id, CareBroadcast.cancelled_at.is_(None),
        CareBroadcast.valid_until > now).exists()
    async with sessions.begin() as session:
        row = (await session.execute(
            update(CareTask).where(CareTask.id == task_id_, CareTask.attempts < attempt,
                                   CareTask.state != TaskState.CANCELLED.value,
                                   CareTask.broadcast_id.is_(None) | still_valid)
            .values(attempts=attempt, state=TaskState.CALLING.value, owner=owner,
                    heartbeat_at=now, updated_at=utcnow())
            .returning(CareTask.elder_id, CareTask.kind, CareTask.plan_id, CareTask.details)
        )).first()
        if row is None:
            return None
        elder_id, kind, plan_id, details = row
        failure: DomainError | None = None
        try:
            target = await _target(session, task_id_, elder_id, CareKind(kind), plan_id,
                                   details or {})
        except (NoPhone, BadNumber, ElderInactive, TaskNotFound) as err:
            target, failure = Target(task_id_, elder_id, CareKind(kind), "", "", ""), err
        await session.execute(insert(Call).values(
            id=call, kind=CallKind.CARE.value, direction=CallDirection.OUTBOUND.value,
            called_number=target.number, elder_id=elder_id, caller_kind="staff",
            started_at=now, details={"task": task_id_, "attempt": attempt, "care_kind": kind}))
        await session.execute(insert(CareEvent).values(
            elder_id=elder_id, task_id=task_id_, call_id=call, kind="call.dialling",
            detail={"attempt": attempt}, at=utcnow()))
    return Begun(target, failure)


async def campaigns_paused(session: AsyncSession) -> set[CareKind]:
    rows = await session.execute(select(CareCampaign.kind).where(CareCampaign.paused.is_(True)))
    return {CareKind(kind) for kind in rows.scalars()}


async def set_campaign(sessions: SessionFactory, kind: CareKind, paused: bool, actor: str) -> None:
    """Pause or resume a campaign (audited)."""
    async with sessions.begin() as session:
        row = await session.get(CareCampaign, kind.value)
        before = {"paused": row.paused} if row is not None else {"paused": False}
        if row is None:
            session.add(CareCampaign(kind=kind.value, paused=paused, changed_by=actor))
        else:
            row.paused, row.changed_by, row.changed_at = paused, actor, utcnow()
        await audit.record(session, actor=actor, action="care.campaign",
                           entity="care_campaign", entity_id=kind.value, before=before,
                           after={"paused": paused})


async def kin_contacts(session: AsyncSession, elder_id: int,
                       roles: tuple[ContactRole, ...] = (ContactRole.KIN,)) -> list[Contact]:
    """The elder's contacts of ``roles``, in priority order."""
    return list((await session.execute(
        select(Contact).where(Contact.elder_id == elder_id,
                              Contact.role.in_([r.value for r in roles]))
        .order_by(Contact.role, Contact.priority, Contact.id))).scalars())


async def open_visit_order(session: AsyncSession, task: CareTask, elder_name: str) -> str:
    """The welfare-visit work order, once per task (type ``service``, audited)."""
    number = f"WV-{task.id}"[:32]
    found = (await session.execute(select(WorkOrder.id).where(WorkOrder.number == number))
             ).scalar_one_or_none()
    if found is not None:
        return number
    order = WorkOrder(number=number, type=WorkOrderType.SERVICE.value, priority="high",
                      elder_id=task.elder_id, title=f"上门探访：{elder_name}（关爱电话未接通）",
                      description="关爱电话多次未接通，已通知家属或社工，仍未联系上老人，请上门探访。",
                      details={"care_task": task.id, "reason": task.reason},
                      created_by="care", created_at=utcnow(),
                      due_at=utcnow() + timedelta(hours=4))
    session.add(order)
    await session.flush()
    await audit.record(session, actor="care", action="work_order.create", entity="work_order",
                       entity_id=number, after={"type": order.type, "care_task": task.id})
    return number


def day_start(settings: Settings, day: date) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(settings.time_zone))


async def call_now(sessions: SessionFactory, settings: Settings, elder_code: str,
                   kind: CareKind, *, actor: str, now: datetime,
                   ignore_quiet_hours: bool = False) -> str:
    """One care call at once (``callcenter care call-now``): checked, stored, armed.

    The process with call control dials it within a scheduler pass (ahead of the
    campaigns). A missing phone, a bad number, an inactive elder or the quiet hours are
    refused here, before anything is stored.
    """
    async with sessions.begin() as session:
        elder = (await session.execute(select(Elder).where(Elder.code == elder_code))
                 ).scalar_one_or_none()
        if elder is None:
            raise ElderNotFound(f"no elder {elder_code!r}", {"elder": elder_code})
        own = await session.get(CareHours, elder.id)
        hours = hours_for(settings, own)
        if not ignore_quiet_hours and not hours.allows(now.astimezone(hours.zone)):
            raise QuietHours(f"{now.astimezone(hours.zone):%H:%M} is in the quiet hours or "
                             f"outside elder {elder_code}'s own hours; the next allowed "
                             f"moment is {hours.place(now).astimezone(hours.zone):%Y-%m-%d %H:%M}",
                             {"elder": elder_code})
        plan = (await session.execute(select(CarePlan).where(
            CarePlan.elder_id == elder.id, CarePlan.kind == kind.value,
            CarePlan.active.is_(True)).limit(1))).scalar_one_or_none()
        details = {"medicine": plan.medicine if plan else "您的药",
                   "message": plan.message if plan else "近期天气变化较大，请注意冷暖"}
        task = CareTask(id=f"now-{secrets.token_hex(6)}", plan_id=plan.id if plan else None,
                        elder_id=elder.id, kind=kind.value, local_date=local_day(settings, now),
                        due_at=now, created_by=actor, details=details)
        session.add(task)
        await session.flush()
        await target_of(session, task)  # no phone, a bad number, inactive: refused
        await arm_timer(session, CALL_KIND, f"{task.id}:1", now, {"urgent": True})
        await event(session, "call.requested", elder_id=elder.id, task=task.id,
                    detail={"by": actor, "kind": kind.value})
        await audit.record(session, actor=actor, action="care.call_now", entity="elder",
                           entity_id=elder.code, after={"task": task.id, "kind": kind.value})
        return task.id
