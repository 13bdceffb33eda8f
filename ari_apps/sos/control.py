"""What staff do to a running incident: end it with a disposition, hang up, mute, add a leg.

Each step runs on the conference's own task (the console's commands are posted to its
inbox by ``actions.py``), so it never races the incident's ARI events. Who may do what
(role, jurisdiction, CSRF) is the web handler's check; what the call allows is checked
here, where the state is: an unknown leg, a leg no longer on the line, an ended incident.
"""

from __future__ import annotations

from typing import Any

from ari_apps.sos.actor import LIVE, ConferenceActor
from ari_apps.sos.exceptions import (
    ContactAlreadyCalled,
    ElderLegSupervisorOnly,
    IncidentNotActive,
    LegNotFound,
    LegNotLive,
    RoleNotReady,
)
from ari_apps.sos.incident import Leg
from ari_apps.sos.models import Disposition, IncidentStatus, LegRole, LegState
from ari_apps.sos.plan import Candidate
from callcenter.asterisk import AriNotFound
from callcenter.store.models import utcnow

#: The outcome of an incident staff ended by hand (its disposition says how).
ENDED_BY_STAFF = "ended_by_staff"
#: The roles staff may add a contact of by hand (agents and supervisors join themselves).
HAND_DIALLED = (LegRole.EMERGENCY, LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER)
#: Q.850 normal clearing: what a leg staff hung up before it answered ends with.
STAFF_HANGUP_CAUSE = 16


class Control(ConferenceActor):
    """Staff's hand on a conference: end, hang up a leg, mute a leg, dial a contact."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.disposition: Disposition | None = None
        self.note: str | None = None
        self.ended_by: str | None = None
        self.muted: set[str] = set()

    def row(self) -> dict[str, Any]:
        """The incident's store row, with how staff closed it."""
        return super().row() | {
            "disposition": self.disposition.value if self.disposition else None,
            "note": self.note,
            "ended_by": self.ended_by,
        }

    def snapshot(self) -> dict[str, Any]:
        """The live state, with which legs are muted and how staff closed it."""
        snapshot = super().snapshot()
        for leg in snapshot["legs"]:
            leg["muted"] = leg["id"] in self.muted
        return snapshot | {
            "disposition": self.disposition.value if self.disposition else None,
            "ended_by": self.ended_by,
        }

    def _require_active(self) -> None:
        if self.status is not IncidentStatus.ACTIVE:
            raise IncidentNotActive("the incident's conference has ended", {"incident": self.id})

    def _leg_of(self, leg_id: str) -> Leg:
        leg = self.legs.get(leg_id)
        if leg is None:
            raise LegNotFound("no such leg in this incident", {"incident": self.id, "leg": leg_id})
        return leg

    async def end_by_staff(self, disposition: Disposition, note: str | None, actor: str) -> None:
        """Staff close the incident: every leg hung up, the bridge and recording ended."""
        self._require_active()
        self.disposition, self.note, self.ended_by = disposition, note or None, actor
        self._timeline("closed", {"disposition": disposition.value, "note": note or None},
                       actor=actor)
        await self._end(ENDED_BY_STAFF)

    async def hang_up_leg(self, leg_id: str, actor: str, *, supervisor: bool) -> Leg:
        """Take one leg off the call; the elder's own leg only by a supervisor."""
        self._require_active()
        leg = self._leg_of(leg_id)
        if leg.state not in LIVE:
            raise LegNotLive("the leg is not on the line", {"leg": leg_id, "state": leg.state.value})
        if leg.role is LegRole.ELDER and not supervisor:
            # Hanging up on the elder is what the product exists to prevent: a supervisor's call.
            raise ElderLegSupervisorOnly("only a supervisor may hang up the elder's call",
                                         {"leg": leg_id})
        self._timeline("leg.hungup", {"leg": leg.id, "role": leg.role.value}, actor=actor)
        self.muted.discard(leg.id)
        if leg.state in (LegState.DIALING, LegState.RINGING):
            # Taken off on purpose: nobody of the role is dialled in its place (staff may
            # add a contact by hand), unlike a busy or unanswered contact.
            leg.move(LegState.FAILED)
            leg.cause, leg.cause_text, leg.ended_at = STAFF_HANGUP_CAUSE, "hung up by staff", utcnow()
            self.plan.ended(leg.id)
            self._save_leg(leg)
            await self._hangup(leg.id)
            await self._maybe_end()
        else:
            await self._hangup(leg.id)
            await self._on_left(leg.id)  # now, not when the events come: the answer says so
        return leg

    async def mute_leg(self, leg_id: str, muted: bool, actor: str) -> Leg:
        """Mute (or unmute) what a leg says: the others stop hearing it, it still hears them."""
        self._require_active()
        leg = self._leg_of(leg_id)
        if leg.state not in (LegState.ANSWERED, LegState.JOINED):
            raise LegNotLive("only a leg on the line can be muted",
                             {"leg": leg_id, "state": leg.state.value})
        try:
            # ARI's direction "in": the audio coming from the channel, i.e. what it says.
            if muted:
                await self.client.channels.mute(leg.id, direction="in")
            else:
                await self.client.channels.unmute(leg.id, direction="in")
        except AriNotFound as err:
            await self._on_left(leg.id)
            raise LegNotLive("the leg has just hung up", {"leg": leg_id}) from err
        if muted:
            self.muted.add(leg.id)
        else:
            self.muted.discard(leg.id)
        self._timeline("leg.muted" if muted else "leg.unmuted",
                       {"leg": leg.id, "role": leg.role.value}, actor=actor)
        return leg

    async def dial_contact(self, role: LegRole, number: str, name: str, actor: str) -> str:
        """Dial a contact staff typed in, as one more responder of ``role``; its leg id."""
        self._require_active()
        if role not in HAND_DIALLED:
            raise ValueError(f"role {role.value!r} is not dialled by hand")
        for leg in self.legs.values():
            if (leg.state in LIVE and leg.candidate is not None and not leg.candidate.endpoint
                    and leg.candidate.number == number):
                raise ContactAlreadyCalled("that number is already called in this incident",
                                           {"leg": leg.id})
        request = self.plan.add_contact(Candidate(role, number, name))
        if request is None:
            raise RoleNotReady("the caller is still being identified; try again in a moment",
                               {"role": role.value})
        self.exhausted.discard(role)
        self._timeline("contact.added", {"leg": request.leg_id, "role": role.value, "name": name},
                       actor=actor)
        await self._dial(request)
        return request.leg_id
