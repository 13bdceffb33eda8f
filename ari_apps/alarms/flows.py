"""Alarms that become calls (C §5.2.6, C §7.3.2.8): as a conference, or a spoken call to kin.

``AlarmConference``: an SOS-type alarm from a device. Nobody is on the line yet, so
the product first calls the elder back (their phone, else the device), then dials
every role as for a pressed button. A fall may leave the elder unable to answer: the
roles are dialled when the elder answers, when the callback fails, or after a short
grace period, whichever comes first.

``KinAlert``: a lesser alarm (no activity, door, water …). Kin are called one at a
time in priority order and hear a spoken message; the first who listens to it ends
the call. Both always pop on the console with sound and text kin.

:func:`start_alarm` builds the flow and hands it to the SOS app, which tracks it like
any incident (per elder: an alarm for an elder whose incident is open joins it).
"""

from __future__ import annotations

from typing import Any

from ari_apps.sos.conference import SosConference
from ari_apps.sos.directory import ElderCard
from ari_apps.sos.incident import Leg, new_incident_id
from ari_apps.sos.models import LegRole, LegState
from ari_apps.sos.plan import Candidate, LegRequest, RoleTrack, SosPlan
from ari_apps.sos.stasis import SosApp
from callcenter.asterisk import AriError, PlaybackFinished

CALLBACK_GRACE = 15.0


class AlarmConference(SosConference):
    """An SOS-type device alarm: call the elder back, then every role, in one conference."""

    def __init__(self, *args: Any, detail: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detail = detail
        self._proceeded = False
        self._callback_leg: str | None = None

    async def begin_alarm(self, callback: Candidate | None) -> None:
        """Open the incident, call the elder back, and dial the roles soon after."""
        self.identified = self.card is not None
        self._save()
        self._timeline("trigger", {"kind": self.kind, "device": self.device_id,
                                   "alarm": self.detail})
        if self.card is not None:
            self._timeline("identified", {"elder_id": self.card.elder_id})
        self._publish("sos.started")
        await self._ensure_bridge()
        self._bridged.set()
        if callback is None:
            await self._proceed("no_callback_number")
        else:
            request = LegRequest(f"{self.id}-c0", callback)
            self._callback_leg = request.leg_id
            await self._dial(request)
            self._after(CALLBACK_GRACE, lambda: self._proceed("callback_grace"))
        self.first_round_done.set()
        self._arm_escalation()

    async def _proceed(self, reason: str) -> None:
        if self._proceeded:
            return
        self._proceeded = True
        self._timeline("dial.roles", {"reason": reason})
        await self._dial_all(self.plan.start())
        await self._dial_all(self.plan.add_contacts(self.card.contacts if self.card else []))
        self._open_work_order()
        self._notify_contacts()

    async def _admit(self, leg: Leg) -> None:
        await super()._admit(leg)
        if leg.id == self._callback_leg:
            await self._play_prompt()  # help is on the way: the elder hears it first
            await self._proceed("elder_answered")

    async def _leg_failed(self, leg: Leg, cause: int | None, text: str) -> None:
        await super()._leg_failed(leg, cause, text)
        if leg.id == self._callback_leg:
            await self._proceed("elder_unreachable")

    async def _maybe_end(self) -> None:
        if self._proceeded:
            await super()._maybe_end()


class KinAlert(SosConference):
    """Call kin one by one with a spoken alarm message; text them; pop on the console."""

    def __init__(self, *args: Any, detail: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.detail = detail
        self._messages: dict[str, str] = {}  # playback id -> leg id
        self.delivered_to: str | None = None

    async def begin_alarm(self) -> None:
        """Pop, text, and dial the first kin."""
        assert self.card is not None
        kin = [c for c in self.card.contacts if c.role is LegRole.KIN]
        self.plan = SosPlan(self.id, {LegRole.KIN: RoleTrack(LegRole.KIN, kin, at_once=1)})
        self.identified = True
        self._save()
        self._timeline("trigger", {"kind": self.kind, "device": self.device_id,
                                   "alarm": self.detail})
        self._timeline("identified", {"elder_id": self.card.elder_id})
        self._publish("sos.started")
        self._open_work_order()
        self._notify_contacts()
        await self._dial_all(self.plan.start())
        self.first_round_done.set()

    async def _admit(self, leg: Leg) -> None:
        self._accepted(leg)  # kin hear the message at once: no key to press here
        sound = f"{self.deps.settings.alarm_sound_prefix}{self.kind}"
        try:
            playback = await self.client.channels.play(leg.id, sound)
            self._messages[playback.id] = leg.id
        except AriError as err:
            self._timeline("message.failed", {"leg": leg.id, "error": err.message})
            await self._hangup(leg.id)

    async def _on_event(self, event: Any) -> None:
        if isinstance(event, PlaybackFinished) and event.playback.id in self._messages:
            leg_id = self._messages.pop(event.playback.id)
            if event.playback.state == "done":
                self.delivered_to = leg_id
                self._timeline("message.delivered", {"leg": leg_id})
            await self._hangup(leg_id)
            return
        await super()._on_event(event)

    async def _maybe_end(self) -> None:
        if any(leg.state in (LegState.DIALING, LegState.RINGING, LegState.ANSWERED)
               for leg in self.legs.values()):
            return
        if self.delivered_to is not None:
            await self._end("delivered")
        else:  # every kin tried, or the message could not be played: agents must act
            self._alert("unanswered", {"to": "kin"})
            await self._end("undelivered")


def start_alarm(
    sos: SosApp, card: ElderCard, *, kind: str, device_id: str | None, detail: dict[str, Any],
    conference: bool,
) -> SosConference:
    """A device alarm: a conference like an SOS (calling the elder back first), or a
    spoken call to kin. An alarm for an elder whose incident is open joins it."""
    current = sos.incident_of(card.elder_id)
    if current is not None:
        current.post(lambda: current.note_alarm(kind, device_id, detail))
        return current
    client = next(iter(sos.clients.values()))
    if conference:
        alarm = AlarmConference(sos.deps, client, new_incident_id(), kind=kind,
                                device_id=device_id, detail=detail)
        alarm.card = card
        callback = _callback_of(card, device_id)

        async def begin() -> None:
            await alarm.begin_alarm(callback)

        return sos.start_flow(alarm, card.elder_id, begin)
    kin_alert = KinAlert(sos.deps, client, new_incident_id(), kind=kind,
                         device_id=device_id, detail=detail)
    kin_alert.card = card
    return sos.start_flow(kin_alert, card.elder_id, kin_alert.begin_alarm)


def _callback_of(card: ElderCard, device_id: str | None) -> Candidate | None:
    """Whom an alarm calls back first: the elder's phone, else their device."""
    if card.phones:
        return Candidate(LegRole.ELDER, card.phones[0], card.name)
    if device_id:
        return Candidate(LegRole.ELDER, device_id, card.name, endpoint=True)
    return None
