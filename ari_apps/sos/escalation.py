"""Escalation: nobody has answered the elder, so the staff on duty are rung, and again."""

from __future__ import annotations

from ari_apps.sos.actor import LIVE, ConferenceActor
from ari_apps.sos.incident import Leg
from ari_apps.sos.models import IncidentStatus
from ari_apps.sos.plan import Candidate, LegRequest
from callcenter.logs import get_logger
from callcenter.store.models import Role

log = get_logger(__name__)

REPEAT_ESCALATION = 60.0


class Escalation(ConferenceActor):
    """Agents after ``SOS_AGENT_AFTER_SECONDS``, supervisors after theirs, then every minute.

    The steps are durable timers (the scheduler, kind ``sos.escalate``): they survive a
    restart of the product and run in whichever process hosts the conference then.
    """

    def _arm_escalation(self, elapsed: float = 0.0) -> None:
        """Arm the first two steps, ``elapsed`` seconds into the incident."""
        settings = self.deps.settings
        self.deps.arm(self.id, "agents", max(0.0, settings.sos_agent_after_seconds - elapsed))
        self.deps.arm(self.id, "supervisors",
                      max(0.0, settings.sos_supervisor_after_seconds - elapsed))

    def _answered_by_someone(self) -> bool:
        return any(leg.is_responder and leg.answered_at for leg in self.legs.values())

    async def _escalate_to_agents(self) -> None:
        if self._answered_by_someone():
            return
        await self._ring_on_duty(Role.AGENT)

    async def _escalate_to_supervisors(self) -> None:
        if self._answered_by_someone():
            return
        await self._ring_on_duty(Role.SUPERVISOR)
        # Nobody yet: keep ringing every minute while the elder waits (never alone).
        self.deps.arm(self.id, "repeat", REPEAT_ESCALATION)

    async def _repeat_escalation(self) -> None:
        if self._answered_by_someone() or self.status is not IncidentStatus.ACTIVE:
            return
        await self._ring_on_duty(Role.AGENT)
        await self._ring_on_duty(Role.SUPERVISOR)
        self.deps.arm(self.id, "repeat", REPEAT_ESCALATION)

    async def _ring_on_duty(self, role: Role) -> None:
        area = self.card.area_path if self.card else None
        try:
            staff = await self.deps.lookup_on_duty(role, area)
        except Exception as err:  # noqa: BLE001 - the store may be down: say so, go on
            log.warning("on-duty lookup failed", role=role.value, error=str(err))
            staff = []
        # One person, one leg: whoever is rung, ringing or on the call already (joined by
        # hand, or rung by an earlier step) is not rung a second time.
        targets = [c for c in staff if self._live_leg_of(c) is None]
        self._timeline("escalated", {"to": role.value, "count": len(targets)})
        self._alert("unanswered", {"to": role.value, "count": len(targets)})
        requests = []
        for candidate in targets:
            self._escalations += 1
            short = "a" if role is Role.AGENT else "v"
            requests.append(LegRequest(f"{self.id}-{short}{self._escalations}", candidate))
        await self._dial_all(list(requests))

    def _live_leg_of(self, candidate: Candidate) -> Leg | None:
        """The leg already ringing or on the call for this staff member (user or softphone)."""
        for leg in self.legs.values():
            other = leg.candidate
            if other is None or leg.state not in LIVE:
                continue
            if candidate.user_id is not None and other.user_id == candidate.user_id:
                return leg
            if candidate.endpoint and other.endpoint and other.number == candidate.number:
                return leg
        return None

    async def join_agent(self, candidate: Candidate, actor: str) -> tuple[str, bool]:
        """An agent clicked "join": ring their softphone into the conference, once.

        A user who already has a live leg here (a reloaded page, a second click, a second
        console, an escalation ringing them) gets that leg back: ``(leg id, True)``.
        """
        existing = self._live_leg_of(candidate)
        if existing is not None:
            self._timeline("agent.join", {"user_id": candidate.user_id, "leg": existing.id,
                                          "existing": True}, actor=actor)
            return existing.id, True
        self._escalations += 1
        request = LegRequest(f"{self.id}-a{self._escalations}", candidate)
        self._timeline("agent.join", {"user_id": candidate.user_id}, actor=actor)
        await self._dial(request)
        return request.leg_id, False
