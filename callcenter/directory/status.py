"""An elder's life-cycle: active, suspended, deceased (B §7.3.6, D §7.3.4)."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import audit
from callcenter.store.models import Elder, ElderStatus, SosDevice


class ElderNotFound(LookupError):
    """No elder with that id."""


async def set_elder_status(
    session: AsyncSession, elder_id: int, status: ElderStatus, *, actor: str, reason: str
) -> Elder:
    """Change an elder's status, audited; a deceased elder's devices stop at once.

    Stopping the devices means their alarms are no longer accepted and their calls no
    longer identify the elder (B §7.3.6: the terminal of a deceased elder is stopped and
    recovered); the device rows stay, so past incidents keep their history.
    """
    elder = await session.get(Elder, elder_id, with_for_update=True)
    if elder is None:
        raise ElderNotFound(elder_id)
    before = {"status": elder.status}
    elder.status = status.value
    after: dict[str, object] = {"status": status.value}
    if status is ElderStatus.DECEASED:
        stopped = (
            await session.execute(
                select(SosDevice.device_id).where(
                    SosDevice.elder_id == elder_id, SosDevice.active.is_(True)
                )
            )
        ).scalars().all()
        await session.execute(
            update(SosDevice).where(SosDevice.elder_id == elder_id).values(active=False)
        )
        after["devices_stopped"] = sorted(stopped)
    await audit.record(
        session,
        actor=actor,
        action="elder.status",
        entity="elder",
        entity_id=elder_id,
        before=before,
        after=after,
        reason=reason,
    )
    return elder
