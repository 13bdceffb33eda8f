"""Abandoned calls are called back, always (issue 9 §6).

Every abandoned call (short abandons and overflows included) gets exactly one callback
row (unique by the abandoned call's id). Its attempts run on the durable scheduler
(kind ``hotline.callback``, key = the callback id), so they survive restarts and fire late
rather than never. An attempt originates the caller's number into the
``[hotline-callback]`` context, which queues the answered call at the caller's priority
and at the position they had among the callers still waiting (app_queue's ``position``
argument); no key press is asked. An agent's AgentConnect makes it ``connected``; a busy,
unanswered or abandoned attempt is retried after the next of ``HOTLINE_CALLBACK_DELAYS``;
after the last one the elder's kin and social worker get an SMS and a follow-up work
order is opened. A caller who calls in again by themselves clears their pending entry.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.hotline.calls import CallTracker, LiveCall
from ari_apps.hotline.keys import AUDIENCE, CALLBACKS_CHANGED
from ari_apps.hotline.models import Callback, CallbackStatus
from ari_apps.hotline.store import HotlineStore
from callcenter.asterisk import AmiClient, AmiError
from callcenter.bus import Bus, BusMessage
from callcenter.calls.models import CallDirection, CallKind, CallOutcome
from callcenter.logs import get_logger
from callcenter.notify.models import Channel as NotifyChannel
from callcenter.notify.outbox import NotificationRequest, Outbox
from callcenter.scheduler import Scheduler, Timer
from callcenter.settings import Settings
from callcenter.store.direct import DirectStatements
from callcenter.store.engine import Prebuilt, SessionFactory
from callcenter.store.models import Contact, ContactRole, Elder
from workflow.models import WorkOrder, WorkOrderType

log = get_logger(__name__)
KIND = "hotline.callback"
ORIGINATE_OUTCOMES = {"busy": CallOutcome.BUSY, "no_answer": CallOutcome.NO_ANSWER,
                      "congestion": CallOutcome.FAILED, "failed": CallOutcome.FAILED}


#: A number's entries waiting for their callback.
_PENDING_IDS = select(Callback.id).where(Callback.number == bindparam("number"),
                                         Callback.status == CallbackStatus.PENDING.value)
_ANY_PENDING = Prebuilt(_PENDING_IDS.limit(1))


class Callbacks:
    """The callback list and its attempts."""

    def __init__(self, sessions: SessionFactory, store: HotlineStore, tracker: CallTracker,
                 scheduler: Scheduler, outbox: Outbox, bus: Bus, settings: Settings,
                 ami: Callable[[], AmiClient], clock: Callable[[], datetime],
                 reads: DirectStatements | None = None) -> None:
        self.sessions = sessions
        self.reads = reads
        self.store = store
        self.tracker = tracker
        self.scheduler = scheduler
        self.outbox = outbox
        self.bus = bus
        self.settings = settings
        self._ami = ami
        self.clock = clock
        tracker.callbacks = self

    def register(self) -> None:
        """Run the attempts in this process."""
        self.scheduler.register(KIND, self._attempt)

    # -- from the call tracker ----------------------------------------------------------

    async def abandoned(self, call: LiveCall, at: datetime) -> None:
        """Put an abandoned call on the list (once) and arm its first attempt."""
        due = at + timedelta(seconds=self.settings.hotline_callback_delays[0])
        try:
            async with self.sessions.begin() as db:
                entry = Callback(call_id=call.id, number=call.number, elder_id=call.elder_id,
                                 queue=call.queue or self.settings.hotline_default_queue,
                                 priority=call.priority,
                                 queued_at=call.queued_at or call.started_at or at,
                                 next_at=due, created_at=at)
                db.add(entry)
                await db.flush()
                callback_id = entry.id
        except IntegrityError:
            log.info("abandoned call already on the callback list", call_id=call.id)
            return
        await self.scheduler.schedule(KIND, str(callback_id), due)
        log.info("abandoned call to call back", call_id=call.id, callback_id=callback_id)
        await self._changed()

    async def caller_called(self, number: str, call_id: str) -> None:
        """The caller called in again by themselves: their pending entries are cleared."""
        if self.reads is not None and not await self.reads.run(
                lambda reader: reader.fetch(_ANY_PENDING, {"number": number})):
            return  # nothing pending (every call asks): no write transaction
        async with self.sessions.begin() as db:
            ids = list((await db.execute(_PENDING_IDS, {"number": number})).scalars())
            if not ids:
                return
            await db.execute(update(Callback).where(Callback.id.in_(ids)).values(
                status=CallbackStatus.CLEARED.value, done_at=self.clock(),
                last_result="caller-called-again", connected_call_id=call_id))
        for callback_id in ids:
            await self.scheduler.cancel(KIND, str(callback_id))
        await self._changed()

    async def attempt_ended(self, callback_id: int, call_id: str, connected: bool,
                            result: str) -> None:
        """An attempt reached an agent, or failed (retried until the last delay)."""
        now = self.clock()
        async with self.sessions.begin() as db:
            entry = await db.get(Callback, callback_id)
            if entry is None or entry.status != CallbackStatus.DIALLING.value:
                return
            entry.last_result = result
            if connected:
                entry.status, entry.done_at = CallbackStatus.CONNECTED.value, now
                entry.connected_call_id = call_id
            elif entry.attempts < len(self.settings.hotline_callback_delays):
                entry.status = CallbackStatus.PENDING.value
                entry.next_at = now + timedelta(
                    seconds=self.settings.hotline_callback_delays[entry.attempts])
            else:
                entry.status, entry.done_at = CallbackStatus.FAILED.value, now
                entry.work_order_id = await self._follow_up(db, entry, now)
            status, next_at, elder_id = entry.status, entry.next_at, entry.elder_id
        if status == CallbackStatus.PENDING.value and next_at is not None:
            await self.scheduler.schedule(KIND, str(callback_id), next_at)
        elif status == CallbackStatus.FAILED.value:
            await self._alert(callback_id, elder_id)
        log.info("callback attempt ended", callback_id=callback_id, result=result, status=status)
        await self._changed()

    async def recover(self) -> None:
        """After a restart: an attempt left ``dialling`` with no call still followed (its
        row ended, or never written, while the product was down) counts as failed."""
        async with self.sessions() as db:
            stuck = list(await db.execute(select(Callback.id, Callback.attempts).where(
                Callback.status == CallbackStatus.DIALLING.value)))
        followed = {c.callback_id for c in [*self.tracker.live.values(),
                                            *self.tracker.expected.values()]}
        for callback_id, attempt in stuck:
            if callback_id not in followed:
                await self.attempt_ended(callback_id, f"cb-{callback_id}-{attempt}", False,
                                         "interrupted")

    # -- an attempt ---------------------------------------------------------------------

    async def _attempt(self, timer: Timer) -> None:
        callback_id = int(timer.key)
        async with self.sessions.begin() as db:
            entry = await db.get(Callback, callback_id)
            if entry is None or entry.status != CallbackStatus.PENDING.value:
                return
            entry.status = CallbackStatus.DIALLING.value
            entry.attempts += 1
            attempt, number, queue = entry.attempts, entry.number, entry.queue
            priority, queued_at = entry.priority, entry.queued_at
            parent, elder_id = entry.call_id, entry.elder_id
        ami = self._ami()
        position = await self._position(ami, queue, priority, queued_at)
        channel_id = f"cb-{callback_id}-{attempt}"
        call = LiveCall(id=channel_id, uniqueid=channel_id, number=number,
                        kind=CallKind.CALLBACK.value, elder_id=elder_id, priority=priority,
                        queue=queue, parent_id=parent, started_at=self.clock(),
                        callback_id=callback_id, caller_kind="elder" if elder_id else "unknown",
                        reason="callback", state="dialling")
        self.tracker.expect(call)
        await self.tracker.announce(call)
        await self.store.save_call(channel_id, kind=CallKind.CALLBACK.value,
                                   direction=CallDirection.OUTBOUND.value,
                                   caller_number=number, called_number=number,
                                   elder_id=elder_id, caller_kind=call.caller_kind,
                                   queue=queue, priority=priority, parent_id=parent,
                                   started_at=call.started_at,
                                   details={"uniqueid": channel_id, "callback_id": callback_id,
                                            "attempt": attempt, "reason": "callback"})
        try:
            result = await ami.originate(
                self.settings.dial_template.format(number=number),
                context=self.settings.hotline_callback_context, exten="s", priority=1,
                caller_id=f"12349 <{self.settings.sos_caller_id}>", channel_id=channel_id,
                ring_timeout_ms=self.settings.hotline_callback_ring_seconds * 1000,
                variables={"CALLCENTER_QUEUE": queue, "QUEUE_PRIO": str(priority),
                           "CALLCENTER_QUEUE_POSITION": str(position),
                           "CALLCENTER_CALLBACK": str(callback_id)})
        except AmiError as err:
            outcome, answered = "failed", False
            log.warning("callback originate failed", callback_id=callback_id, error=err.message)
        else:
            outcome, answered = result.outcome, result.success
        if not answered:
            self.tracker.expected.pop(channel_id, None)
            ended = ORIGINATE_OUTCOMES.get(outcome, CallOutcome.FAILED)
            await self.store.save_call(channel_id, ended_at=self.clock(), outcome=ended.value,
                                       hangup_cause=outcome)
            await self.attempt_ended(callback_id, channel_id, False, outcome)
        elif call.state == "gone":  # answered, and hung up before this answer was read
            await self.tracker.left_before_a_queue(call, "hung up before a queue")
        else:
            # Picked up: a hang-up before a queue takes the caller (the queue refused them,
            # nobody logged in; or they put the phone down) ends this attempt, and the next
            # one follows. Before, nothing ended it: the callback stayed "dialling" for good.
            call.state = "picked_up"

    async def _position(self, ami: AmiClient, queue: str, priority: int,
                        queued_at: datetime) -> int:
        """The caller's place: behind those waiting since before their first call."""
        waited = (self.clock() - queued_at).total_seconds()
        ahead = 0
        for entry in await ami.queue_status(queue):
            if entry.name != "QueueEntry":
                continue
            prio = int(entry.get("Priority") or 0)
            if prio > priority or (prio == priority and int(entry.get("Wait") or 0) >= waited):
                ahead += 1
        return ahead + 1

    # -- after the last attempt ---------------------------------------------------------

    async def _follow_up(self, db: AsyncSession, entry: Callback, now: datetime) -> int:
        order = WorkOrder(number=f"WO-CB-{entry.id}", type=WorkOrderType.SERVICE.value,
                          priority="urgent", elder_id=entry.elder_id,
                          title="回拨未接通：请上门或电话跟进",
                          description=f"Abandoned call {entry.call_id}: {entry.attempts} "
                                      "callback attempts failed",
                          details={"callback": entry.id, "call": entry.call_id},
                          created_by="hotline", created_at=now)
        db.add(order)
        await db.flush()
        return order.id

    async def _alert(self, callback_id: int, elder_id: int | None) -> None:
        if elder_id is None:
            return
        async with self.sessions() as db:
            name = (await db.execute(select(Elder.name).where(Elder.id == elder_id))).scalar()
            contacts = list(await db.execute(select(Contact.id, Contact.phone).where(
                Contact.elder_id == elder_id,
                Contact.role.in_([ContactRole.KIN.value, ContactRole.SOCIAL_WORKER.value]))))
        body = f"【12349】{name or ''}拨打热线后未能接通回拨，请尽快与其联系。"
        requests = [NotificationRequest(
            f"hotline:callback:{callback_id}:sms:{contact_id}", NotifyChannel.SMS,
            phone if phone.startswith("+") else f"+86{phone}", body,
            subject_entity="callback", subject_id=str(callback_id))
            for contact_id, phone in contacts]
        if requests:
            await self.outbox.submit_many(requests)

    async def _changed(self) -> None:
        async with self.sessions() as db:
            pending = (await db.execute(select(func.count()).select_from(Callback).where(
                Callback.status.in_([CallbackStatus.PENDING.value,
                                     CallbackStatus.DIALLING.value])))).scalar_one()
        await self.bus.publish(BusMessage(CALLBACKS_CHANGED, {"pending": pending}, AUDIENCE))
