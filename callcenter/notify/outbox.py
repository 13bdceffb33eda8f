"""The outbox's front door: idempotent enqueue, the journal fallback, listings for the UI."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.journal import Journal, Resilient, WriteOutcome
from callcenter.notify.exceptions import InvalidNotification
from callcenter.notify.models import Channel, Notification, NotificationStatus
from callcenter.store.engine import dialect_insert
from callcenter.store.models import utcnow

#: Journal kinds owned by the outbox.
ENQUEUE_KIND = "notify.enqueue"
OUTCOME_KIND = "notify.outcome"

_E164 = re.compile(r"^\+?[1-9]\d{4,14}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class NotificationRequest:
    """What a feature asks to send; ``dedup_key`` makes asking twice harmless."""

    dedup_key: str
    channel: Channel
    recipient: str
    body: str
    subject: str = ""
    subject_entity: str | None = None
    subject_id: str | None = None

    def validate(self) -> None:
        """Raise :class:`InvalidNotification` for a request that can never be delivered."""
        problems: dict[str, str] = {}
        if not self.dedup_key or len(self.dedup_key) > 200:
            problems["dedup_key"] = "1 to 200 characters"
        if self.channel not in tuple(Channel):
            problems["channel"] = "sms or email"
        elif self.channel == Channel.SMS and not _E164.match(self.recipient):
            problems["recipient"] = "a phone number in E.164 form, e.g. +8613800138000"
        elif self.channel == Channel.EMAIL and not _EMAIL.match(self.recipient):
            problems["recipient"] = "an email address"
        if not self.body.strip():
            problems["body"] = "must not be empty"
        if len(self.subject) > 255:
            problems["subject"] = "at most 255 characters"
        if self.subject_entity is not None and len(self.subject_entity) > 32:
            problems["subject_entity"] = "at most 32 characters"
        if self.subject_id is not None and len(self.subject_id) > 64:
            problems["subject_id"] = "at most 64 characters"
        if problems:
            raise InvalidNotification("invalid notification request", problems)

    def to_payload(self) -> dict[str, Any]:
        """A JSON-able form for the journal."""
        data = asdict(self)
        data["channel"] = str(self.channel)
        return data

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> NotificationRequest:
        """The request back from its journal form."""
        try:
            return cls(**{**payload, "channel": Channel(payload["channel"])})
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidNotification(f"unreadable notification payload: {err}") from err


def _row(request: NotificationRequest, at: datetime) -> dict[str, Any]:
    """A new, pending outbox row for ``request``."""
    return {
        "dedup_key": request.dedup_key,
        "channel": str(request.channel),
        "recipient": request.recipient,
        "subject": request.subject,
        "body": request.body,
        "status": NotificationStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": at,
        "subject_entity": request.subject_entity,
        "subject_id": request.subject_id,
        "created_at": at,
    }


async def enqueue(
    session: AsyncSession, request: NotificationRequest, *, now: datetime | None = None
) -> Notification:
    """Insert the notification in the caller's transaction, or return the one with its key.

    ``INSERT … ON CONFLICT (dedup_key) DO NOTHING`` on both SQLite and PostgreSQL, so two
    concurrent enqueues of the same key never fail and never make two rows.
    """
    request.validate()
    values = _row(request, now or utcnow())
    insert = dialect_insert(session.get_bind().dialect.name)
    stmt = (
        insert(Notification).values(**values).on_conflict_do_nothing(index_elements=["dedup_key"])
    )
    await session.execute(stmt)
    found = await session.execute(
        select(Notification)
        .where(Notification.dedup_key == request.dedup_key)
        .execution_options(populate_existing=True)
    )
    return found.scalar_one()


async def enqueue_many(
    session: AsyncSession, requests: list[NotificationRequest], *, now: datetime | None = None
) -> None:
    """Insert several notifications in one statement (a key already there is left alone)."""
    at = now or utcnow()
    rows = [_row(request, at) for request in requests]
    insert = dialect_insert(session.get_bind().dialect.name)
    statement = insert(Notification).on_conflict_do_nothing(index_elements=["dedup_key"])
    await session.execute(statement, rows)


async def list_for_subject(
    session: AsyncSession, subject_entity: str, subject_id: str | int
) -> Sequence[Notification]:
    """Every notification about one thing (e.g. an incident), oldest first, for its page."""
    result = await session.execute(
        select(Notification)
        .where(
            Notification.subject_entity == subject_entity,
            Notification.subject_id == str(subject_id),
        )
        .order_by(Notification.created_at, Notification.id)
    )
    return result.scalars().all()


async def get_by_key(session: AsyncSession, dedup_key: str) -> Notification | None:
    """The notification with this dedup key, if any."""
    result = await session.execute(select(Notification).where(Notification.dedup_key == dedup_key))
    return result.scalar_one_or_none()


async def record_outcome(
    session: AsyncSession,
    *,
    notification_id: int,
    claimed_at: datetime,
    status: NotificationStatus,
    provider_ref: str | None = None,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
    at: datetime | None = None,
) -> bool:
    """Settle one claimed send; False when the claim was lost (someone else re-claimed it)."""
    values: dict[str, Any] = {"status": status.value, "last_error": error}
    if status == NotificationStatus.SENT:
        values |= {"provider_ref": provider_ref, "sent_at": at or utcnow()}
    elif status == NotificationStatus.PENDING:
        values |= {"next_attempt_at": next_attempt_at or at or utcnow(), "claimed_at": None}
    result = await session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.status == NotificationStatus.SENDING.value,
            Notification.claimed_at == claimed_at,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _apply_enqueue(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    await enqueue(session, NotificationRequest.from_payload(payload))


async def _apply_outcome(session: AsyncSession, payload: dict[str, Any], key: str) -> None:
    def when(name: str) -> datetime | None:
        value = payload.get(name)
        return datetime.fromisoformat(value) if value else None

    claimed_at = when("claimed_at")
    if claimed_at is None:
        raise InvalidNotification("a journaled outcome needs claimed_at", {"key": key})
    await record_outcome(
        session,
        notification_id=int(payload["notification_id"]),
        claimed_at=claimed_at,
        status=NotificationStatus(payload["status"]),
        provider_ref=payload.get("provider_ref"),
        error=payload.get("error"),
        next_attempt_at=when("next_attempt_at"),
        at=when("at"),
    )


class Outbox:
    """Queue notifications without ever failing the caller because the store is down."""

    def __init__(
        self, resilient: Resilient, journal: Journal, wake: Callable[[], None] | None = None
    ) -> None:
        self._resilient = resilient
        self._wake = wake
        journal.register(ENQUEUE_KIND, _apply_enqueue, on_applied=self.wake)
        journal.register(OUTCOME_KIND, _apply_outcome)

    def wake(self) -> None:
        """Tell the dispatcher there is something to send (call after committing an enqueue)."""
        if self._wake is not None:
            self._wake()

    async def submit(self, request: NotificationRequest) -> WriteOutcome:
        """Store the notification now, or journal it until the store is back."""
        request.validate()  # bad input fails here, before anything is written
        return await self._resilient.write(ENQUEUE_KIND, request.to_payload(), request.dedup_key)

    async def submit_many(self, requests: list[NotificationRequest]) -> WriteOutcome:
        """Store several notifications in one transaction, or journal them all."""
        for request in requests:
            request.validate()
        outcome = await self._resilient.write_many(
            ENQUEUE_KIND,
            [(request.to_payload(), request.dedup_key) for request in requests],
            apply_all=lambda session: enqueue_many(session, requests),
        )
        self.wake()
        return outcome
