"""Deadline warnings and escalations by SMS and email, through the product's outbox.

Who is told: the case's handler (the console user who last acted on it; at first whoever
opened it) and the supervisors whose jurisdiction covers the case's area, the whole-service
supervisors among them (a case of no known area: the whole-service supervisors only).
Only active users; each once, by SMS to their ``phone`` and by mail to their ``email``. A
user with neither is skipped with a log line.

The texts are queued in the timer's own transaction (``enqueue_many``: the outbox table the
dispatcher delivers from, with its retries), so the timeline entry and the texts commit
together. Each text's dedup key names the case, the stage, the deadline and the user: a
timer that runs twice (a restart before it settled) sends nothing twice, while a deadline
moved by a pause warns again for its new time.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.logs import get_logger
from callcenter.notify.exceptions import InvalidNotification
from callcenter.notify.models import Channel
from callcenter.notify.outbox import NotificationRequest, enqueue_many
from callcenter.store.models import Area, Role, User
from workflow.kinds import CaseKind, CaseRow
from workflow.models import CaseEvent

log = get_logger(__name__)

_LABEL = {"workorder": "工单", "consult": "咨询", "complaint": "投诉"}


async def recipients(session: AsyncSession, kind: CaseKind, row: CaseRow) -> list[User]:
    """The handler first, then the supervisors covering the case (each user once)."""
    handler = (await session.execute(
        select(User).join(CaseEvent, CaseEvent.actor == User.username)
        .where(CaseEvent.case_kind == kind.name, CaseEvent.case_id == row.id,
               User.active.is_(True))
        .order_by(CaseEvent.id.desc()).limit(1))).scalar_one_or_none()
    supervisors = (await session.execute(
        select(User, Area.path).outerjoin(Area, Area.id == User.area_id)
        .where(User.role == Role.SUPERVISOR.value, User.active.is_(True))
        .order_by(User.id))).all()
    found = [] if handler is None else [handler]
    for user, path in supervisors:
        covers = path is None or (row.area_path is not None and row.area_path.startswith(path))
        if covers and user not in found:
            found.append(user)
    return found


def _text(kind: CaseKind, row: CaseRow, stage: str, zone: ZoneInfo) -> tuple[str, str]:
    """The subject and the body (zh-CN); no name or address of the elder: a text travels."""
    assert row.due_at is not None
    label = _LABEL[kind.name]
    due = row.due_at.astimezone(zone)
    if (due.hour, due.minute, due.second) == (0, 0, 0):  # "within N working days": 24:00
        last = due - timedelta(days=1)
        when = f"{last.month}月{last.day}日 24:00"
    else:
        when = f"{due.month}月{due.day}日 {due:%H:%M}"
    if stage == "warn":
        return (f"{label}即将到期：{row.number}",
                f"【12349{label}预警】{row.number} 将于 {when} 到期，请及时办理。")
    return (f"{label}已超期：{row.number}",
            f"【12349{label}超期】{row.number} 已于 {when} 到期未办结，已转督办。")


async def queue_deadline_notices(session: AsyncSession, kind: CaseKind, row: CaseRow,
                                 stage: str, zone: ZoneInfo, now: datetime) -> int:
    """Queue the warning (``stage`` warn) or the escalation (due) texts in the caller's
    transaction; returns how many were asked for (a repeated key is left alone)."""
    assert row.due_at is not None
    subject, body = _text(kind, row, stage, zone)
    base = f"wf:{kind.name}:{row.id}:{stage}:{row.due_at.isoformat()}"
    requests: list[NotificationRequest] = []
    for user in await recipients(session, kind, row):
        wanted = [(Channel.SMS, user.phone), (Channel.EMAIL, user.email)]
        if not any(address for _, address in wanted):
            log.info("workflow deadline notice skipped: the user has no phone or email",
                     case_id=row.number, user=user.username, stage=stage)
            continue
        for channel, address in wanted:
            if not address:
                continue
            request = NotificationRequest(
                f"{base}:{user.id}:{channel}", channel, address, body,
                subject=subject if channel == Channel.EMAIL else "",
                subject_entity=kind.entity, subject_id=row.number)
            try:
                request.validate()
            except InvalidNotification as err:  # stored before 0016's checks: skip, say so
                log.warning("workflow deadline notice skipped: unusable address",
                            case_id=row.number, user=user.username, channel=str(channel),
                            problems=err.details)
                continue
            requests.append(request)
    if requests:
        await enqueue_many(session, requests, now=now)
    return len(requests)
