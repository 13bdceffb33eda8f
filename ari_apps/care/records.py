"""An attempt's end in the store: its calls row, its task's next step, the unreached path.

The decision is ``outcomes.decide``; here it is carried out in one transaction: another
attempt's timer, or the final result; for an elder not reached, an alert to kin and the
social worker (SMS and email through the outbox), the agents' task (a console pop and the
"not reached" list), and the timer of the welfare visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from ari_apps.care.broadcasts import retry_urgent
from ari_apps.care.models import REACHED, CareKind, CareResult, CareTask, Escalation, TaskState
from ari_apps.care.outcomes import Next, decide
from ari_apps.care.services import (
    CALL_KIND,
    VISIT_KIND,
    WATCH_KIND,
    arm_timer,
    event,
    hours_for,
    kin_contacts,
    open_visit_order,
)
from callcenter.calls.models import Call, CallOutcome
from callcenter.notify.models import Channel
from callcenter.notify.outbox import NotificationRequest
from callcenter.scheduler.models import ScheduledTimer, TimerState
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import ContactRole, Elder, utcnow

_OUTCOMES = {CareResult.NO_ANSWER: CallOutcome.NO_ANSWER, CareResult.BUSY: CallOutcome.BUSY,
             CareResult.FAILED: CallOutcome.FAILED}


@dataclass(frozen=True)
class AttemptEnd:
    """How one attempt ended."""

    task_id: str
    attempt: int
    call_id: str
    result: CareResult
    reason: str
    answered_at: datetime | None = None
    cause: str | None = None
    #: False for a problem another try cannot cure (no phone, a malformed number).
    retryable: bool = True


@dataclass(frozen=True)
class Settled:
    """What the store now says, for the pops the caller publishes."""

    elder_id: int
    kind: CareKind
    next: Next
    escalated: bool
    reported: bool
    #: SMS and email the caller hands to the outbox (after the commit).
    notes: list[NotificationRequest]


def _e164(number: str) -> str:
    return number if number.startswith("+") else f"+86{number}"


async def settle(sessions: SessionFactory, settings: Settings, end: AttemptEnd, *,
                 report_to_kin: bool, elder_name: str, now: datetime) -> Settled | None:
    """Record the attempt and carry out what follows; None when the task is gone."""
    notes: list[NotificationRequest] = []
    async with sessions.begin() as session:
        task = await session.get(CareTask, end.task_id, with_for_update=True)
        if task is None:
            return None
        kind = CareKind(task.kind)
        # One statement (the hot path): the row's details are those ``begin_attempt`` wrote.
        ended = await session.execute(update(Call).where(
            Call.id == end.call_id, Call.outcome.is_(None)).values(
                outcome=(CallOutcome.ANSWERED if end.answered_at
                         else _OUTCOMES.get(end.result, CallOutcome.FAILED)).value,
                answered_at=end.answered_at, ended_at=now, hangup_cause=end.cause,
                disposition=end.result.value,
                talk_seconds=int((now - end.answered_at).total_seconds())
                if end.answered_at else 0,
                details={"task": task.id, "attempt": end.attempt, "care_kind": kind.value,
                         "result": end.result.value, "reason": end.reason}))
        if not ended.rowcount and await session.get(Call, end.call_id) is not None:  # type: ignore[attr-defined]
            return None  # this attempt was settled already (its watch and its end raced)
        # The task's changes go in one UPDATE at the commit (no flush between statements).
        with session.no_autoflush:
            if end.result is CareResult.NO_RESPONSE:
                task.unanswered_keys += 1
            step = decide(kind, end.result, attempt=end.attempt, no_responses=task.unanswered_keys,
                          retry_delays=list(settings.care_retry_delays), report_to_kin=report_to_kin,
                          retryable=end.retryable)
            task.result, task.reason = end.result.value, end.reason[:200]
            task.owner = None
            await event(session, f"call.{end.result.value}", elder_id=task.elder_id, task=task.id,
                        call=end.call_id, detail={"attempt": end.attempt, "reason": end.reason})
            await session.execute(update(ScheduledTimer).where(
                ScheduledTimer.kind == WATCH_KIND, ScheduledTimer.key == f"{task.id}:{end.attempt}",
                ScheduledTimer.state == TimerState.PENDING.value).values(
                    state=TimerState.CANCELLED.value, updated_at=now))
            if step.retry_after is not None:
                due = now + timedelta(seconds=step.retry_after)
                if not await retry_urgent(session, task):  # an urgent warning rings at any hour
                    due = hours_for(settings).place(due)
                task.state, task.due_at = TaskState.SCHEDULED.value, due
                await arm_timer(session, CALL_KIND, f"{task.id}:{end.attempt + 1}", due)
                await event(session, "call.retry", elder_id=task.elder_id, task=task.id,
                            detail={"attempt": end.attempt + 1, "at": due.isoformat()})
            else:
                task.state = TaskState.DONE.value
            if end.result in REACHED:
                await _resolve_open(session, task.elder_id, task.id)
            if step.escalate:
                task.escalation = Escalation.ALERTED.value
                notes = await _alerts(session, task, elder_name, social_worker=True)
                await arm_timer(session, VISIT_KIND, task.id,
                                now + timedelta(seconds=settings.care_visit_after_seconds))
                await event(session, "unreached.alerted", elder_id=task.elder_id, task=task.id,
                            detail={"notified": len(notes), "agent_task": True})
            elif step.report_kin:
                task.escalation = Escalation.KIN_REPORTED.value
                notes = await _alerts(session, task, elder_name, social_worker=False)
                await event(session, "reminder.reported_to_kin", elder_id=task.elder_id,
                            task=task.id, detail={"notified": len(notes)})
        elder_id = task.elder_id
    return Settled(elder_id, kind, step, step.escalate, step.report_kin, notes)


async def _resolve_open(session: Any, elder_id: int, except_task: str) -> None:
    await session.execute(update(CareTask).where(
        CareTask.elder_id == elder_id, CareTask.id != except_task,
        CareTask.escalation == Escalation.ALERTED.value).values(
            escalation=Escalation.RESOLVED.value, updated_at=utcnow()))


async def _alerts(session: Any, task: CareTask, elder_name: str, *,
                  social_worker: bool) -> list[NotificationRequest]:
    roles = (ContactRole.KIN, ContactRole.SOCIAL_WORKER) if social_worker else (ContactRole.KIN,)
    contacts = await kin_contacts(session, task.elder_id, roles)
    if CareKind(task.kind) is CareKind.MEDICATION and not social_worker:
        text = f"【12349养老服务热线】今天提醒{elder_name}服药的电话未得到确认，请您关心一下老人。"
    else:
        text = (f"【12349养老服务热线】今天给{elder_name}的关爱电话多次未接通，"
                "请您尽快联系老人；如仍联系不上，我们将安排上门探访。")
    notes: list[NotificationRequest] = []
    for contact in contacts:
        notes.append(NotificationRequest(f"care:{task.id}:sms:{contact.id}", Channel.SMS,
                                         _e164(contact.phone), text, subject_entity="care_task",
                                         subject_id=task.id))
        if contact.email:
            notes.append(NotificationRequest(f"care:{task.id}:email:{contact.id}", Channel.EMAIL,
                                             contact.email, text, subject="12349 关爱电话提醒",
                                             subject_entity="care_task", subject_id=task.id))
    return notes


async def visit_due(sessions: SessionFactory, task_id: str) -> str | None:
    """The visit timer: still nobody reached the elder → the welfare-visit work order."""
    async with sessions.begin() as session:
        task = await session.get(CareTask, task_id, with_for_update=True)
        if task is None or task.escalation != Escalation.ALERTED.value:
            return None
        name = (await session.execute(select(Elder.name).where(Elder.id == task.elder_id))
                ).scalar_one()
        number = await open_visit_order(session, task, name)
        task.escalation = Escalation.VISIT.value
        await event(session, "visit.ordered", elder_id=task.elder_id, task=task.id,
                    detail={"work_order": number})
        return number
