"""The actor under every SOS conference: one inbox, one owned task, timers that post back.

ARI events and commands for an incident go through one inbox, handled in order by one
owned task, so the incident's state never races. The steps themselves live in the
conference and its parts (``conference.py``, ``legs.py``, ``escalation.py``,
``restore.py``); the stubs at the end name what each part may call of the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Self, cast

from ari_apps.sos.briefing import IncidentSpeech
from ari_apps.sos.incident import IncidentRecords, Leg, SosDeps
from ari_apps.sos.models import IncidentStatus, LegState
from ari_apps.sos.plan import Effect, LegRequest, SosPlan
from callcenter.asterisk import AriClient, AriEvent, Channel
from callcenter.logs import bound_context, get_logger

if TYPE_CHECKING:
    from ari_apps.sos.conference import SosConference

log = get_logger(__name__)

LIVE = (LegState.DIALING, LegState.RINGING, LegState.ANSWERED, LegState.JOINED)
PENDING = (LegState.DIALING, LegState.RINGING, LegState.ANSWERED)
MAX_LIFETIME = 4 * 3600.0


class ConferenceActor(IncidentRecords):
    """The inbox, the task and the timers of one incident's conference."""

    def __init__(
        self,
        deps: SosDeps,
        client: AriClient,
        incident_id: str,
        *,
        kind: str = "sos",
        caller_number: str = "",
        device_id: str | None = None,
        started_at: datetime | None = None,
    ) -> None:
        super().__init__(deps, client, incident_id, kind=kind, caller_number=caller_number,
                         device_id=device_id, started_at=started_at)
        self.created = time.monotonic()
        self.most_parties = 0
        settings = deps.settings
        self.plan = SosPlan.build(
            incident_id,
            emergency_number=settings.sos_emergency_number,
            kin_at_once=settings.sos_kin_at_once,
            emergency_retries=settings.sos_emergency_retries,
            emergency_retry_delay=settings.sos_emergency_retry_delay,
        )
        self._inbox: asyncio.Queue[AriEvent | Callable[[], Awaitable[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.Task[None]] = set()
        self._prompt_playback: str | None = None
        self.speech = IncidentSpeech(incident_id, deps.speech)
        self._confirming: dict[str, str | None] = {}  # leg id -> its prompt's playback id
        self._whispers: dict[str, str] = {}  # 120's snoop channel id -> 120's leg id
        self._briefings: dict[str, tuple[str, str]] = {}  # playback -> (snoop, media)
        self._escalations = 0
        self._bridged = asyncio.Event()
        #: Set once the caller's answer succeeded and the bridge exists: roles may be rung.
        self._ringable = asyncio.Event()
        #: Originates not yet answered, by leg id.
        self._originating: dict[str, asyncio.Future[Channel]] = {}
        #: Set once every first-round originate has left: what can wait, waits for it.
        self._first_round_out = asyncio.Event()
        self._speech_asked = False
        self._recording = False
        self._prompt_fallback = False
        self.first_round_done = asyncio.Event()
        self.first_round_seconds: float | None = None
        self.done = asyncio.Event()
        self._changed = asyncio.Condition()

    # -- the actor ---------------------------------------------------------------------

    def start(self, first: Callable[[], Awaitable[None]]) -> None:
        """Run ``first`` then every inbox item, in order, on the conference's own task."""
        self._inbox.put_nowait(first)
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"sos-{self.id}")

    def post(self, item: AriEvent | Callable[[], Awaitable[None]]) -> None:
        """Queue an ARI event or a command for this incident."""
        if not self.done.is_set():
            self._inbox.put_nowait(item)

    async def _run(self) -> None:
        with bound_context(incident_id=self.id):
            try:
                self._after(MAX_LIFETIME, lambda: self._end("max_lifetime"))
                while self.status is IncidentStatus.ACTIVE:
                    item = await self._inbox.get()
                    try:
                        if isinstance(item, AriEvent):
                            await self._on_event(item)
                        else:
                            await item()
                    except Exception as err:  # noqa: BLE001 - one bad step must not drop the call
                        log.error("sos step failed", exc_info=err)
                        self._timeline("error", {"error": f"{err.__class__.__name__}: {err}"})
                    async with self._changed:
                        self._changed.notify_all()
            finally:
                for timer in self._timers:
                    timer.cancel()
                self.speech.close()  # personal data: served no more once the incident ends
                self.done.set()
                self.deps.forget(cast("SosConference", self))
                async with self._changed:
                    self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Self], bool], within: float = 10.0
    ) -> None:
        """Wait until ``predicate`` holds after some step (for tests and the console)."""
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: predicate(self))

    async def stop(self) -> None:
        """Stop handling (product shutdown); the call itself goes on in Asterisk."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _after(self, delay: float, command: Callable[[], Awaitable[None]]) -> None:
        async def fire() -> None:
            await self.deps.sleep(delay)
            self.post(command)

        timer = asyncio.get_running_loop().create_task(fire(), name=f"sos-{self.id}-timer")
        self._timers.add(timer)
        timer.add_done_callback(self._timers.discard)

    # -- provided by the conference's parts --------------------------------------------

    async def _on_event(self, event: AriEvent) -> None:
        raise NotImplementedError  # legs.py

    async def _join(self, leg: Leg) -> None:
        raise NotImplementedError  # legs.py

    async def _on_left(self, channel_id: str) -> None:
        raise NotImplementedError  # legs.py

    async def _readmit(self, leg: Leg) -> None:
        raise NotImplementedError  # responders.py

    def _arm_escalation(self, elapsed: float = 0.0) -> None:
        raise NotImplementedError  # escalation.py

    async def _start_recording(self) -> None:
        raise NotImplementedError  # conference.py

    async def _dial_all(self, effects: list[Effect]) -> None:
        raise NotImplementedError  # conference.py

    async def _dial(self, request: LegRequest) -> None:
        raise NotImplementedError  # conference.py

    async def _leg_failed(self, leg: Leg, cause: int | None, text: str) -> None:
        raise NotImplementedError  # conference.py

    async def _maybe_end(self) -> None:
        raise NotImplementedError  # conference.py

    async def _end(self, outcome: str) -> None:
        raise NotImplementedError  # conference.py

    async def _hangup(self, channel_id: str) -> None:
        raise NotImplementedError  # conference.py
