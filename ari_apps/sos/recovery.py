"""After a (re)connect: settle the live conferences, take back those a previous run left.

Asterisk does not queue events for a disconnected app: each live conference re-reads its
bridge and legs, and every incident the store says is active on that node is rebuilt
from its rows and whatever Asterisk still holds of it.
"""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from ari_apps.sos.conference import SosConference
from ari_apps.sos.directory import ElderCard, elder_card
from ari_apps.sos.incident import Leg, SosDeps
from ari_apps.sos.models import Incident, IncidentLeg, IncidentStatus, LegRole, LegState
from ari_apps.sos.plan import Candidate
from ari_apps.sos.roster import OnDutyRoster
from callcenter.asterisk import AriClient, AriSnapshot
from callcenter.journal import is_store_unavailable
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory

log = get_logger(__name__)

_RESTORE_RETRY = 5.0


class Recovery:
    """The SOS app's part that reconciles and restores conferences (mixed into SosApp)."""

    clients: dict[str, AriClient]
    sessions: SessionFactory
    deps: SosDeps
    roster: OnDutyRoster
    conferences: dict[str, SosConference]
    _by_elder: dict[int, SosConference]
    _by_channel: dict[str, SosConference]
    _restores: set[asyncio.Task[None]]

    def _track(self, conference: SosConference) -> None:
        raise NotImplementedError  # stasis.py

    async def resync(self, snapshot: AriSnapshot) -> None:
        """Settle live conferences and take back those a previous run left in Asterisk."""
        self.roster.start()
        client = self.clients[snapshot.node]
        bridges = {b.id: set(b.channels) for b in snapshot.bridges if b.id.startswith("sos-")}
        for conference in list(self.conferences.values()):
            if conference.client.node == snapshot.node:
                conference.post(conference.reconcile)
        orphans = {b[4:]: members for b, members in bridges.items() if b[4:] not in self.conferences}
        task = asyncio.get_running_loop().create_task(
            self._restore_all(client, orphans), name=f"sos-restore-{snapshot.node}"
        )
        self._restores.add(task)
        task.add_done_callback(self._restores.discard)

    async def _restore_all(self, client: AriClient, orphans: dict[str, set[str]]) -> None:
        while True:
            try:
                await self._restore(client, orphans)
                return
            except Exception as err:  # noqa: BLE001 - retried until the store is back
                if not is_store_unavailable(err):
                    log.error("sos restore failed", exc_info=err)
                    return
                log.warning("store down: sos restore retried", retry_in=_RESTORE_RETRY)
                await asyncio.sleep(_RESTORE_RETRY)

    async def _restore(self, client: AriClient, orphans: dict[str, set[str]]) -> None:
        async with self.sessions() as session:
            active = (
                await session.execute(
                    select(Incident).where(
                        Incident.status == IncidentStatus.ACTIVE.value,
                        Incident.node == client.node,
                    )
                )
            ).scalars().all()
            for incident in active:
                if incident.id in self.conferences:
                    continue
                members = orphans.get(incident.id)
                legs = (
                    await session.execute(
                        select(IncidentLeg).where(IncidentLeg.incident_id == incident.id)
                    )
                ).scalars().all()
                card = await elder_card(session, incident.elder_id) if incident.elder_id else None
                self._resume(client, incident, list(legs), card, members)

    def _resume(
        self, client: AriClient, incident: Incident, rows: list[IncidentLeg],
        card: ElderCard | None, members: set[str] | None,
    ) -> None:
        conference = SosConference(
            self.deps, client, incident.id, kind=incident.kind,
            caller_number=incident.caller_number, device_id=incident.device_id,
            started_at=incident.started_at,
        )
        legs = [_leg_from_row(row) for row in rows]
        conference.restore(card, legs, members or set(), incident.first_answer_at)
        self._track(conference)
        if card is not None:
            self._by_elder.setdefault(card.elder_id, conference)
        for leg in legs:
            if leg.role is LegRole.ELDER:
                self._by_channel[leg.id] = conference

        async def first() -> None:
            conference.resume_timers()
            await conference.reconcile()
            await conference.dial_untried()

        conference.start(first)
        log.info("sos conference restored", incident_id=incident.id, legs=len(legs))


def _leg_from_row(row: IncidentLeg) -> Leg:
    role = LegRole(row.role)
    candidate = (
        None if role is LegRole.ELDER
        else Candidate(role, row.number, row.name, contact_id=row.contact_id, user_id=row.user_id,
                       endpoint=role in (LegRole.AGENT, LegRole.SUPERVISOR))
    )
    return Leg(
        id=row.id, role=role, candidate=candidate, state=LegState(row.state),
        created_at=row.created_at, answered_at=row.answered_at, ended_at=row.ended_at,
        cause=row.cause, cause_text=row.cause_text,
    )

