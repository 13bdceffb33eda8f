"""Who an SOS dials, in which order, and what to do when a leg fails: pure logic.

Every role (120, the community doctor, kin, the social worker) is dialled at once.
Within a role the contacts are tried in their priority order: busy, no answer or a
failed call moves on to the next contact (REQUIREMENTS §1). A role is *satisfied*
once one of its legs answered, and *exhausted* when nobody is left to try. 120 is
one number: a failure there is retried a few times and raised as an alert at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ari_apps.sos.models import LegRole

#: The order roles are dialled in (all at once; the order only fixes ids and display).
DIALLED_ROLES = (LegRole.EMERGENCY, LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER)

_SHORT = {
    LegRole.EMERGENCY: "e",
    LegRole.DOCTOR: "d",
    LegRole.KIN: "k",
    LegRole.SOCIAL_WORKER: "s",
    LegRole.AGENT: "a",
    LegRole.SUPERVISOR: "v",
}


@dataclass(frozen=True, slots=True)
class Candidate:
    """Somebody a role can reach: a directory contact, or the 120 number."""

    role: LegRole
    number: str
    name: str = ""
    contact_id: int | None = None
    user_id: int | None = None
    email: str | None = None
    #: ``number`` names a PJSIP endpoint (a softphone, an SOS device), not a phone number.
    endpoint: bool = False


@dataclass(frozen=True, slots=True)
class LegRequest:
    """Dial ``candidate`` as channel ``leg_id``, after ``delay`` seconds."""

    leg_id: str
    candidate: Candidate
    delay: float = 0.0


@dataclass(frozen=True, slots=True)
class RoleExhausted:
    """Nobody of ``role`` could be reached."""

    role: LegRole


@dataclass(frozen=True, slots=True)
class EmergencyUnreachable:
    """A call to 120 failed; agents and supervisors must know now."""

    attempt: int
    retrying: bool


Effect = LegRequest | RoleExhausted | EmergencyUnreachable


def leg_id(incident_id: str, role: LegRole, attempt: int) -> str:
    """The channel id of a leg: deterministic, so a restarted product never dials it twice."""
    return f"{incident_id}-{_SHORT[role]}{attempt}"


@dataclass
class RoleTrack:
    """The dialling state of one role."""

    role: LegRole
    candidates: list[Candidate]
    at_once: int = 1
    retries: int = 0
    retry_delay: float = 0.0
    attempts: int = 0
    next_candidate: int = 0
    live: dict[str, Candidate] = field(default_factory=dict)
    satisfied: bool = False
    exhausted: bool = False

    def _request(self, incident_id: str, candidate: Candidate, delay: float = 0.0) -> LegRequest:
        request = LegRequest(leg_id(incident_id, self.role, self.attempts), candidate, delay)
        self.attempts += 1
        self.live[request.leg_id] = candidate
        return request

    def fill(self, incident_id: str) -> list[Effect]:
        """Dial further contacts until ``at_once`` are live or nobody is left."""
        effects: list[Effect] = []
        while (
            not self.satisfied
            and len(self.live) < self.at_once
            and self.next_candidate < len(self.candidates)
        ):
            effects.append(self._request(incident_id, self.candidates[self.next_candidate]))
            self.next_candidate += 1
        if not self.live and not self.satisfied and not self.exhausted:
            self.exhausted = True
            effects.append(RoleExhausted(self.role))
        return effects


@dataclass
class SosPlan:
    """The dialling plan of one incident."""

    incident_id: str
    roles: dict[LegRole, RoleTrack]

    kin_at_once: int = 2

    @classmethod
    def build(
        cls,
        incident_id: str,
        *,
        emergency_number: str,
        contacts: list[Candidate] | None = None,
        kin_at_once: int = 2,
        emergency_retries: int = 2,
        emergency_retry_delay: float = 5.0,
    ) -> SosPlan:
        """A plan dialling 120 plus each role's contacts (given in priority order).

        ``contacts`` None means "not known yet": 120 can be dialled before the caller is
        identified, and :meth:`add_contacts` adds the other roles once they are.
        """
        emergency = RoleTrack(
            LegRole.EMERGENCY,
            [Candidate(LegRole.EMERGENCY, emergency_number, "120")],
            retries=emergency_retries,
            retry_delay=emergency_retry_delay,
        )
        plan = cls(incident_id, {LegRole.EMERGENCY: emergency}, kin_at_once)
        if contacts is not None:
            plan.add_tracks(contacts)
        return plan

    def add_tracks(self, contacts: list[Candidate]) -> list[LegRole]:
        """Add the roles other than 120 without dialling (a restore adds them this way)."""
        added = []
        for role in DIALLED_ROLES[1:]:
            if role not in self.roles:
                self.roles[role] = RoleTrack(
                    role,
                    [c for c in contacts if c.role is role],
                    at_once=self.kin_at_once if role is LegRole.KIN else 1,
                )
                added.append(role)
        return added

    def start(self) -> list[Effect]:
        """The first round: every known role at once."""
        return [
            effect
            for role in DIALLED_ROLES
            if role in self.roles
            for effect in self.roles[role].fill(self.incident_id)
        ]

    def add_contacts(self, contacts: list[Candidate]) -> list[Effect]:
        """The caller is identified (or known to be unidentified): dial the other roles."""
        added = self.add_tracks(contacts)
        return [effect for role in added for effect in self.roles[role].fill(self.incident_id)]

    def add_contact(self, candidate: Candidate) -> LegRequest | None:
        """A contact staff dial by hand: one more leg of its role, handled like the others
        (None while the role is not known yet: the caller is still being identified)."""
        track = self.roles.get(candidate.role)
        if track is None:
            return None
        track.exhausted = False  # tried again: exhausted again only if this one fails too
        return track._request(self.incident_id, candidate)

    def track_of(self, leg: str) -> RoleTrack | None:
        """The role a leg belongs to, if it is one of this plan's live legs."""
        for track in self.roles.values():
            if leg in track.live:
                return track
        return None

    def answered(self, leg: str) -> LegRole | None:
        """A leg answered: its role is satisfied (no further contacts of it are dialled)."""
        track = self.track_of(leg)
        if track is None:
            return None
        track.satisfied = True
        return track.role

    def failed(self, leg: str) -> list[Effect]:
        """A leg ended without answering: try the next contact of its role."""
        track = self.track_of(leg)
        if track is None:
            return []
        candidate = track.live.pop(leg)
        if track.satisfied:
            return []
        if track.role is LegRole.EMERGENCY:
            retrying = track.attempts <= track.retries
            effects: list[Effect] = [EmergencyUnreachable(track.attempts, retrying)]
            if retrying:
                effects.append(track._request(self.incident_id, candidate, track.retry_delay))
            elif not track.exhausted:
                track.exhausted = True
                effects.append(RoleExhausted(track.role))
            return effects
        return track.fill(self.incident_id)

    def ended(self, leg: str) -> None:
        """An answered leg hung up: it is no longer live (its role stays satisfied)."""
        track = self.track_of(leg)
        if track is not None:
            track.live.pop(leg, None)

    def restore(self, role: LegRole, attempts: int, live: dict[str, Candidate], satisfied: bool,
                exhausted: bool) -> None:
        """Rebuild a role's state from the store after a restart."""
        track = self.roles[role]
        track.attempts = attempts
        track.live = dict(live)
        track.satisfied = satisfied
        track.exhausted = exhausted
        if role is not LegRole.EMERGENCY:
            track.next_candidate = min(attempts, len(track.candidates))
