"""Staff's commands about an incident, from any console process, over the command path.

``sos.end``, ``sos.hangup``, ``sos.mute`` and ``sos.dial`` are answered by the process
that hosts the incident's conference (every other process answers None: not mine). The
step runs on the conference's own task, like its ARI events; the web handler has already
checked the user's role, jurisdiction and CSRF token, and validated the input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ari_apps.sos.exceptions import IncidentNotActive
from ari_apps.sos.models import Disposition, LegRole
from callcenter.commands import CommandPath

if TYPE_CHECKING:
    from ari_apps.sos.conference import SosConference

T = TypeVar("T")
#: How long a command waits for its conference's step (it queues behind ARI events).
STEP_WITHIN = 10.0


async def run_on(
    conference: SosConference, step: Callable[[], Awaitable[T]], within: float = STEP_WITHIN
) -> T:
    """Run ``step`` on the conference's task, in order with its events; its result or error."""
    result: asyncio.Future[T] = asyncio.get_running_loop().create_future()

    async def command() -> None:
        try:
            result.set_result(await step())
        except Exception as err:  # noqa: BLE001 - handed to the caller of run_on()
            result.set_exception(err)

    def gave_up(ended: asyncio.Task[bool]) -> None:
        # A conference that ends before it gets to the step never runs it: say so at once.
        if not ended.cancelled() and not result.done():
            result.set_exception(IncidentNotActive("the incident's conference has ended",
                                                   {"incident": conference.id}))

    conference.post(command)
    ended = asyncio.ensure_future(conference.done.wait())
    ended.add_done_callback(gave_up)
    try:
        async with asyncio.timeout(within):
            return await result
    finally:
        ended.cancel()


class IncidentCommands:
    """Answers staff's commands for the conferences this process hosts."""

    def __init__(self, conferences: dict[str, SosConference]) -> None:
        self.conferences = conferences

    def register(self, commands: CommandPath) -> None:
        """Answer the commands in this process (before the command path starts)."""
        commands.handle("sos.end", self.end)
        commands.handle("sos.hangup", self.hang_up)
        commands.handle("sos.mute", self.mute)
        commands.handle("sos.dial", self.dial)

    def _here(self, args: dict[str, Any]) -> SosConference | None:
        return self.conferences.get(str(args.get("incident", "")))

    async def end(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """``sos.end``: close the incident with a disposition and a note."""
        conference = self._here(args)
        if conference is None:
            return None
        note = args.get("note")
        await run_on(conference, lambda: conference.end_by_staff(
            Disposition(args["disposition"]), str(note) if note else None, str(args["actor"])))
        return {"incident": conference.id, "outcome": conference.outcome,
                "disposition": args["disposition"]}

    async def hang_up(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """``sos.hangup``: take one leg off the call."""
        conference = self._here(args)
        if conference is None:
            return None
        leg = await run_on(conference, lambda: conference.hang_up_leg(
            str(args["leg"]), str(args["actor"]), supervisor=bool(args.get("supervisor"))))
        return {"incident": conference.id, "leg": leg.id, "state": leg.state.value}

    async def mute(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """``sos.mute``: mute or unmute what one leg says."""
        conference = self._here(args)
        if conference is None:
            return None
        muted = bool(args["muted"])
        leg = await run_on(conference, lambda: conference.mute_leg(
            str(args["leg"]), muted, str(args["actor"])))
        return {"incident": conference.id, "leg": leg.id, "muted": muted}

    async def dial(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """``sos.dial``: dial a contact typed in by hand, as one more responder of its role."""
        conference = self._here(args)
        if conference is None:
            return None
        leg_id = await run_on(conference, lambda: conference.dial_contact(
            LegRole(args["role"]), str(args["number"]), str(args.get("name") or ""),
            str(args["actor"])))
        return {"incident": conference.id, "leg": leg_id}
