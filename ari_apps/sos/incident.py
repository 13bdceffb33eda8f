"""An incident's records: its row, legs and timeline, what the console sees, what kin read.

The conference (``conference.py``) runs the calls; this part only writes down and tells:
rows go to the recorder (off the call path), updates to the console through the
notifier, texts and mails to kin through the outbox.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ari_apps.sos.directory import ElderCard
from ari_apps.sos.models import IncidentStatus, LegRole, LegState
from ari_apps.sos.notifier import SosNotifier
from ari_apps.sos.plan import Candidate
from ari_apps.sos.speech import SpeechQueue
from ari_apps.sos.store import IncidentRecorder
from callcenter.alarm_types import alarm_label
from callcenter.asterisk import AriClient
from callcenter.logs import mask_name, mask_text
from callcenter.notify.models import Channel as NotifyChannel
from callcenter.notify.outbox import NotificationRequest
from callcenter.settings import Settings
from callcenter.store.models import Role, utcnow

if TYPE_CHECKING:
    from ari_apps.sos.conference import SosConference

@dataclass
class SosDeps:
    """What every conference shares."""

    settings: Settings
    recorder: IncidentRecorder
    notifier: SosNotifier
    lookup_on_duty: Callable[[Role, str | None], Awaitable[list[Candidate]]]
    forget: Callable[[SosConference], None]
    #: Registers the elder of a conference; returns another conference already serving them.
    claim_elder: Callable[[SosConference, int], SosConference | None]
    #: Arms a durable escalation step of an incident in so many seconds (the scheduler).
    arm: Callable[[str, str, float], None]
    #: Cancels an incident's escalation steps (it ended).
    disarm: Callable[[str], None]
    #: Makes responders' per-incident prompts, a few at once (tests put a quick speaker in).
    speech: SpeechQueue
    #: How the conference's own short timers wait (tests pass the PBX simulator's clock).
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    #: Calls an identified elder back once their incident ended as ``caller_lost``.
    call_back: Callable[[SosConference, ElderCard], None] | None = None


@dataclass
class Leg:
    """A call leg as the conference tracks it."""

    id: str
    role: LegRole
    candidate: Candidate | None
    state: LegState = LegState.DIALING
    created_at: datetime = field(default_factory=utcnow)
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    cause: int | None = None
    cause_text: str | None = None

    @property
    def is_responder(self) -> bool:
        return self.role is not LegRole.ELDER

    def move(self, state: LegState) -> None:
        self.state = state


def _without_personal_data(payload: dict[str, Any]) -> dict[str, Any]:
    """A console payload for users of any area: numbers masked, no elder, no names."""
    masked = dict(payload)
    masked["caller_number"] = mask_text(str(payload.get("caller_number") or ""))
    masked["elder"] = None
    masked["legs"] = [leg | {"name": mask_name(leg["name"]) if leg["role"] != "emergency"
                             else leg["name"]} for leg in payload.get("legs", [])]
    for key in ("events", "event", "detail"):
        if key in masked:
            masked[key] = _masked_value(masked[key])
    return masked


_NUMBER_KEYS = {"caller", "caller_number", "number", "to"}


def _masked_value(value: Any) -> Any:
    """Phone numbers and names masked by key (ids, which look like numbers, stay whole)."""
    if isinstance(value, dict):
        return {
            k: mask_text(v) if k in _NUMBER_KEYS and isinstance(v, str)
            else mask_name(v) if k == "name" and isinstance(v, str)
            else _masked_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_masked_value(v) for v in value]
    return value


def new_incident_id() -> str:
    """A sortable, unique incident id: UTC time plus randomness."""
    return f"{utcnow():%Y%m%d%H%M%S}{uuid.uuid4().hex[:6]}"


class IncidentRecords:
    """The state of one incident, and how it is recorded and told."""

    def __init__(
        self,
        deps: SosDeps,
        client: AriClient,
        incident_id: str,
        *,
        kind: str = "sos",
        caller_number: str = "",
        device_id: str | None = None,
        started_at: datetime | None = None,
    ) -> None:
        self.deps = deps
        self.client = client
        self.id = incident_id
        self.kind = kind
        self.caller_number = caller_number
        self.device_id = device_id
        self.started_at = started_at or utcnow()
        self.bridge_id = f"sos-{incident_id}"
        self.recording_name = f"sos-{incident_id}"
        self.status = IncidentStatus.ACTIVE
        self.outcome: str | None = None
        self.card: ElderCard | None = None
        self.identified = False
        self.first_answer_at: datetime | None = None
        self.ended_at: datetime | None = None
        self.legs: dict[str, Leg] = {}
        self.parties: set[str] = set()
        self.exhausted: set[LegRole] = set()
        self._updates: list[dict[str, Any]] = []
        self._holding = False
        self._event_seq = 0

    def row(self) -> dict[str, Any]:
        """The incident as its store row."""
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "elder_id": self.card.elder_id if self.card else None,
            "identified": self.identified,
            "caller_number": self.caller_number,
            "device_id": self.device_id,
            "area_path": self.card.area_path if self.card else None,
            "node": self.client.node,
            "bridge_id": self.bridge_id,
            "recording_name": self.recording_name,
            "work_order_number": f"WO-{self.id}",
            "outcome": self.outcome,
            "started_at": self.started_at,
            "first_answer_at": self.first_answer_at,
            "ended_at": self.ended_at,
        }

    def _save(self) -> None:
        self.deps.recorder.incident(self.row())

    def _save_leg(self, leg: Leg) -> None:
        candidate = leg.candidate
        self.deps.recorder.leg(
            {
                "id": leg.id,
                "incident_id": self.id,
                "role": leg.role.value,
                "contact_id": candidate.contact_id if candidate else None,
                "user_id": candidate.user_id if candidate else None,
                "name": candidate.name if candidate else "",
                "number": candidate.number if candidate else self.caller_number,
                "state": leg.state.value,
                "cause": leg.cause,
                "cause_text": leg.cause_text,
                "created_at": leg.created_at,
                "answered_at": leg.answered_at,
                "ended_at": leg.ended_at,
            }
        )

    def _timeline(self, kind: str, detail: dict[str, Any], actor: str = "system",
                  at: datetime | None = None) -> None:
        """A timeline entry; ``at`` when it is written after the moment it tells of."""
        self._event_seq += 1
        at = at or utcnow()
        key = f"{self.id}:{self._event_seq}:{uuid.uuid4().hex[:8]}"
        self.deps.recorder.event(self.id, kind, detail, key=key, at=at, actor=actor)
        # Steps often come several at a time (a leg fails, the next one is dialled): the
        # console gets one update with all of them, built once, as soon as the loop turns.
        self._updates.append({"kind": kind, "detail": detail, "at": at.isoformat()})
        if len(self._updates) == 1 and not self._holding:
            asyncio.get_running_loop().call_soon(self._flush_updates)

    def _hold_updates(self) -> None:
        """Until the caller is identified, nothing is published: the pop's audience is the
        elder's area, unknown yet (C §4.2.2: nothing reaches a user outside it)."""
        self._holding = True

    def _release_updates(self) -> None:
        """The caller is identified (or known to be unknown): what was held goes out."""
        self._holding = False
        if self._updates:
            asyncio.get_running_loop().call_soon(self._flush_updates)

    def _flush_updates(self) -> None:
        if self._holding:
            return
        events, self._updates = self._updates, []
        if events:
            self._publish("sos.updated", {"events": events, "event": events[-1]})

    def snapshot(self) -> dict[str, Any]:
        """The live state the console shows."""
        return {
            "incident": self.id,
            "kind": self.kind,
            "status": self.status.value,
            "identified": self.identified,
            "caller_number": self.caller_number,
            "device_id": self.device_id,
            "elder": self.card.to_public() if self.card else None,
            "started_at": self.started_at.isoformat(),
            "legs": [
                {
                    "id": leg.id,
                    "role": leg.role.value,
                    "name": leg.candidate.name if leg.candidate else "",
                    "state": leg.state.value,
                    "cause": leg.cause,
                }
                for leg in self.legs.values()
            ],
            "exhausted": sorted(role.value for role in self.exhausted),
            "parties": len(self.parties),
            "outcome": self.outcome,
        }

    def _publish(self, topic: str, extra: dict[str, Any] | None = None) -> None:
        payload = self.snapshot() | (extra or {})
        area = self.card.area_path if self.card else None
        if area is None:
            # Nobody's jurisdiction is known (before identification, an unknown caller):
            # the pop goes to every agent, so it carries no personal data.
            payload = _without_personal_data(payload)
        self.deps.notifier.publish(topic, payload, area)

    def _alert(self, kind: str, detail: dict[str, Any]) -> None:
        self._publish("sos.alert", {"alert": kind, "detail": detail})

    def _open_work_order(self) -> None:
        name = self.card.name if self.card else self.caller_number or "unknown caller"
        self.deps.recorder.work_order(
            {
                "number": f"WO-{self.id}",
                "kind": self.kind,
                "incident_id": self.id,
                "elder_id": self.card.elder_id if self.card else None,
                "recording_name": self.recording_name,
                "title": f"SOS {name}",
                "description": "Emergency follow-up visit after an SOS call.",
                "created_at": self.started_at,
            }
        )
        self._timeline("work_order.opened", {"number": f"WO-{self.id}"})

    def _notify_contacts(self) -> None:
        """SMS (and email when known) to kin and the social worker (C §7.3.2.3)."""
        if self.card is None:
            return
        body = self._message_text()
        for contact in self.card.contacts:
            if contact.role not in (LegRole.KIN, LegRole.SOCIAL_WORKER):
                continue
            number = contact.number if contact.number.startswith("+") else f"+86{contact.number}"
            key = f"sos:{self.id}:sms:{contact.contact_id}"
            self.deps.notifier.notify(
                NotificationRequest(key, NotifyChannel.SMS, number, body,
                                    subject_entity="incident", subject_id=self.id)
            )
            self._timeline("notify.queued", {"channel": "sms", "contact_id": contact.contact_id})
            if contact.email:
                self.deps.notifier.notify(
                    NotificationRequest(
                        f"sos:{self.id}:email:{contact.contact_id}", NotifyChannel.EMAIL,
                        contact.email, body, subject=f"{self._kind_label()}：{self.card.name}",
                        subject_entity="incident", subject_id=self.id,
                    )
                )
                self._timeline("notify.queued", {"channel": "email",
                                                 "contact_id": contact.contact_id})

    def _kind_label(self) -> str:
        return alarm_label(self.kind)

    def _message_text(self) -> str:
        """The SMS/email text for kin and the social worker (zh-CN)."""
        assert self.card is not None
        when = self.started_at.astimezone().strftime("%H:%M")
        if self.kind == "sos":
            what = "按下一键呼救，平台正在联系120、社区医生和家属"
        else:
            what = f"触发{self._kind_label()}，平台正在处理"
        return f"【12349{self._kind_label()}】{self.card.name}（{self.card.address}）于{when}{what}。事件号 {self.id}"
