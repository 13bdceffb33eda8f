"""Device alarms in (C §5.2.6, C §7.3.2.8): the payload, the policy per type, the intake.

Devices send alarms as ``POST /api/alarms`` (``http``) or on MQTT (``mqtt``); both
end in :meth:`AlarmIntake.submit`, which validates, authenticates the device by its
token, deduplicates, finds the device's elder and starts a flow on the SOS app
(``flows``): a conference (the elder is called back first, then every role) for the
types listed in ``alarm_conference_types``, otherwise a spoken call to kin with SMS. Both pop on the
console with sound. Bad input is refused with a clear error and starts nothing
(DESIGN invariant 6).

Errors, in the order they are checked: ``invalid-alarm`` (422, every problem listed);
``too-many-attempts`` (429, after too many bad tokens for the device or the client
address, see ``limits``); ``device-unauthorized`` (401, for a wrong or missing token
*and* for a device id that does not exist, so the answer does not tell whether a device
exists); then a repeat gets its first answer; ``alarm-too-old`` (422, raised longer ago
than ``alarm_max_age_seconds``); ``device-stopped`` (409, a deceased elder's device,
B §7.3.6); ``unknown-device`` (404, a device that authenticated but is no longer in the
directory, e.g. deleted meanwhile).

Deduplication: devices retry until they get an answer, so the same (device, alarm id)
must give the same answer and never a second incident, also after a restart and after
the incident ended. Every accepted alarm is recorded (``models.DeviceAlarm``); a repeat
is answered from that record. A bounded cache of recent alarm ids in front of it makes a
repeat that arrives while the first is still being handled wait for the first answer.

The store is down (DESIGN invariant 1): the device's token and its elder are in the
store, so an alarm can be neither authenticated nor routed to anyone. It is refused
with ``store-unavailable`` (503; MQTT ack ``rejected`` with ``retry: true``) and logged
as an error; nothing is accepted that the product cannot act on, so nothing is lost:
the device keeps its alarm and retries (devices retry until an accepted answer), and
the elder's voice SOS call goes on without the store. Journaling the alarm instead
would answer "accepted" while calling nobody until the store is back.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.alarms.exceptions import (
    AlarmTooOld,
    DeviceStopped,
    DeviceUnauthorized,
    StoreUnavailable,
    TooManyAttempts,
    UnknownDevice,
)
from ari_apps.alarms.flows import start_alarm
from ari_apps.alarms.limits import AttemptLimiter
from ari_apps.alarms.models import DeviceAlarm
from ari_apps.alarms.schemas import AlarmPayload, AlarmReceipt, parse_alarm
from ari_apps.alarms.tokens import token_matches
from ari_apps.sos.directory import device_owner
from ari_apps.sos.stasis import SosApp
from callcenter.journal import is_store_unavailable
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import SosDevice, utcnow

log = get_logger(__name__)

LOOKUP_TIMEOUT = 3.0
RECENT_ALARMS = 4096


def conference_for(settings: Settings, kind: str) -> bool:
    """The policy: True when an alarm of ``kind`` becomes a conference, else a call to kin."""
    return kind == "sos" or kind in settings.alarm_conference_types


class AlarmIntake:
    """Authenticates, deduplicates and routes device alarms to the SOS app."""

    def __init__(
        self,
        sos: SosApp,
        sessions: SessionFactory,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        recent_size: int = RECENT_ALARMS,
    ) -> None:
        self.sos = sos
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.limiter = AttemptLimiter(
            settings.alarm_auth_max_failures, settings.alarm_auth_window_seconds,
            settings.alarm_auth_lockout_seconds, clock=lambda: self.clock().timestamp(),
        )
        self._key = settings.secret_key_bytes()
        self._recent: OrderedDict[tuple[str, str], asyncio.Future[AlarmReceipt]] = OrderedDict()
        self._recent_size = recent_size

    def parse(self, raw: bytes, model: type[AlarmPayload] = AlarmPayload) -> AlarmPayload:
        """Validate a raw alarm message against the intake's clock."""
        return parse_alarm(raw, model, now=self.clock())

    async def submit(
        self, device_id: str, token: str, alarm: AlarmPayload, *, via: str,
        client: str | None = None,
    ) -> AlarmReceipt:
        """Accept a validated alarm from ``device_id`` (sent from ``client``, an address,
        when known): start or join an incident, or answer a repeat with its first receipt."""
        keys = [f"device:{device_id}"] + ([f"client:{client}"] if client else [])
        retry_after = self.limiter.retry_after(keys)
        if retry_after is not None:
            raise TooManyAttempts("too many bad device tokens; try again later",
                                  {"retry_after": retry_after})
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT), self.sessions() as session:
                stored = (
                    await session.execute(
                        select(SosDevice.token_hash).where(SosDevice.device_id == device_id)
                    )
                ).scalar_one_or_none()
                if not token_matches(self._key, device_id, token, stored):
                    if self.limiter.failed(keys):
                        log.warning("device alarms locked out after bad tokens",
                                    device_id=device_id, client=client, via=via,
                                    lockout=self.limiter.lockout)
                    raise DeviceUnauthorized("device token refused")
                self.limiter.succeeded(keys[0])
                return await self._once(session, device_id, alarm, via)
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            if not is_store_unavailable(err):
                raise
            log.error("store down: device alarm refused, the device must retry",
                      device_id=device_id, alarm_id=alarm.id, kind=alarm.type, via=via,
                      error=repr(err))
            raise StoreUnavailable("the store is unavailable; send the alarm again",
                                   {"retry": True}) from err

    async def _once(
        self, session: AsyncSession, device_id: str, alarm: AlarmPayload, via: str
    ) -> AlarmReceipt:
        """Handle ``alarm`` once; a repeat meanwhile waits for, and gets, the first answer."""
        key = (device_id, alarm.id)
        first = self._recent.get(key)
        if first is not None:  # a retry: the first answer, never a second incident
            self._recent.move_to_end(key)
            receipt = await asyncio.shield(first)
            return receipt.model_copy(update={"duplicate": True})
        pending = self._remember(key)
        try:
            receipt = await self._receive(session, device_id, alarm, via)
        except Exception as err:  # handed to any retry waiting on it, then raised
            self._forget(key, pending, err)
            raise
        else:
            pending.set_result(receipt)
        finally:
            if not pending.done():  # cancelled: a retry must try afresh
                self._forget(key, pending, StoreUnavailable("interrupted"))
        return receipt

    async def _receive(
        self, session: AsyncSession, device_id: str, alarm: AlarmPayload, via: str
    ) -> AlarmReceipt:
        accepted = await session.get(DeviceAlarm, (device_id, alarm.id))
        if accepted is not None:  # accepted by an earlier run, or beyond the cache
            log.info("device alarm repeated; first receipt answered", device_id=device_id,
                     alarm_id=alarm.id, incident_id=accepted.incident_id, via=via)
            return AlarmReceipt(id=alarm.id, incident=accepted.incident_id, kind=accepted.kind,
                                duplicate=True)
        age = (self.clock() - alarm.at).total_seconds()
        if age > self.settings.alarm_max_age_seconds:
            raise AlarmTooOld("the alarm is too old to start calls",
                              {"max_age_seconds": self.settings.alarm_max_age_seconds,
                               "age_seconds": int(age)})
        receipt = await self._route(session, device_id, alarm, via)
        await self._record(session, device_id, alarm, receipt, via)
        return receipt

    async def _route(
        self, session: AsyncSession, device_id: str, alarm: AlarmPayload, via: str
    ) -> AlarmReceipt:
        status, card = await device_owner(session, device_id)
        if status == "stopped":
            raise DeviceStopped("the device is stopped", {"device": device_id})
        if card is None:
            raise UnknownDevice("the device is not in the directory", {"device": device_id})
        open_before = set(self.sos.conferences)
        incident = start_alarm(
            self.sos, card, kind=alarm.type, device_id=device_id,
            detail={"id": alarm.id, "at": alarm.at.isoformat(), "via": via,
                    "detail": dict(alarm.detail or {})},
            conference=conference_for(self.settings, alarm.type),
        )
        log.info("device alarm accepted", device_id=device_id, alarm_id=alarm.id,
                 kind=alarm.type, incident_id=incident.id, via=via,
                 joined=incident.id in open_before)
        return AlarmReceipt(id=alarm.id, incident=incident.id, kind=alarm.type)

    async def _record(
        self, session: AsyncSession, device_id: str, alarm: AlarmPayload,
        receipt: AlarmReceipt, via: str,
    ) -> None:
        """Keep the receipt for repeats; the calls have started, so a failure only logs."""
        session.add(DeviceAlarm(device_id=device_id, alarm_id=alarm.id,
                                incident_id=receipt.incident, kind=alarm.type, via=via,
                                raised_at=alarm.at, received_at=self.clock()))
        try:
            await session.commit()
        except (SQLAlchemyError, OSError) as err:  # e.g. another process took it meanwhile
            log.error("device alarm not recorded: a repeat after a restart is not recognised",
                      device_id=device_id, alarm_id=alarm.id, incident_id=receipt.incident,
                      error=repr(err))

    def _remember(self, key: tuple[str, str]) -> asyncio.Future[AlarmReceipt]:
        pending: asyncio.Future[AlarmReceipt] = asyncio.get_running_loop().create_future()
        # A failure is handed to whoever waits on it; nobody waiting is fine too.
        pending.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._recent[key] = pending
        while len(self._recent) > self._recent_size:
            self._recent.popitem(last=False)
        return pending

    def _forget(
        self, key: tuple[str, str], pending: asyncio.Future[AlarmReceipt], err: Exception
    ) -> None:
        """A refused alarm is not remembered: a retry is checked afresh."""
        if self._recent.get(key) is pending:
            del self._recent[key]
        if not pending.done():
            pending.set_exception(err)
