"""The dispatcher: claims due notifications, sends them, settles them; retries and recovers.

A row moves ``pending → sending`` in its own committed transaction (the *claim*,
``FOR UPDATE SKIP LOCKED`` on PostgreSQL so several processes share the work; SQLite
serialises writers with ``BEGIN IMMEDIATE``), is sent outside any transaction, then
settled ``sent``/``dead``/back to ``pending`` under a fence on its ``claimed_at``.

No double send: any attempt after the first, and every row found stuck in ``sending``
(the process died mid-send), first asks the sender whether the provider already has
the message (Twilio's message list: same number, same body, created since the row
was); if so the row is settled ``sent`` with that SID. Email cannot be asked, so a
crash between the SMTP server's acceptance and the settle may send a mail twice
(at-least-once); both copies carry the same Message-ID, so the receiver can dedupe.
No loss: a settle that cannot reach the store is journaled; a row whose settle is lost
anyway stays ``sending`` and is recovered after ``stale_after``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select

from callcenter.journal import Journal, JournalError, is_store_unavailable
from callcenter.logs import bound_context, get_logger
from callcenter.notify.base import Outgoing, Sender
from callcenter.notify.exceptions import PermanentSendError, SendError
from callcenter.notify.models import Channel, Notification, NotificationStatus
from callcenter.notify.outbox import OUTCOME_KIND, record_outcome
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

log = get_logger(__name__)

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter between attempts, and a cap on attempts."""

    initial: float = 30.0
    factor: float = 2.0
    maximum: float = 3600.0
    jitter: float = 0.2  # fraction of each delay drawn at random, so retries spread out
    max_attempts: int = 10

    def delay(self, attempts: int, rng: random.Random) -> timedelta:
        """The wait after the ``attempts``-th failed attempt."""
        base = min(self.maximum, self.initial * self.factor ** max(attempts - 1, 0))
        return timedelta(seconds=base * (1 - self.jitter) + base * self.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class Claim:
    """A row this dispatcher holds in ``sending``."""

    notification_id: int
    message: Outgoing
    attempts: int
    claimed_at: datetime
    created_at: datetime
    recovered: bool  # found stuck in ``sending`` by a crashed sender


@dataclass
class DispatchReport:
    """What one pass did."""

    claimed: int = 0
    sent: int = 0  # handed to the provider in this pass
    found_sent: int = 0  # already at the provider: settled without sending again
    retried: int = 0
    dead: int = 0
    lost_claims: int = 0
    errors: list[str] = field(default_factory=list)


class Dispatcher:
    """Delivers the outbox; :meth:`wake` after an enqueue, a periodic poll otherwise."""

    def __init__(
        self,
        sessions: SessionFactory,
        senders: Mapping[Channel, Sender],
        *,
        journal: Journal | None = None,
        clock: Clock = utcnow,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        send_timeout: float = 20.0,
        db_timeout: float = 10.0,
        poll_interval: float = 5.0,
        stale_after: timedelta = timedelta(minutes=5),
        batch_size: int = 20,
    ) -> None:
        if stale_after.total_seconds() < 2 * send_timeout:
            raise ValueError(
                "stale_after must exceed twice send_timeout, or live sends look crashed"
            )
        self._sessions = sessions
        self._senders = dict(senders)
        self._journal = journal
        self._clock = clock
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()
        self._send_timeout = send_timeout
        self._db_timeout = db_timeout
        self._poll_interval = poll_interval
        self._stale_after = stale_after
        self._batch_size = batch_size
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self.passes = 0  # completed passes of the background loop (for health and tests)
        self.last_report = DispatchReport()

    # -- life cycle ------------------------------------------------------------------

    def wake(self) -> None:
        """Something was enqueued: run a pass now instead of at the next poll."""
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once the loop has finished a pass and sleeps (until the next wake or poll)."""
        await self._idle.wait()

    def start(self) -> None:
        """Start the background loop."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="notify-dispatcher"
            )

    async def close(self, grace: float = 5.0) -> None:
        """Stop claiming, let in-flight sends settle for up to ``grace`` s, then cancel."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({task}, timeout=grace)
        if not done:
            task.cancel()  # an unsettled row stays ``sending`` and is recovered later
        await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                report = await self.run_once()
            except Exception as err:  # noqa: BLE001 - task boundary: the store may be down
                failures += 1
                delay = min(self._poll_interval * 2**failures, 60.0)
                log.warning("notification pass failed", error=repr(err), retry_in=delay)
            else:
                failures = 0
                delay = self._poll_interval
                self.last_report = report
                if report.claimed >= self._batch_size:
                    delay = 0.0  # more may be due: go again at once
            self.passes += 1
            if self._stopping:
                break
            self._idle.set()
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._idle.clear()

    # -- one pass ------------------------------------------------------------------------

    async def run_once(self) -> DispatchReport:
        """Claim what is due (and what a crash left in ``sending``), send it, settle it."""
        report = DispatchReport()
        claims = await self.claim()
        report.claimed = len(claims)
        if claims:
            async with asyncio.TaskGroup() as group:  # owns one task per message
                for claim in claims:
                    group.create_task(
                        self._deliver(claim, report), name=f"notify:{claim.notification_id}"
                    )
        return report

    async def claim(self) -> list[Claim]:
        """Move due rows and stale ``sending`` rows to ``sending`` under this claim; commit."""
        now = self._clock()
        channels = [str(c) for c in self._senders]  # unsendable channels wait, not die
        if not channels:
            return []
        stale_before = now - self._stale_after
        async with asyncio.timeout(self._db_timeout), self._sessions.begin() as session:
            rows = (
                (
                    await session.execute(
                        select(Notification)
                        .where(
                            Notification.channel.in_(channels),
                            or_(
                                (Notification.status == NotificationStatus.PENDING.value)
                                & (Notification.next_attempt_at <= now),
                                (Notification.status == NotificationStatus.SENDING.value)
                                & (Notification.claimed_at <= stale_before),
                            ),
                        )
                        .order_by(Notification.next_attempt_at, Notification.id)
                        .limit(self._batch_size)
                        .with_for_update(skip_locked=True)
                    )
                )
                .scalars()
                .all()
            )
            claims = []
            for row in rows:
                recovered = row.status == NotificationStatus.SENDING.value
                row.status = NotificationStatus.SENDING.value
                row.claimed_at = now
                row.attempts += 1
                claims.append(
                    Claim(
                        notification_id=row.id,
                        message=Outgoing(
                            row.dedup_key,
                            Channel(row.channel),
                            row.recipient,
                            row.subject,
                            row.body,
                        ),
                        attempts=row.attempts,
                        claimed_at=now,
                        created_at=row.created_at,
                        recovered=recovered,
                    )
                )
        return claims

    async def _deliver(self, claim: Claim, report: DispatchReport) -> None:
        with bound_context(
            notification_id=claim.notification_id, dedup_key=claim.message.dedup_key
        ):
            try:
                await self._attempt(claim, report)
            except Exception as err:  # noqa: BLE001 - task boundary: one message never stops the rest
                report.errors.append(f"{claim.message.dedup_key}: {err!r}")
                log.error("notification delivery failed", exc_info=err)

    async def _attempt(self, claim: Claim, report: DispatchReport) -> None:
        sender = self._senders[claim.message.channel]
        ref: str | None = None
        try:
            async with asyncio.timeout(self._send_timeout):
                if claim.attempts > 1 or claim.recovered:
                    # An earlier attempt may have reached the provider before failing or crashing.
                    ref = await sender.find_delivered(claim.message, claim.created_at)
                    if ref is not None:
                        report.found_sent += 1
                        log.info("notification already at the provider", recovered=claim.recovered)
                if ref is None:
                    ref = await sender.send(claim.message)
                    report.sent += 1
        except PermanentSendError as err:
            report.dead += 1
            log.warning("notification refused", error_id=err.error_id, reason=err.message)
            await self._settle(claim, report, NotificationStatus.DEAD, error=err.message)
            return
        except (SendError, TimeoutError) as err:
            reason = err.message if isinstance(err, SendError) else "timed out"
            await self._retry_later(claim, report, reason)
            return
        except Exception as err:  # noqa: BLE001 - a sender bug: retried, never lost
            log.error("sender failed unexpectedly", exc_info=err)
            await self._retry_later(claim, report, f"unexpected: {err!r}")
            return
        await self._settle(claim, report, NotificationStatus.SENT, provider_ref=ref)

    async def _retry_later(self, claim: Claim, report: DispatchReport, reason: str) -> None:
        if claim.attempts >= self._retry.max_attempts:
            report.dead += 1
            log.warning("notification given up", attempts=claim.attempts, reason=reason)
            await self._settle(
                claim,
                report,
                NotificationStatus.DEAD,
                error=f"gave up after {claim.attempts} attempts: {reason}",
            )
            return
        report.retried += 1
        next_at = self._clock() + self._retry.delay(claim.attempts, self._rng)
        log.info(
            "notification will be retried",
            attempts=claim.attempts,
            reason=reason,
            at=next_at.isoformat(),
        )
        await self._settle(
            claim, report, NotificationStatus.PENDING, error=reason, next_attempt_at=next_at
        )

    async def _settle(
        self,
        claim: Claim,
        report: DispatchReport,
        status: NotificationStatus,
        *,
        provider_ref: str | None = None,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        at = self._clock()
        outcome: dict[str, Any] = {
            "notification_id": claim.notification_id,
            "claimed_at": claim.claimed_at.isoformat(),
            "status": status.value,
            "provider_ref": provider_ref,
            "error": error,
            "next_attempt_at": next_attempt_at.isoformat() if next_attempt_at else None,
            "at": at.isoformat(),
        }
        try:
            async with asyncio.timeout(self._db_timeout), self._sessions.begin() as session:
                settled = await record_outcome(
                    session,
                    notification_id=claim.notification_id,
                    claimed_at=claim.claimed_at,
                    status=status,
                    provider_ref=provider_ref,
                    error=error,
                    next_attempt_at=next_attempt_at,
                    at=at,
                )
        except Exception as err:
            if self._journal is None or not is_store_unavailable(err):
                raise
            # The store is down: the journal keeps the outcome until it is back.
            key = f"{claim.message.dedup_key}:outcome:{claim.attempts}"
            try:
                await self._journal.write(OUTCOME_KIND, outcome, key)
            except JournalError as journal_err:
                # The row stays ``sending``; recovery asks the provider after ``stale_after``.
                raise journal_err from err
            return
        if not settled:
            report.lost_claims += 1
            log.warning("notification claim lost to another dispatcher", status=status.value)
