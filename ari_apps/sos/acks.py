"""Who has seen an incident: acknowledgements per console user, kept on the server.

A user acknowledges an incident with the pop's button (or Escape), by joining, or by
opening its page. From then on none of that user's consoles pops it, in any browser,
across logins. An alert that says the elder may still be without help pops it again:
nobody answered and agents are being rung (``escalated``), or 120 could not be reached
(``emergency.unreachable``). Other alerts (a role with nobody left, a failed recording)
show on a card already open and on the incident page, but do not pop it again.

An acknowledgement is not a workflow transition: it is a timeline entry
("acknowledged by X"), written once per acknowledgement that changed something.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.models import IncidentAck, IncidentEvent, IncidentLeg, LegRole, LegState
from callcenter.store.engine import dialect_insert
from callcenter.store.models import User, utcnow

#: Timeline kinds whose alert pops an incident again for the users who acknowledged it.
REPOP_KINDS = ("escalated", "emergency.unreachable")
#: The console's handlers of an incident: the staff legs, by how far they got.
_STAFF = (LegRole.AGENT.value, LegRole.SUPERVISOR.value)
_ON_THE_WAY = (LegState.DIALING.value, LegState.RINGING.value, LegState.ANSWERED.value)


@dataclass(frozen=True)
class Acknowledged:
    """A new acknowledgement and its timeline entry, to tell the consoles about."""

    incident_id: str
    user_id: int
    name: str
    role: str
    event: dict[str, Any]


async def _last_repop(session: AsyncSession, incident_ids: Collection[str]) -> dict[str, datetime]:
    rows = await session.execute(
        select(IncidentEvent.incident_id, func.max(IncidentEvent.at))
        .where(IncidentEvent.incident_id.in_(incident_ids), IncidentEvent.kind.in_(REPOP_KINDS))
        .group_by(IncidentEvent.incident_id)
    )
    return {incident_id: at for incident_id, at in rows}


def _current(acked_at: datetime, last_alert: datetime | None) -> bool:
    return last_alert is None or acked_at >= last_alert


async def acknowledged_by(
    session: AsyncSession, user_id: int, incident_ids: Collection[str]
) -> set[str]:
    """The incidents, among ``incident_ids``, this user has acknowledged since their last
    re-popping alert."""
    if not incident_ids:
        return set()
    acks = await session.execute(
        select(IncidentAck.incident_id, IncidentAck.at)
        .where(IncidentAck.user_id == user_id, IncidentAck.incident_id.in_(incident_ids))
    )
    last = await _last_repop(session, incident_ids)
    return {incident_id for incident_id, at in acks if _current(at, last.get(incident_id))}


async def acknowledge(
    session: AsyncSession, incident_id: str, user_id: int, via: str
) -> Acknowledged | None:
    """Record that ``user_id`` has seen the incident; None when it already had (nothing new
    to put on the timeline). The caller checks jurisdiction and commits."""
    user = await session.get(User, user_id)
    if user is None:
        return None
    previous = await session.get(IncidentAck, (incident_id, user_id))
    if previous is not None:
        last = (await _last_repop(session, [incident_id])).get(incident_id)
        if _current(previous.at, last):
            return None
    now = utcnow()
    insert = dialect_insert(session.get_bind().dialect.name)
    statement = insert(IncidentAck).values(incident_id=incident_id, user_id=user_id, at=now)
    await session.execute(statement.on_conflict_do_update(
        index_elements=["incident_id", "user_id"], set_={"at": statement.excluded.at}
    ))
    name = user.display_name or user.username
    detail = {"user_id": user_id, "name": name, "role": user.role, "via": via}
    session.add(IncidentEvent(key=f"{incident_id}:ack:{uuid.uuid4().hex[:16]}",
                              incident_id=incident_id, at=now, kind="acknowledged",
                              actor=user.username, detail=detail))
    event = {"kind": "acknowledged", "detail": detail, "at": now.isoformat(),
             "actor": user.username}
    return Acknowledged(incident_id, user_id, name, user.role, event)


@dataclass(frozen=True)
class Handler:
    """A console user on an incident: joined, joining, or having acknowledged it."""

    user_id: int | None
    name: str
    role: str
    how: str


_HOW_ORDER = {"joined": 0, "joining": 1, "acknowledged": 2}


async def handlers_of(
    session: AsyncSession, incident_ids: Collection[str]
) -> dict[str, list[Handler]]:
    """Who handles each incident: its agents' and supervisors' live legs, then the users who
    acknowledged it (each user once, by how far they got)."""
    found: dict[str, dict[object, Handler]] = {i: {} for i in incident_ids}
    if not incident_ids:
        return {}
    legs = await session.execute(
        select(IncidentLeg.incident_id, IncidentLeg.user_id, IncidentLeg.name, IncidentLeg.role,
               IncidentLeg.state)
        .where(IncidentLeg.incident_id.in_(incident_ids), IncidentLeg.role.in_(_STAFF),
               IncidentLeg.state.in_((*_ON_THE_WAY, LegState.JOINED.value)))
    )
    for incident_id, user_id, name, role, state in legs:
        how = "joined" if state == LegState.JOINED.value else "joining"
        _keep(found[incident_id], Handler(user_id, name, role, how))
    acks = await session.execute(
        select(IncidentAck.incident_id, User.id, User.display_name, User.username, User.role)
        .join(User, User.id == IncidentAck.user_id)
        .where(IncidentAck.incident_id.in_(incident_ids))
        .order_by(IncidentAck.at)
    )
    for incident_id, user_id, display, username, role in acks:
        _keep(found[incident_id], Handler(user_id, display or username, role, "acknowledged"))
    return {
        incident_id: sorted(by_user.values(), key=lambda h: _HOW_ORDER[h.how])
        for incident_id, by_user in found.items()
    }


def _keep(by_user: dict[object, Handler], handler: Handler) -> None:
    key = handler.user_id if handler.user_id is not None else handler.name
    known = by_user.get(key)
    if known is None or _HOW_ORDER[handler.how] < _HOW_ORDER[known.how]:
        by_user[key] = handler
