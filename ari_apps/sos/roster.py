"""Who is on duty to ring when nobody answers an elder: read from the store, remembered.

An escalation must ring somebody even while the store is down (invariant 1): the roster
keeps the last list it read, per role and area, refreshed every minute.
"""

from __future__ import annotations

import asyncio

from ari_apps.sos.directory import on_duty
from ari_apps.sos.plan import Candidate
from callcenter.journal import is_store_unavailable
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Role

log = get_logger(__name__)

LOOKUP_TIMEOUT = 2.0
ROSTER_REFRESH = 60.0


class OnDutyRoster:
    """The staff on duty (console session and softphone), with the last list kept."""

    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions
        self._seen: dict[tuple[Role, str | None], list[Candidate]] = {}
        self._task: asyncio.Task[None] | None = None
        #: Set once the roster was first read (a product that ran a while has it).
        self.loaded = asyncio.Event()

    def start(self) -> None:
        """Keep the roster fresh from now on (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._keep(), name="sos-roster")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def lookup(self, role: Role, area_path: str | None) -> list[Candidate]:
        """Who is on duty; while the store is down, who was last seen on duty."""
        try:
            async with asyncio.timeout(LOOKUP_TIMEOUT), self.sessions() as session:
                staff = await on_duty(session, role, area_path)
        except Exception as err:
            if not is_store_unavailable(err):
                raise
            # The area's last list, else everybody last on duty: too many rather than nobody.
            last = self._seen.get((role, area_path)) or self._seen.get((role, None))
            if not last:
                raise
            log.warning("store down: ringing the staff last seen on duty", role=role.value,
                        count=len(last), error=repr(err))
            return list(last)
        self._seen[(role, area_path)] = staff
        return staff

    async def _keep(self) -> None:
        while True:
            for role in (Role.AGENT, Role.SUPERVISOR):
                try:
                    await self.lookup(role, None)
                except Exception as err:  # noqa: BLE001 - task boundary: kept from the last time
                    log.warning("on-duty roster not refreshed", role=role.value, error=repr(err))
            self.loaded.set()
            await asyncio.sleep(ROSTER_REFRESH)
