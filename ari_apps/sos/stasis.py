"""The SOS Stasis application: routes ARI events to the incident they belong to.

Channels enter with ``Stasis(<app>,sos[,<device id>])`` (the rendered dialplan) or as
legs the app originated (``leg,<incident>,<role>``). Every later event is routed by
id: a leg's channel id starts with its incident id, the bridge and the recording are
named ``sos-<incident>``, and the caller's channel is remembered on arrival.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from ari_apps.sos.actions import IncidentCommands, run_on
from ari_apps.sos.briefing import briefing_command
from ari_apps.sos.conference import SosConference
from ari_apps.sos.directory import ElderCard, identify, normalise_number, warm_identify
from ari_apps.sos.exceptions import IncidentNotActive
from ari_apps.sos.incident import Leg, SosDeps, new_incident_id
from ari_apps.sos.models import IncidentStatus, LegRole, LegState
from ari_apps.sos.notifier import SosNotifier
from ari_apps.sos.plan import Candidate
from ari_apps.sos.recovery import Recovery
from ari_apps.sos.roster import OnDutyRoster
from ari_apps.sos.speech import SpeakerPool, SpeechQueue
from ari_apps.sos.store import IncidentRecorder
from ari_apps.sos.timers import EscalationTimers
from callcenter.asterisk import (
    AriClient,
    AriError,
    AriEvent,
    Channel,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    Dial,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisRouter,
    StasisStart,
)
from callcenter.commands import CommandPath
from callcenter.logs import get_logger
from callcenter.scheduler import Scheduler
from callcenter.settings import Settings
from callcenter.store.direct import DirectStatements, Reader
from callcenter.store.engine import SessionFactory
from callcenter.store.models import utcnow

log = get_logger(__name__)

IDENTIFY_TIMEOUT = 2.0
#: Incidents this process ended, remembered so that no restore pass brings them back.
ENDED_REMEMBERED = 10_000
_ROUTED = (
    Dial, ChannelDestroyed, ChannelEnteredBridge, ChannelLeftBridge, StasisEnd,
    PlaybackFinished, RecordingFinished, RecordingFailed, ChannelDtmfReceived,
)


class SosApp(Recovery):
    """Starts, routes, joins and restores SOS conferences on every Asterisk node."""

    def __init__(
        self,
        clients: dict[str, AriClient],
        settings: Settings,
        sessions: SessionFactory,
        recorder: IncidentRecorder,
        notifier: SosNotifier,
        scheduler: Scheduler,
        commands: CommandPath,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.clients = clients
        self.settings = settings
        self.sessions = sessions
        self.commands = commands
        #: The caller's identification, on connections held for it (callcenter.store.direct).
        self.reads = DirectStatements(sessions.kw["bind"])
        self.conferences: dict[str, SosConference] = {}
        self.roster = OnDutyRoster(sessions)
        self.escalation = EscalationTimers(scheduler, commands, sessions, self.conferences, clock)
        self.deps = SosDeps(
            settings=settings,
            recorder=recorder,
            notifier=notifier,
            lookup_on_duty=self.roster.lookup,
            forget=self._forget,
            claim_elder=self._claim_elder,
            arm=self.escalation.arm,
            disarm=self.escalation.disarm,
            speech=SpeechQueue(SpeakerPool(settings.sos_speech_at_once),
                               settings.sos_speech_at_once),
            sleep=sleep,
            call_back=self._call_back,
        )
        self._waiters: list[
            tuple[Callable[[SosConference], bool], asyncio.Future[SosConference]]
        ] = []
        self._by_caller: dict[str, SosConference] = {}
        self._by_elder: dict[int, SosConference] = {}
        self._by_channel: dict[str, SosConference] = {}
        self._restores: set[asyncio.Task[None]] = set()
        self._ended_here: OrderedDict[str, None] = OrderedDict()
        self._callbacks: set[asyncio.Task[None]] = set()
        self._lookups: set[asyncio.Task[None]] = set()

    def attach(self, router: StasisRouter) -> None:
        """Declare the SOS routes on the Stasis router, the resync hook on every node, the
        escalation timers and the commands other processes send (before they start)."""
        self._router = router
        self.escalation.register()
        self.commands.handle("sos.join", self.join_command)
        self.commands.handle("sos.briefing", lambda args: briefing_command(self.conferences, args))
        IncidentCommands(self.conferences).register(self.commands)
        router.on_start("sos", "sos", self._on_sos_start, self._route)
        router.on_start("leg", "sos", self._on_leg_start, self._route)
        # 120's whisper channel (a snoop, ``whisper,<incident>``): routed like a leg.
        router.on_start("whisper", "sos", self._on_leg_start, self._route)
        router.on_prefix("sos-", self._route)  # bridges and recordings: sos-<incident>
        router.on_resolver(self._owns, self._route)  # legs: <incident>-<role><n>
        for client in self.clients.values():
            client.on_resynced(self.resync)

    def _owns(self, ident: str) -> bool:
        return ident.rpartition("-")[0] in self.conferences

    async def close(self) -> None:
        """Stop every conference's handling (the calls go on in Asterisk) and restores."""
        await self.roster.close()
        for task in (*self._restores, *self._callbacks, *self._lookups):
            task.cancel()
        await asyncio.gather(*self._restores, *self._callbacks, *self._lookups,
                             return_exceptions=True)
        await asyncio.gather(*(c.stop() for c in list(self.conferences.values())))
        await self.deps.speech.close()
        await self.reads.close()

    # -- bookkeeping -------------------------------------------------------------------

    def _track(self, conference: SosConference) -> None:
        self.conferences[conference.id] = conference
        for key in self._caller_keys(conference.caller_number, conference.device_id):
            self._by_caller.setdefault(key, conference)
        for predicate, waiter in list(self._waiters):
            if not waiter.done() and predicate(conference):
                waiter.set_result(conference)

    async def wait_for_conference(
        self, predicate: Callable[[SosConference], bool] = lambda c: True, within: float = 10.0
    ) -> SosConference:
        """The first conference matching ``predicate``, now or once it starts (tests, console)."""
        for conference in self.conferences.values():
            if predicate(conference):
                return conference
        waiter: asyncio.Future[SosConference] = asyncio.get_running_loop().create_future()
        entry = (predicate, waiter)
        self._waiters.append(entry)
        try:
            async with asyncio.timeout(within):
                return await waiter
        finally:
            self._waiters.remove(entry)

    def _forget(self, conference: SosConference) -> None:
        if self.conferences.get(conference.id) is conference:
            del self.conferences[conference.id]
        # Its last rows may still be on their way to the store: a restore pass reading it
        # as active meanwhile must not bring it back (it would end it again, as lost).
        self._ended_here[conference.id] = None
        if len(self._ended_here) > ENDED_REMEMBERED:
            self._ended_here.popitem(last=False)
        for index in (self._by_caller, self._by_channel):
            for key in [k for k, v in index.items() if v is conference]:
                del index[key]
        for elder in [k for k, v in self._by_elder.items() if v is conference]:
            del self._by_elder[elder]

    def _claim_elder(self, conference: SosConference, elder_id: int) -> SosConference | None:
        current = self._by_elder.get(elder_id)
        if current is not None and current is not conference and not current.done.is_set():
            return current
        self._by_elder[elder_id] = conference
        return None

    @staticmethod
    def _caller_keys(number: str, device_id: str | None) -> list[str]:
        keys = [f"device:{device_id}"] if device_id else []
        digits = normalise_number(number)
        if digits:
            keys.append(f"number:{digits}")
        return keys

    def find(self, event: AriEvent) -> SosConference | None:
        """The conference an event belongs to, if any."""
        if isinstance(event, ChannelEnteredBridge | ChannelLeftBridge):
            return self._by_name(event.bridge.id)
        if isinstance(event, PlaybackFinished):
            kind, target = event.playback.target
            return self._by_name(target) if kind == "bridge" else self._by_channel_id(target)
        if isinstance(event, RecordingFinished | RecordingFailed):
            return self._by_name(event.recording.name)
        if isinstance(event, Dial):
            return self._by_channel_id(event.peer.id)
        channel = getattr(event, "channel", None)
        return self._by_channel_id(channel.id) if channel is not None else None

    def _by_name(self, name: str) -> SosConference | None:
        return self.conferences.get(name[4:]) if name.startswith("sos-") else None

    def _by_channel_id(self, channel_id: str) -> SosConference | None:
        found = self._by_channel.get(channel_id)
        if found is None and "-" in channel_id:
            found = self.conferences.get(channel_id.rsplit("-", 1)[0])
        return found

    # -- events ------------------------------------------------------------------------

    def _route(self, event: AriEvent) -> None:
        if not isinstance(event, _ROUTED):
            return
        conference = self.find(event)
        if conference is not None:
            conference.post(event)

    def _on_sos_start(self, event: StasisStart) -> None:
        args = event.args
        self.start_incident(event, device_id=args[1] if len(args) > 1 and args[1] else None)

    async def _on_leg_start(self, event: StasisStart) -> None:
        conference = self.find(event)
        if conference is None or conference.done.is_set():
            # A leg of an incident that is over (or of a run that cannot be restored):
            # nobody must sit in a dead conference.
            log.warning("stray sos leg hung up", channel_id=event.channel.id)
            try:
                await self.clients[event.node].channels.hangup(event.channel.id)
            except AriError:
                pass
        else:
            conference.post(event)

    def start_incident(
        self, event: StasisStart, *, device_id: str | None, kind: str = "sos",
        card: ElderCard | None = None,
    ) -> SosConference:
        """A caller arrived: join the incident already open for them, or open one."""
        return self.open_incident(event.channel, event.node, device_id=device_id, kind=kind,
                                  card=card)

    def open_incident(
        self, channel: Channel, node: str, *, device_id: str | None, kind: str = "sos",
        card: ElderCard | None = None,
    ) -> SosConference:
        """The incident of a caller's channel on ``node`` (a StasisStart, or a caller a
        previous run left in the app before it made a bridge)."""
        number = channel.caller.number
        for key in self._caller_keys(number, device_id):
            existing = self._by_caller.get(key)
            if existing is not None and not existing.done.is_set():
                self._by_channel[channel.id] = existing
                existing.post(lambda c=existing: c.add_caller(channel.id))  # type: ignore[misc]
                return existing
        client = self.clients[node]
        conference = SosConference(
            self.deps, client, new_incident_id(), kind=kind, caller_number=number,
            device_id=device_id,
        )
        conference.legs[channel.id] = Leg(channel.id, LegRole.ELDER, None, LegState.ANSWERED)
        self._track(conference)
        self._by_channel[channel.id] = conference
        # The answer, the bridge and 120 leave at once, then the look-up: both are on the
        # first round's path, and the caller's answer and bridge usually take the longer.
        conference.launch(channel.id)
        lookup = self._known(card) if card is not None else self._lookup(number, device_id)
        conference.start(lambda: conference.begin(channel.id, lookup))
        return conference

    @staticmethod
    def _known(card: ElderCard) -> asyncio.Future[ElderCard | None]:
        known: asyncio.Future[ElderCard | None] = asyncio.get_running_loop().create_future()
        known.set_result(card)
        return known

    # -- flows other features start (device alarms: ari_apps.alarms.flows) --------------

    def incident_of(self, elder_id: int) -> SosConference | None:
        """The elder's open incident, if any (a new alarm for them joins it)."""
        current = self._by_elder.get(elder_id)
        return current if current is not None and not current.done.is_set() else None

    def start_flow(
        self, flow: SosConference, elder_id: int, begin: Callable[[], Awaitable[None]]
    ) -> SosConference:
        """Track and start ``flow`` (built by another feature) as ``elder_id``'s incident."""
        self._track(flow)
        self._by_elder[elder_id] = flow
        flow.start(begin)
        return flow

    def _call_back(self, lost: SosConference, card: ElderCard) -> None:
        """An SOS whose caller was lost is still an alarm: once it ended, the alarm flow
        calls the elder back, then dials every role (one flow for both, not a second)."""

        async def after_end() -> None:
            # Imported here: the alarms feature builds on this one, not the other way.
            from ari_apps.alarms.flows import start_alarm

            await lost.done.wait()
            start_alarm(self, card, kind=lost.kind, device_id=lost.device_id,
                        detail={"after": lost.id, "reason": "caller_lost"}, conference=True)

        task = asyncio.get_running_loop().create_task(after_end(), name=f"sos-callback-{lost.id}")
        self._callbacks.add(task)
        task.add_done_callback(self._callbacks.discard)

    def _warm_reads(self) -> None:
        """The identification's connections open (again), its look-ups prepared on each,
        before the next SOS needs them."""
        task = asyncio.get_running_loop().create_task(self.reads.warm(warm_identify),
                                                      name="sos-warm-reads")
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)

    def _lookup(self, number: str, device_id: str | None) -> asyncio.Future[ElderCard | None]:
        """Who is calling, as soon as the queries have answered: the connection goes back to
        the pool afterwards, off the first round's path."""
        loop = asyncio.get_running_loop()
        found: asyncio.Future[ElderCard | None] = loop.create_future()
        task = loop.create_task(self._identify(number, device_id, found))
        self._lookups.add(task)
        task.add_done_callback(self._lookups.discard)
        return found

    async def _identify(self, number: str, device_id: str | None,
                        found: asyncio.Future[ElderCard | None]) -> None:
        """An unknown caller, or a store that is down, is never refused: None."""

        async def read(db: Reader) -> None:
            card = await identify(db, caller_number=number, device_id=device_id)
            if not found.done():  # cancelled by a start that ended meanwhile
                found.set_result(card)

        try:
            # A direct reader, not an ORM session: this is on the SOS's critical path.
            async with asyncio.timeout(IDENTIFY_TIMEOUT):
                await self.reads.run(read)
        except Exception as err:  # noqa: BLE001 - the SOS goes on unidentified, with 120
            if found.done():
                log.warning("sos identification connection not returned cleanly", error=repr(err))
            else:
                log.warning("sos identification failed; going on unidentified", error=repr(err),
                            exc_info=err)
        finally:
            if not found.done():  # failed, or cancelled (the app is closing)
                found.set_result(None)

    async def join(self, incident_id: str, candidate: Candidate, actor: str) -> tuple[str, bool]:
        """Ring a console user's softphone into an incident's conference, once: their live
        leg if they have one, ``(leg id, True)``, else a new one ``(leg id, False)``."""
        conference = self.conferences[incident_id]
        return await run_on(conference, lambda: conference.join_agent(candidate, actor))

    async def join_command(self, args: dict[str, Any]) -> dict[str, Any] | None:
        """The ``sos.join`` command from any console process: ring a user's softphone into
        the incident, if its conference runs here (None: not here, another process answers)."""
        incident_id = str(args.get("incident", ""))
        conference = self.conferences.get(incident_id)
        if conference is None:
            return None
        if conference.status is not IncidentStatus.ACTIVE:
            raise IncidentNotActive("the incident's conference has ended", {"incident": incident_id})
        candidate = Candidate(LegRole(args["role"]), str(args["endpoint"]), str(args["name"]),
                              user_id=int(args["user_id"]), endpoint=True)
        leg, existing = await self.join(incident_id, candidate, str(args["actor"]))
        return {"leg": leg, "existing": existing}
