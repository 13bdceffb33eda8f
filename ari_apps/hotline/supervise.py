"""Listen, whisper, barge from the supervisor's own phone, switching without redialling.

The supervisor's softphone is rung once into the Stasis app (``hotline-supervise``) and
put in a mixing bridge of their own (``hl-sup-<n>``). What they hear and who hears them
is an ARI snoop on the agent's channel in that bridge: listen = spy both, whisper none;
whisper = spy both, whisper out (the agent hears the supervisor); barge = spy both,
whisper both (agent and caller hear them). Switching mode puts a new snoop in the bridge
and hangs up the old one; the supervisor's call stays up. Each start and switch is an
audit entry (``hotline.listen`` / ``hotline.whisper`` / ``hotline.barge``).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from ari_apps.hotline.agents import Agents
from ari_apps.hotline.calls import CallTracker
from ari_apps.hotline.exceptions import CallNotFound, CallNotLive, HotlineError, NoSoftphone
from callcenter import audit
from callcenter.asterisk import AriError, AriEvent, AsteriskCluster, StasisRouter, StasisStart
from callcenter.asterisk.ari.events import ChannelDestroyed, StasisEnd
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory

log = get_logger(__name__)
START_ARG = "hotline-supervise"
MODES = {"listen": "none", "whisper": "out", "barge": "both"}
ANSWER_WITHIN = 30.0


class SupervisionFailed(HotlineError):
    """The supervisor's phone did not answer, or Asterisk refused the snoop."""

    error_id = "supervision-failed"
    status = 502


@dataclass
class SupervisorSession:
    """A supervisor's phone in their bridge, snooping on one agent's channel."""

    id: str
    user: str
    call_id: str
    target: str  # the agent's channel id
    phone: str  # the supervisor's channel id
    mode: str = ""
    snoop: str = ""
    answered: asyncio.Future[None] | None = None


class Supervision:
    """Supervisor sessions over ARI."""

    def __init__(self, cluster: AsteriskCluster, tracker: CallTracker, agents: Agents,
                 sessions: SessionFactory, settings: Settings) -> None:
        self.cluster = cluster
        self.tracker = tracker
        self.agents = agents
        self.sessions = sessions
        self.settings = settings
        self.by_user: dict[str, SupervisorSession] = {}
        self._ids = itertools.count(1)
        self._router: StasisRouter | None = None

    def attach(self, router: StasisRouter) -> None:
        """Route the supervisor's phone and the snoops to this object."""
        self._router = router
        router.on_start(START_ARG, "hotline", self._started, self._event)
        router.on_prefix("hl-sup-", self._event)

    async def supervise(self, call_id: str, user: str, mode: str) -> dict[str, object]:
        """Start listening/whispering/barging on a live call, or switch mode."""
        if mode not in MODES:
            raise HotlineError("mode must be listen, whisper or barge", {"mode": mode})
        call = self.tracker.by_id(call_id)
        if call is None or call.state != "talking" or not call.agent_uniqueid:
            raise CallNotFound("no answered call with this id", {"call": call_id})
        session = self.by_user.get(user)
        if session is not None and session.call_id != call_id:
            await self._end(session)
            session = None
        if session is None:
            session = await self._ring(user, call_id, call.agent_uniqueid)
        await self._snoop(session, mode)
        async with self.sessions.begin() as db:
            await audit.record(db, actor=user, action=f"hotline.{mode}", entity="call",
                               entity_id=call_id, after={"agent": call.agent, "mode": mode})
        return {"call_id": call_id, "mode": mode, "session": session.id}

    async def _ring(self, user: str, call_id: str, target: str) -> SupervisorSession:
        endpoint = await self.agents.endpoint(user)
        if not endpoint:
            raise NoSoftphone("no softphone endpoint in your profile", {"user": user})
        sid = f"hl-sup-{next(self._ids)}-{call_id[-8:]}"
        session = SupervisorSession(sid, user, call_id, target, phone=f"{sid}-phone")
        session.answered = asyncio.get_running_loop().create_future()
        self.by_user[user] = session
        ari = self.cluster.default
        try:
            await ari.bridges.create("mixing", bridge_id=sid)
            await ari.channels.originate(self.agents.interface_of(endpoint),
                                         app=self.settings.ari_app,
                                         app_args=[START_ARG, sid], channel_id=session.phone,
                                         timeout=int(ANSWER_WITHIN))
            async with asyncio.timeout(ANSWER_WITHIN + 5):
                await session.answered
        except (AriError, TimeoutError) as err:
            await self._end(session)
            raise SupervisionFailed("your phone did not answer", {"call": call_id}) from err
        return session

    async def _snoop(self, session: SupervisorSession, mode: str) -> None:
        if session.mode == mode:
            return
        ari = self.cluster.default
        old = session.snoop
        snoop_id = f"{session.id}-snoop-{next(self._ids)}"
        if self._router is not None:
            self._router.claim(snoop_id, self._event)
        try:
            await ari.channels.snoop(session.target, self.settings.ari_app, spy="both",
                                     whisper=MODES[mode], snoop_id=snoop_id)
            await ari.bridges.add_channel(session.id, snoop_id)
        except AriError as err:
            raise CallNotLive("the agent's call is gone", {"call": session.call_id}) from err
        session.snoop, session.mode = snoop_id, mode
        if old:
            try:
                await ari.channels.hangup(old)
            except AriError:
                pass
        log.info("supervision mode", session=session.id, mode=mode, user=session.user)

    async def _started(self, event: StasisStart) -> None:
        args = event.args
        session = next((s for s in self.by_user.values() if len(args) > 1 and s.id == args[1]),
                       None)
        if session is None:
            return
        try:
            await self.cluster.default.bridges.add_channel(session.id, event.channel.id)
        except AriError:
            log.warning("supervisor phone could not join its bridge", session=session.id)
            return
        if session.answered is not None and not session.answered.done():
            session.answered.set_result(None)

    async def _event(self, event: AriEvent) -> None:
        if not isinstance(event, ChannelDestroyed | StasisEnd):
            return
        gone = event.channel.id
        for session in list(self.by_user.values()):
            # The current snoop dies with the agent's channel (the call ended).
            if gone in (session.phone, session.snoop):
                await self._end(session)

    async def _end(self, session: SupervisorSession) -> None:
        self.by_user.pop(session.user, None)
        ari = self.cluster.default
        for channel in (session.snoop, session.phone):
            if channel:
                try:
                    await ari.channels.hangup(channel)
                except AriError:
                    pass
        try:
            await ari.bridges.destroy(session.id)
        except AriError:
            pass

    async def close(self) -> None:
        """End every session."""
        for session in list(self.by_user.values()):
            await self._end(session)
