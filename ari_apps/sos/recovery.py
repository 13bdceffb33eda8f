"""After a (re)connect: settle the live conferences, take back those a previous run left.

Asterisk does not queue events for a disconnected app: each live conference re-reads its
bridge and legs, and every incident the store says is active on that node is rebuilt
from its rows and whatever Asterisk still holds of it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.conference import SosConference
from ari_apps.sos.directory import ElderCard, elder_card, identify
from ari_apps.sos.incident import Leg, SosDeps
from ari_apps.sos.models import Incident, IncidentLeg, IncidentStatus, LegRole, LegState
from ari_apps.sos.plan import _SHORT, Candidate
from ari_apps.sos.roster import OnDutyRoster
from callcenter.asterisk import AriClient, AriEvent, AriSnapshot, Channel, StasisRouter
from callcenter.journal import is_store_unavailable
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

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
    _ended_here: OrderedDict[str, None]

    _router: StasisRouter

    def _track(self, conference: SosConference) -> None:
        raise NotImplementedError  # stasis.py

    def _route(self, event: AriEvent) -> None:
        raise NotImplementedError  # stasis.py (``_route``)

    def _warm_reads(self) -> None:
        raise NotImplementedError  # stasis.py

    def open_incident(self, channel: Channel, node: str, *, device_id: str | None,
                      kind: str = "sos", card: ElderCard | None = None) -> SosConference:
        raise NotImplementedError  # stasis.py

    async def resync(self, snapshot: AriSnapshot) -> None:
        """Settle live conferences and take back those a previous run left in Asterisk."""
        self.roster.start()
        self._warm_reads()
        client = self.clients[snapshot.node]
        bridges = {b.id: set(b.channels) for b in snapshot.bridges if b.id.startswith("sos-")}
        for conference in list(self.conferences.values()):
            if conference.client.node == snapshot.node:
                conference.post(conference.reconcile)
        orphans = {b[4:]: members for b, members in bridges.items() if b[4:] not in self.conferences}
        channels = {c.id: c for c in snapshot.channels}
        task = asyncio.get_running_loop().create_task(
            self._restore_all(client, orphans, channels), name=f"sos-restore-{snapshot.node}"
        )
        self._restores.add(task)
        task.add_done_callback(self._restores.discard)

    async def _restore_all(self, client: AriClient, orphans: dict[str, set[str]],
                           channels: dict[str, Channel]) -> None:
        while True:
            try:
                await self._restore(client, orphans, channels)
                return
            except Exception as err:  # noqa: BLE001 - retried until the store is back
                if not is_store_unavailable(err):
                    log.error("sos restore failed", exc_info=err)
                    return
                log.warning("store down: sos restore retried", retry_in=_RESTORE_RETRY)
                await asyncio.sleep(_RESTORE_RETRY)

    async def _restore(self, client: AriClient, orphans: dict[str, set[str]],
                       channels: dict[str, Channel]) -> None:
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
                if incident.id in self.conferences or incident.id in self._ended_here:
                    continue
                members = orphans.get(incident.id)
                legs = (
                    await session.execute(
                        select(IncidentLeg).where(IncidentLeg.incident_id == incident.id)
                    )
                ).scalars().all()
                if members and not any(leg.role == LegRole.ELDER.value for leg in legs):
                    # Only its first, journaled row reached the store (the product died
                    # right after the press): the rest is read from Asterisk, as for a
                    # bridge without a row.
                    await self._adopt(session, client, incident.id, members, channels,
                                      row=incident)
                    continue
                card = await elder_card(session, incident.elder_id) if incident.elder_id else None
                self._resume(client, incident, list(legs), card, members, channels)
            known = {incident.id for incident in active}
            for incident_id, members in orphans.items():
                if (incident_id not in known and incident_id not in self.conferences
                        and incident_id not in self._ended_here):
                    await self._adopt(session, client, incident_id, members, channels)
        self._take_back_lone_callers(client, orphans, channels)

    def _take_back_lone_callers(self, client: AriClient, orphans: dict[str, set[str]],
                                channels: dict[str, Channel]) -> None:
        """Callers a previous run left in the app before it made their bridge (it died a
        millisecond after the press): each is an SOS still to start, not a silent line.
        The dialplan's ``Stasis(<app>,sos[,<device>])`` is on the channel (Asterisk 22
        lists it as the channel's ``dialplan.app_data``)."""
        in_bridges = set().union(*orphans.values()) if orphans else set()
        for conference in self.conferences.values():
            in_bridges |= set(conference.legs)
        for channel in channels.values():
            args = channel.dialplan.app_data.split(",")
            if (channel.dialplan.app_name != "Stasis" or args[1:2] != ["sos"]
                    or channel.id in in_bridges or channel.id in self._by_channel):
                continue
            device_id = args[2] if len(args) > 2 and args[2] else None
            log.warning("sos caller left without a conference taken back",
                        channel_id=channel.id)
            self._router.claim(channel.id, self._route)
            self.open_incident(channel, client.node, device_id=device_id)

    async def _adopt(self, session: AsyncSession, client: AriClient, incident_id: str,
                     members: set[str], channels: dict[str, Channel],
                     row: Incident | None = None) -> None:
        """An ``sos-`` bridge whose incident has no row, or only its first one (the product
        died right after a press): rebuild the incident from the bridge and its channels,
        the caller being whoever is in it and is no leg of ours; identify them by number."""
        callers = [channels[c] for c in members
                   if c in channels and not c.startswith(f"{incident_id}-")]
        number = callers[0].caller.number if callers else (row.caller_number if row else "")
        if row is not None and row.elder_id is not None:
            card = await elder_card(session, row.elder_id)
        else:
            card = (await identify(session, caller_number=number, device_id=None)
                    if number else None)
        started = row.started_at if row is not None else _started_at(incident_id)
        incident = Incident(id=incident_id, kind=row.kind if row is not None else "sos",
                            caller_number=number,
                            device_id=row.device_id if row is not None else None,
                            started_at=started, first_answer_at=None)
        rows = [IncidentLeg(id=c.id, role=LegRole.ELDER.value, number=number, name="",
                            state=LegState.JOINED.value, created_at=started)
                for c in callers]
        log.warning("sos bridge without a row adopted", incident_id=incident_id,
                    identified=card is not None)
        self._resume(client, incident, rows, card, members, channels, adopted=True)

    def _resume(
        self, client: AriClient, incident: Incident, rows: list[IncidentLeg],
        card: ElderCard | None, members: set[str] | None, channels: dict[str, Channel],
        *, adopted: bool = False,
    ) -> None:
        conference = SosConference(
            self.deps, client, incident.id, kind=incident.kind,
            caller_number=incident.caller_number, device_id=incident.device_id,
            started_at=incident.started_at,
        )
        legs = [_leg_from_row(row) for row in rows]
        # Legs Asterisk holds whose rows never reached the store (a restart right after
        # they were dialled): read from Asterisk, never dialled again.
        legs += _legs_from_asterisk(incident.id, {leg.id for leg in legs}, channels,
                                    members or set(), card)
        conference.restore(card, legs, members or set(), incident.first_answer_at)
        self._track(conference)
        if card is not None:
            self._by_elder.setdefault(card.elder_id, conference)
        for leg in legs:
            if leg.role is LegRole.ELDER:
                self._by_channel[leg.id] = conference
                # No StasisStart comes again for it: its events are routed to us by claim.
                self._router.claim(leg.id, self._route)

        async def first() -> None:
            if adopted:  # nothing of it was stored: it is, from now on
                conference._save()
                for leg in legs:
                    conference._save_leg(leg)
                conference._timeline("adopted", {"legs": len(legs),
                                                 "identified": card is not None})
                if card is not None:
                    conference._publish("sos.started")
            conference.resume_timers()
            await conference.reconcile()
            await conference.dial_untried()
            if adopted:
                # Its first run may have died before these: each is idempotent per incident.
                conference._open_work_order()
                conference._notify_contacts()
                # The elder may have heard nothing yet: keep them company until help joins.
                await conference._play_prompt()

        conference.start(first)
        log.info("sos conference restored", incident_id=incident.id, legs=len(legs))


def _started_at(incident_id: str) -> datetime:
    """When an incident began, from its id (``new_incident_id``: UTC time first)."""
    try:
        return datetime.strptime(incident_id[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return utcnow()


def _legs_from_asterisk(incident_id: str, known: set[str], channels: dict[str, Channel],
                        members: set[str], card: ElderCard | None) -> list[Leg]:
    """The incident's leg channels (``<incident>-<role><attempt>``) that have no row."""
    roles = {short: role for role, short in _SHORT.items()}
    legs = []
    for channel in channels.values():
        prefix, _, suffix = channel.id.rpartition("-")
        if prefix != incident_id or channel.id in known or not suffix[1:].isdigit():
            continue
        role = roles.get(suffix[0])
        if role is None:
            continue
        candidate = _candidate(role, int(suffix[1:]), card, channel)
        state = (LegState.JOINED if channel.id in members
                 else LegState.ANSWERED if channel.state == "Up" else LegState.RINGING)
        legs.append(Leg(channel.id, role, candidate, state))
    return sorted(legs, key=lambda leg: leg.id)


def _candidate(role: LegRole, attempt: int, card: ElderCard | None, channel: Channel) -> Candidate:
    # A role's n-th attempt dials its n-th contact (``RoleTrack.fill``); 120 is one number.
    contacts = [c for c in (card.contacts if card else []) if c.role is role]
    if role is not LegRole.EMERGENCY and attempt < len(contacts):
        return contacts[attempt]
    number = channel.connected.number or channel.dialplan.exten
    return Candidate(role, number, "120" if role is LegRole.EMERGENCY else "",
                     endpoint=role in (LegRole.AGENT, LegRole.SUPERVISOR))


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

