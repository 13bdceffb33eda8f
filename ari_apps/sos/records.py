"""An incident's timeline as the agent reads it: one sentence per step, in their language.

Each step kind has a message ``sos.line.<kind>`` (a variant after a dot: ``.next``,
``.again``, ``.retrying``) whose placeholders are filled from the step's detail and the
incident's legs: ``who`` (role and name), ``role``, ``name``, ``cause``, ``n`` and the
raw detail values. ``web/static/sos-records.js`` does the same for the steps that arrive
live, from the same messages; keep the two in step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ari_apps.sos.models import LegRole
from webui.i18n import Translator

#: Roles whose next call after a failed one is another contact ("改拨…第 n 位").
_ROUND_ROBIN = (LegRole.KIN.value, LegRole.DOCTOR.value, LegRole.SOCIAL_WORKER.value)


@dataclass(frozen=True)
class TimelineLine:
    """One step of the timeline, said in words; ``extra`` lists an unknown step's detail."""

    kind: str
    role: str
    text: str
    extra: str


def _role(_: Translator, role: object) -> str:
    key = f"sos.role.{role}"
    return _(key) if role and _.has(key) else str(role or "")


def _who(_: Translator, role: str, name: str) -> str:
    label = _role(_, role)
    return f"{label} {name}" if name and name not in label else label or name


def _cause(_: Translator, detail: Mapping[str, Any]) -> str:
    cause = detail.get("cause")
    if isinstance(cause, int) and _.has(f"sos.cause.{cause}"):
        return _(f"sos.cause.{cause}")
    if cause is not None and cause != "":
        return _("sos.cause", cause=cause)
    return str(detail.get("reason") or "")


class TimelineReader:
    """Turns steps into sentences, in order (a step's wording depends on the ones before)."""

    def __init__(self, _: Translator, legs: Mapping[str, Mapping[str, Any]],
                 elder_name: str | None) -> None:
        self._ = _
        self._legs = legs
        self._elder = elder_name or ""
        self._dialled: Counter[str] = Counter()
        self._failed: Counter[str] = Counter()

    def line(self, kind: str, detail: Mapping[str, Any], actor: str) -> TimelineLine:
        """The sentence for one step."""
        _ = self._
        leg = self._legs.get(str(detail.get("leg") or ""), {})
        role = str(detail.get("role") or leg.get("role") or "")
        name = str(leg.get("name") or detail.get("name") or "")
        if role == LegRole.ELDER.value and not name:
            name = self._elder
        values: dict[str, Any] = {k: ("" if v is None else v) for k, v in detail.items()}
        values |= {
            "who": _who(_, role, name), "role": _role(_, role or detail.get("to")), "name": name,
            "cause": _cause(_, detail), "actor": actor, "elder": self._elder,
            "n": self._dialled[role] + 1,
            "kind": _(f"incident.kind.{detail.get('kind')}")
            if _.has(f"incident.kind.{detail.get('kind')}") else detail.get("kind", ""),
            "outcome": _(f"incident.outcome.{detail.get('outcome')}")
            if _.has(f"incident.outcome.{detail.get('outcome')}") else detail.get("outcome", ""),
            "channel": _(f"notification.channel.{detail.get('channel')}")
            if _.has(f"notification.channel.{detail.get('channel')}") else detail.get("channel", ""),
            "error": detail.get("error") or detail.get("cause") or "",
        }
        key = f"sos.line.{kind}"
        if kind == "leg.dialing" and self._failed[role]:
            if role in _ROUND_ROBIN:
                key += ".next"
            elif role == LegRole.EMERGENCY.value:
                key += ".again"
        elif kind == "emergency.unreachable" and detail.get("retrying"):
            key += ".retrying"
        if kind == "leg.dialing":
            self._dialled[role] += 1
        elif kind == "leg.failed":
            self._failed[role] += 1
        if not _.has(key):
            label = _(f"sos.event.{kind}") if _.has(f"sos.event.{kind}") else kind
            extra = ", ".join(f"{k}={v}" for k, v in detail.items() if v is not None and v != "")
            return TimelineLine(kind, role, label, extra)
        try:
            text = _(key, **values)
        except (KeyError, IndexError, ValueError):
            text = _(key)  # a message naming a value this step lacks: said without it
        return TimelineLine(kind, role, text, "")


def read_timeline(
    _: Translator, entries: Iterable[Any], legs: Mapping[str, Mapping[str, Any]],
    elder_name: str | None,
) -> list[tuple[Any, TimelineLine]]:
    """Every entry (with ``kind``, ``detail``, ``actor``) beside its sentence."""
    reader = TimelineReader(_, legs, elder_name)
    return [(entry, reader.line(entry.kind, entry.detail, entry.actor)) for entry in entries]


def elapsed_text(_: Translator, seconds: float) -> str:
    """How long, e.g. "3分05秒" (``sos-records.js`` ticks it on, with the same messages)."""
    total = max(0, int(seconds))
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    if h:
        return _("elapsed.hms", h=h, m=f"{m:02d}", s=f"{s:02d}")
    if m:
        return _("elapsed.ms", m=m, s=f"{s:02d}")
    return _("elapsed.s", s=s)
