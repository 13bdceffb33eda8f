"""The device alarm types (seed C §5.2.6, C §7.3.2.8): the one list every part reads.

The settings (``ALARM_CONFERENCE_TYPES``), the alarm schema, the texts kin read and the
spoken prompts kin hear all come from :data:`ALARM_TYPES`; adding a type here adds it
everywhere (the prompts must then be made again: ``callcenter dialplan sounds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal


@dataclass(frozen=True, slots=True)
class AlarmType:
    """One alarm type: its wire name, how texts name it, how the prompt says it."""

    kind: str
    label_zh: str  # SMS and email to kin, the console (zh-CN)
    label_en: str
    spoken_zh: str  # the name inside the spoken prompt ``alarm-<kind>``


ALARM_TYPES: tuple[AlarmType, ...] = (
    AlarmType("sos", "紧急呼叫", "Emergency call", "一键紧急呼叫"),
    AlarmType("fall", "跌倒告警", "Fall", "跌倒告警"),
    AlarmType("inactivity", "长时间无活动告警", "No activity", "长时间无活动告警"),
    AlarmType("door", "长时间未开门告警", "Door not opened", "长时间未开门告警"),
    AlarmType("smoke", "烟雾告警", "Smoke", "烟雾告警"),
    AlarmType("gas", "燃气泄漏告警", "Gas leak", "燃气泄漏告警"),
    AlarmType("water", "漏水告警", "Water leak", "漏水告警"),
    AlarmType("geofence", "离开安全区域告警", "Left the safe area", "离开安全区域告警"),
    AlarmType("health", "健康指标异常告警", "Health reading out of range", "健康指标异常告警"),
)

#: The wire names, in the order above.
ALARM_KINDS: tuple[str, ...] = tuple(t.kind for t in ALARM_TYPES)
BY_KIND: dict[str, AlarmType] = {t.kind: t for t in ALARM_TYPES}

if TYPE_CHECKING:
    # mypy cannot read a Literal built from a tuple; to it a kind is a str.
    AlarmKind = str
else:
    #: The validated type of a kind (pydantic lists the allowed names in its errors).
    AlarmKind = Literal[ALARM_KINDS]


def alarm_label(kind: str, default: str = "告警") -> str:
    """How texts to kin name an alarm of ``kind`` (zh-CN)."""
    found = BY_KIND.get(kind)
    return found.label_zh if found is not None else default
