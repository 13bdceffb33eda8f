"""After a reconnect or a restart: settle what Asterisk could not tell, rebuild what was left."""

from __future__ import annotations

from datetime import datetime

from ari_apps.sos.actor import LIVE, ConferenceActor
from ari_apps.sos.directory import ElderCard
from ari_apps.sos.incident import Leg
from ari_apps.sos.models import LegRole, LegState
from ari_apps.sos.plan import Effect
from callcenter.asterisk import AriNotFound
from callcenter.store.models import utcnow


class Restoration(ConferenceActor):
    """Reconcile a live conference with Asterisk; restore one a previous run left behind."""

    async def reconcile(self) -> None:
        """After a (re)connect: settle what happened while Asterisk could not tell us.

        Asterisk 22 replays nothing to a reconnected app, so the bridge and each live
        leg are read afresh (the resync listing may predate this conference's own steps).
        """
        if not self._bridged.is_set():
            return  # still starting: its own steps will create and fill the bridge
        try:
            members = set((await self.client.bridges.get(self.bridge_id)).channels)
        except AriNotFound:
            self._timeline("bridge.lost", {})
            await self._end("bridge_lost")
            return
        gone = []
        for leg in list(self.legs.values()):
            if leg.state is LegState.JOINED:
                if leg.id not in members:
                    gone.append(leg.id)
            elif leg.state in (LegState.DIALING, LegState.RINGING, LegState.ANSWERED):
                if not await self._exists(leg.id):
                    gone.append(leg.id)
                elif leg.state is LegState.ANSWERED and leg.candidate is not None:
                    await self._readmit(leg)  # it was asked for its key, or joining
        self._timeline("resynced", {"parties": len(self.parties), "gone": len(gone)})
        # Events already on their way (a Dial BUSY, a ChannelDestroyed with its cause) are
        # queued behind this step: let them tell why first, then settle what is left.
        self.post(lambda: self._settle_gone(gone))

    async def _settle_gone(self, leg_ids: list[str]) -> None:
        for leg_id in leg_ids:
            leg = self.legs[leg_id]
            if leg.state in (LegState.DIALING, LegState.RINGING):
                await self._leg_failed(leg, None, "gone while disconnected")
            elif leg.state in (LegState.ANSWERED, LegState.JOINED):
                await self._on_left(leg_id)
        await self._maybe_end()

    async def _exists(self, channel_id: str) -> bool:
        try:
            await self.client.channels.get(channel_id)
        except AriNotFound:
            return False
        return True

    def restore(self, card: ElderCard | None, legs: list[Leg], bridge_channels: set[str],
                first_answer_at: datetime | None) -> None:
        """Rebuild the state of a conference the product left behind when it stopped."""
        self.card = card
        self.identified = card is not None
        self.first_answer_at = first_answer_at
        self.plan.add_tracks(card.contacts if card else [])
        for leg in legs:
            self.legs[leg.id] = leg
            if leg.state is LegState.JOINED and leg.id in bridge_channels:
                self.parties.add(leg.id)
        self._escalations = sum(
            1 for leg in legs if leg.role in (LegRole.AGENT, LegRole.SUPERVISOR)
        )
        ever_joined = sum(1 for leg in legs if leg.state in (LegState.JOINED, LegState.LEFT))
        self.most_parties = max(len(self.parties), ever_joined)
        for role, track in self.plan.roles.items():
            mine = [leg for leg in legs if leg.role is role]
            live = {leg.id: leg.candidate for leg in mine
                    if leg.state in LIVE and leg.candidate is not None}
            satisfied = any(leg.answered_at for leg in mine)
            tried = len(mine)
            exhausted = not live and not satisfied and tried >= len(track.candidates) + track.retries
            self.plan.restore(role, tried, live, satisfied, exhausted)
            if exhausted:
                self.exhausted.add(role)
        self._bridged.set()

    async def dial_untried(self) -> None:
        """After a restore: dial the roles the previous run never got to (an alarm's roles
        wait for the elder's callback, a restart may fall in between)."""
        effects: list[Effect] = []
        for track in self.plan.roles.values():
            if track.attempts == 0 and not track.exhausted and not track.satisfied:
                effects.extend(track.fill(self.id))
        if effects:
            self._timeline("dial.roles", {"reason": "restored"})
            await self._dial_all(effects)

    def resume_timers(self) -> None:
        """Re-arm the escalation timers, counted from the incident's start."""
        self._arm_escalation(elapsed=(utcnow() - self.started_at).total_seconds())
        self.first_round_done.set()
