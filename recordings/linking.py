"""What a recording belongs to: its call record, incident, elder, agent and area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.models import Incident
from callcenter.calls.models import Call
from callcenter.store.models import Area, Elder, User


@dataclass
class CallContext:
    """The call record's facts a recording copies for search and access rules."""

    call_id: str | None = None
    incident_id: str | None = None
    elder_id: int | None = None
    agent: str | None = None
    area: str | None = None
    started_at: datetime | None = None

    @property
    def known(self) -> bool:
        return self.call_id is not None or self.started_at is not None


async def _elder_area(session: AsyncSession, elder_id: int) -> str | None:
    return (await session.execute(
        select(Area.path).join(Elder, Elder.area_id == Area.id).where(Elder.id == elder_id)
    )).scalar_one_or_none()


async def _agent_area(session: AsyncSession, username: str) -> str | None:
    return (await session.execute(
        select(Area.path).join(User, User.area_id == Area.id).where(User.username == username)
    )).scalar_one_or_none()


async def context_for(session: AsyncSession, call_id: str | None, incident_id: str | None,
                      name: str | None = None) -> CallContext:
    """The call (by id, else by its recording's name) and the incident, whichever are known."""
    context = CallContext()
    call = await session.get(Call, call_id) if call_id else None
    if call is None and name:
        call = (await session.execute(
            select(Call).where(Call.recording_name.in_({name, name.removesuffix(".wav")}))
            .limit(1)
        )).scalar_one_or_none()
    if call is not None:
        context.call_id, context.started_at = call.id, call.started_at
        context.elder_id, context.agent = call.elder_id, call.agent
        incident_id = incident_id or call.incident_id
        context.incident_id = incident_id
    incident = await session.get(Incident, incident_id) if incident_id else None
    if incident is not None:
        context.incident_id = incident.id
        context.started_at = context.started_at or incident.started_at
        context.elder_id = context.elder_id or incident.elder_id
        context.area = incident.area_path
    if context.elder_id is not None:
        context.area = await _elder_area(session, context.elder_id) or context.area
    if context.area is None and context.agent:
        context.area = await _agent_area(session, context.agent)
    return context
