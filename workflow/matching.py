"""Provider matching (B §6.1.3): the provider the elder designated first; otherwise the best
by service type, area covered, current load and rating, each with the reason shown.

A provider covers an elder when one of its areas is the elder's community or an area above
it (``provider_areas``). Load is its open work orders (dispatched, taken, in service) against
its capacity. The score is the rating (0–5) less 2 × the load ratio: a full provider with a
rating of 5 ranks with an idle one rated 3.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.store.models import Area, Provider, ProviderArea
from workflow.exceptions import ProviderNotCovering
from workflow.models import WorkOrder
from workflow.schemas import ProviderCandidate as Candidate

OPEN = ("dispatched", "taken", "in_service")


def _covers(area_paths: list[str], elder_area: str | None) -> bool:
    return elder_area is None or any(elder_area.startswith(p) for p in area_paths)


async def candidates(session: AsyncSession, *, service_type: str | None, area_path: str | None,
                     designated_id: int | None) -> list[Candidate]:
    """Every active provider that serves the type and the area, best first."""
    rows = (await session.execute(select(Provider).where(Provider.active.is_(True)))).scalars().all()
    areas: dict[int, list[str]] = {}
    for provider_id, path in await session.execute(
            select(ProviderArea.provider_id, Area.path).join(Area, Area.id == ProviderArea.area_id)):
        areas.setdefault(provider_id, []).append(path)
    loads: dict[int | None, int] = {pid: n for pid, n in await session.execute(
        select(WorkOrder.provider_id, func.count()).where(WorkOrder.status.in_(OPEN),
                                                           WorkOrder.provider_id.is_not(None))
        .group_by(WorkOrder.provider_id))}
    found = []
    for p in rows:
        if service_type and service_type not in (p.service_types or []):
            continue
        if not _covers(areas.get(p.id, []), area_path):
            continue
        load = int(loads.get(p.id, 0))
        ratio = load / p.capacity if p.capacity else 0.0
        designated = p.id == designated_id
        reason = ("老人指定的服务商；" if designated else "") + (
            f"服务类型相符，覆盖该社区，当前负载 {load}"
            + (f"/{p.capacity}" if p.capacity else "") + f"，评分 {p.rating:.1f}")
        found.append(Candidate(provider_id=p.id, code=p.code, name=p.name, designated=designated,
                               load=load, capacity=p.capacity, rating=p.rating,
                               score=round(p.rating - 2 * ratio, 3), reason=reason))
    found.sort(key=lambda c: (not c.designated, -c.score, c.load, c.code))
    return found


async def check_provider(session: AsyncSession, provider_id: int, *, service_type: str | None,
                         area_path: str | None, designated_id: int | None) -> tuple[Candidate, bool]:
    """The chosen provider's candidacy and whether it overrides the best match; a provider that
    does not serve the area or the type is refused."""
    ranked = await candidates(session, service_type=service_type, area_path=area_path,
                              designated_id=designated_id)
    chosen = next((c for c in ranked if c.provider_id == provider_id), None)
    if chosen is None:
        raise ProviderNotCovering("the provider does not serve this area or service type",
                                  {"provider_id": provider_id, "service_type": service_type})
    return chosen, chosen is not ranked[0]
