"""Device alarms in (C §5.2.6, C §7.3.2.8): the payload, the policy per type, the intake.

Devices send alarms as ``POST /api/alarms`` (``alarm_http``) or on MQTT (``mqtt``); both
end in :meth:`AlarmIntake.submit`, which validates, authenticates the device by its
token, deduplicates, finds the device's elder and hands the alarm to the SOS app: a
conference (the elder is called back first, then every role) for the types listed in
``alarm_conference_types``, otherwise a spoken call to kin with SMS. Both pop on the
console with sound. Bad input is refused with a clear error and starts nothing
(DESIGN invariant 6).

Errors, in the order they are checked: ``invalid-alarm`` (422, every problem listed);
``device-unauthorized`` (401, for a wrong or missing token *and* for a device id that
does not exist, so the answer does not tell whether a device exists); ``device-stopped``
(409, a deceased elder's device, B §7.3.6); ``unknown-device`` (404, a device that
authenticated but is no longer in the directory, e.g. deleted meanwhile).

Deduplication: devices retry until they get an answer, so the same (device, alarm id)
must give the same answer and never a second incident. A bounded cache of recent
alarm ids answers a repeat with the first answer (a repeat that arrives while the first
is still being handled waits for it). Beyond the cache (or after a restart), the SOS
app's per-elder joining adds a repeat to the elder's open incident instead of opening
a second one.

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
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.device_tokens import token_matches
from ari_apps.sos.directory import device_owner
from ari_apps.sos.stasis import SosApp
from callcenter.errors import DomainError
from callcenter.journal import is_store_unavailable
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import SosDevice, utcnow

log = get_logger(__name__)

AlarmType = Literal[
    "sos", "fall", "inactivity", "door", "smoke", "gas", "water", "geofence", "health"
]
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ALARM_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_ALARM_BYTES = 4096  # a whole alarm message, JSON; devices send a few hundred bytes
MAX_DETAIL_BYTES = 1024
MAX_DETAIL_KEYS = 16
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a device's clock may run
LOOKUP_TIMEOUT = 3.0
RECENT_ALARMS = 4096

DetailKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]
DetailValue = Annotated[str, StringConstraints(max_length=256)] | int | float | bool | None


class AlarmPayload(BaseModel):
    """One alarm as a device sends it (JSON)."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    type: AlarmType = Field(description="What happened.")
    id: str = Field(pattern=ALARM_ID_PATTERN,
                    description="The device's own id of this alarm; a retry repeats it.")
    at: AwareDatetime = Field(description="When the device raised it (ISO 8601 with offset).")
    detail: dict[DetailKey, DetailValue] | None = Field(
        default=None,
        description="Flat readings, at most 16 keys / 1 KiB, e.g. "
        '{"metric": "heart_rate", "value": 150, "threshold": 120} or {"lat": 39.1, "lon": 117.2}.',
    )

    @field_validator("at")
    @classmethod
    def _not_in_future(cls, at: datetime, info: ValidationInfo) -> datetime:
        context = info.context or {}
        now: datetime = context.get("now") or utcnow()
        if at > now + CLOCK_SKEW:
            raise ValueError("is in the future (check the device's clock)")
        return at

    @field_validator("detail")
    @classmethod
    def _bounded(cls, detail: dict[str, Any] | None) -> dict[str, Any] | None:
        if detail is None:
            return None
        if len(detail) > MAX_DETAIL_KEYS:
            raise ValueError(f"has more than {MAX_DETAIL_KEYS} keys")
        if len(orjson.dumps(detail)) > MAX_DETAIL_BYTES:
            raise ValueError(f"is larger than {MAX_DETAIL_BYTES} bytes")
        return detail

    @model_validator(mode="after")
    def _readings(self) -> AlarmPayload:
        detail = self.detail or {}
        problems = []
        if self.type == "health":
            if not isinstance(detail.get("metric"), str):
                problems.append("a health alarm needs detail.metric (e.g. heart_rate)")
            if not _is_number(detail.get("value")):
                problems.append("a health alarm needs a numeric detail.value")
        for key, bound in (("lat", 90), ("lon", 180)):
            value = detail.get(key)
            if key in detail and not (isinstance(value, int | float) and _is_number(value)
                                      and -bound <= value <= bound):
                problems.append(f"detail.{key} must be a number within ±{bound}")
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MqttAlarmPayload(AlarmPayload):
    """An alarm on MQTT: the same fields plus the device's token."""

    token: str = Field(min_length=1, max_length=128, description="The device's token.")


class AlarmReceipt(BaseModel):
    """The answer to an accepted alarm (a repeat gets the same answer, ``duplicate`` set)."""

    id: str = Field(description="The device's alarm id.")
    status: Literal["accepted"] = "accepted"
    incident: str = Field(description="The incident the alarm started or joined.")
    kind: AlarmType
    duplicate: bool = False


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class InvalidAlarm(DomainError):
    """The alarm does not parse or fails the schema; ``details.errors`` lists every problem."""

    error_id = "invalid-alarm"
    status = 422


class DeviceUnauthorized(DomainError):
    """Wrong or missing token, or no such device (the answer does not tell which)."""

    error_id = "device-unauthorized"
    status = 401


class DeviceStopped(DomainError):
    """The device is stopped (its elder died, B §7.3.6): its alarms are not accepted."""

    error_id = "device-stopped"
    status = 409


class UnknownDevice(DomainError):
    """The device authenticated but is no longer in the directory."""

    error_id = "unknown-device"
    status = 404


class AlarmTooLarge(DomainError):
    """The alarm message is larger than a device ever needs to send."""

    error_id = "alarm-too-large"
    status = 413


class StoreUnavailable(DomainError):
    """The store cannot be reached: the device must retry (it keeps its alarm)."""

    error_id = "store-unavailable"
    status = 503


#: Errors after which the device should send the same alarm again.
RETRYABLE = frozenset({StoreUnavailable.error_id})


def parse_alarm(
    raw: bytes, model: type[AlarmPayload] = AlarmPayload, *, now: datetime | None = None
) -> AlarmPayload:
    """Validate one JSON alarm message, or raise :class:`InvalidAlarm` listing every problem."""
    if len(raw) > MAX_ALARM_BYTES:
        raise AlarmTooLarge("alarm message too large", {"max_bytes": MAX_ALARM_BYTES})
    try:
        return model.model_validate_json(raw, context={"now": now or utcnow()})
    except ValidationError as err:
        errors = [
            {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in err.errors(include_url=False, include_context=False, include_input=False)
        ]
        raise InvalidAlarm("invalid alarm", {"errors": errors}) from err


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
        self._key = settings.secret_key_bytes()
        self._recent: OrderedDict[tuple[str, str], asyncio.Future[AlarmReceipt]] = OrderedDict()
        self._recent_size = recent_size

    def parse(self, raw: bytes, model: type[AlarmPayload] = AlarmPayload) -> AlarmPayload:
        """Validate a raw alarm message against the intake's clock."""
        return parse_alarm(raw, model, now=self.clock())

    async def submit(
        self, device_id: str, token: str, alarm: AlarmPayload, *, via: str
    ) -> AlarmReceipt:
        """Accept a validated alarm from ``device_id``: start or join an incident."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT), self.sessions() as session:
                stored = (
                    await session.execute(
                        select(SosDevice.token_hash).where(SosDevice.device_id == device_id)
                    )
                ).scalar_one_or_none()
                if not token_matches(self._key, device_id, token, stored):
                    raise DeviceUnauthorized("device token refused")
                key = (device_id, alarm.id)
                first = self._recent.get(key)
                if first is not None:  # a retry: the first answer, never a second incident
                    self._recent.move_to_end(key)
                    receipt = await asyncio.shield(first)
                    return receipt.model_copy(update={"duplicate": True})
                pending = self._remember(key)
                try:
                    receipt = await self._route(session, device_id, alarm, via)
                except Exception as err:  # handed to any retry waiting on it, then raised
                    self._forget(key, pending, err)
                    raise
                else:
                    pending.set_result(receipt)
                finally:
                    if not pending.done():  # cancelled: a retry must try afresh
                        self._forget(key, pending, StoreUnavailable("interrupted"))
                return receipt
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            if not is_store_unavailable(err):
                raise
            log.error("store down: device alarm refused, the device must retry",
                      device_id=device_id, alarm_id=alarm.id, kind=alarm.type, via=via,
                      error=repr(err))
            raise StoreUnavailable("the store is unavailable; send the alarm again",
                                   {"retry": True}) from err

    async def _route(
        self, session: AsyncSession, device_id: str, alarm: AlarmPayload, via: str
    ) -> AlarmReceipt:
        status, card = await device_owner(session, device_id)
        if status == "stopped":
            raise DeviceStopped("the device is stopped", {"device": device_id})
        if card is None:
            raise UnknownDevice("the device is not in the directory", {"device": device_id})
        open_before = set(self.sos.conferences)
        incident = self.sos.start_alarm(
            card, kind=alarm.type, device_id=device_id,
            detail={"id": alarm.id, "at": alarm.at.isoformat(), "via": via,
                    "detail": dict(alarm.detail or {})},
            conference=conference_for(self.settings, alarm.type),
        )
        log.info("device alarm accepted", device_id=device_id, alarm_id=alarm.id,
                 kind=alarm.type, incident_id=incident.id, via=via,
                 joined=incident.id in open_before)
        return AlarmReceipt(id=alarm.id, incident=incident.id, kind=alarm.type)

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
