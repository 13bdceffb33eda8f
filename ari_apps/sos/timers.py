"""SOS escalation on the durable scheduler: armed per incident, run where the conference is.

Each step (ring the agents, the supervisors, then everybody again every minute) is a
timer of kind ``sos.escalate`` keyed ``<incident>:<step>``: it survives a restart of the
product and fires late if it fell due while no process ran. Whichever process claims it
sends the ``sos.escalate`` command; the process that hosts the conference takes it. A
step for an incident that no longer runs anywhere is done if the incident ended, else it
fails and is retried (a restart is restoring the conference), then reported.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from ari_apps.sos.models import Incident, IncidentStatus
from callcenter.commands import CommandPath, CommandTimeout
from callcenter.logs import get_logger
from callcenter.scheduler import Scheduler, Timer
from callcenter.store.engine import SessionFactory

if TYPE_CHECKING:
    from ari_apps.sos.conference import SosConference

log = get_logger(__name__)

KIND = "sos.escalate"
COMMAND = "sos.escalate"
#: The conference method each step runs.
STEPS = {
    "agents": "_escalate_to_agents",
    "supervisors": "_escalate_to_supervisors",
    "repeat": "_repeat_escalation",
}
#: How long a claimed step waits for the process that hosts the conference.
HOST_WITHIN = 5.0


class NotRunningAnywhere(RuntimeError):
    """An active incident whose conference no process hosts (yet): retried, then reported."""


class EscalationTimers:
    """Arms, cancels and runs an incident's escalation steps."""

    def __init__(
        self, scheduler: Scheduler, commands: CommandPath, sessions: SessionFactory,
        conferences: dict[str, SosConference], clock: Callable[[], datetime],
    ) -> None:
        self.scheduler = scheduler
        self.commands = commands
        self.sessions = sessions
        self.conferences = conferences
        self.clock = clock

    def register(self) -> None:
        """Run this kind of timer and answer this command in this process."""
        self.scheduler.register(KIND, self.run)
        self.commands.handle(COMMAND, self.take)

    def arm(self, incident_id: str, step: str, delay: float) -> None:
        """Step ``step`` of the incident in ``delay`` seconds (never waits on the store)."""
        self.scheduler.schedule_nowait(KIND, f"{incident_id}:{step}",
                                       self.clock() + timedelta(seconds=delay),
                                       {"incident": incident_id, "step": step})

    def disarm(self, incident_id: str) -> None:
        """The incident ended: none of its steps runs."""
        for step in STEPS:
            self.scheduler.cancel_nowait(KIND, f"{incident_id}:{step}")

    async def run(self, timer: Timer) -> None:
        """A step fell due (in whichever process claimed it)."""
        try:
            await self.commands.call(COMMAND, timer.payload, within=HOST_WITHIN)
        except CommandTimeout as err:
            incident_id = str(timer.payload.get("incident"))
            async with self.sessions() as session:
                status = (await session.execute(
                    select(Incident.status).where(Incident.id == incident_id)
                )).scalar_one_or_none()
            if status == IncidentStatus.ACTIVE.value:
                raise NotRunningAnywhere(f"no process hosts incident {incident_id}") from err
            log.info("escalation step of an incident that is over", incident_id=incident_id,
                     step=timer.payload.get("step"))

    async def take(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """The ``sos.escalate`` command: run the step if the conference is here."""
        conference = self.conferences.get(str(args.get("incident")))
        if conference is None:
            return None  # another process hosts it, or nobody does
        step = STEPS.get(str(args.get("step")))
        if step is None:
            raise ValueError(f"unknown escalation step {args.get('step')!r}")
        conference.post(getattr(conference, step))
        return {"incident": conference.id, "step": args["step"]}
