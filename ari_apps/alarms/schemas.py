"""Device alarms on the wire: the payload (HTTP and MQTT), the receipt, the parser."""

from __future__ import annotations

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

from ari_apps.alarms.exceptions import AlarmTooLarge, InvalidAlarm
from callcenter.alarm_types import AlarmKind
from callcenter.store.models import utcnow

DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
ALARM_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
MAX_ALARM_BYTES = 4096  # a whole alarm message, JSON; devices send a few hundred bytes
MAX_DETAIL_BYTES = 1024
MAX_DETAIL_KEYS = 16
CLOCK_SKEW = timedelta(minutes=5)  # how far in the future a device's clock may run

DetailKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]
DetailValue = Annotated[str, StringConstraints(max_length=256)] | int | float | bool | None


class AlarmPayload(BaseModel):
    """One alarm as a device sends it (JSON)."""

    # No NaN or Infinity: JSON cannot hold them, and the timeline (jsonb) would lose the row.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)

    type: AlarmKind = Field(description="What happened.")
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
    kind: AlarmKind
    duplicate: bool = False


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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
