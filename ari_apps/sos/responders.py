"""How an answered responder comes in: 120 at once and briefed in a whisper, the others on a key.

- **120** is added to the bridge the moment it answers: the elder never waits on a
  recording. Its briefing (``briefing.py``) is whispered to its leg alone through a snoop
  channel (``spy=none``, ``whisper=out``), so the elder hears nothing of it; 120 presses
  ``REPEAT_KEY`` (0) to hear it again. If the briefing is not spoken yet (late), cannot
  be spoken or cannot be played, the generic announcement is whispered instead, at once;
  a repeat plays the briefing once it is spoken.
- **Kin, the doctor and the social worker** hear the elder's name and "press 1 to join",
  again and again, and join on ``CONFIRM_KEY`` (1). No key within
  ``SOS_CONFIRM_SECONDS``, or a hang-up first, counts as no answer: the leg is hung up and
  the next contact of the role is dialled, so a voicemail never joins the elder's call.
  A prompt not spoken yet when the leg answers is replaced by the generic one for that
  leg, at once: nobody waits on speech.
"""

from __future__ import annotations

import secrets

from ari_apps.sos.actor import ConferenceActor
from ari_apps.sos.briefing import (
    CONFIRM_KEY,
    MEDIA_PATH,
    REPEAT_KEY,
    briefing_text,
    confirm_text,
    listener_name,
)
from ari_apps.sos.incident import Leg
from ari_apps.sos.models import IncidentStatus, LegRole, LegState
from callcenter.asterisk import AriError, ChannelDtmfReceived, PlaybackFinished
from callcenter.logs import get_logger
from callcenter.media import media_base_url
from callcenter.store.models import utcnow

log = get_logger(__name__)

PROMPT_REPEAT_GAP = 1.0


class ResponderFlow(ConferenceActor):
    """Admits answered legs: 120 bridged and briefed, the other roles on their key."""

    #: Roles that must press a key before they join (a device alarm's kin call overrides it).
    CONFIRMING_ROLES: frozenset[LegRole] = frozenset(
        {LegRole.DOCTOR, LegRole.KIN, LegRole.SOCIAL_WORKER})

    def _needs_key(self, leg: Leg) -> bool:
        return leg.role in self.CONFIRMING_ROLES

    def _awaiting_key(self, leg: Leg) -> bool:
        """Answered, asked to press 1, not pressed yet."""
        return leg.id in self._confirming and leg.state is LegState.ANSWERED

    def _accepted(self, leg: Leg) -> None:
        """A person is on the leg (answered, or confirmed): their role is satisfied."""
        leg.answered_at = utcnow()
        self.first_answer_at = self.first_answer_at or leg.answered_at
        self.plan.answered(leg.id)
        self._save_leg(leg)
        self._save()

    async def _admit(self, leg: Leg) -> None:
        """What an answered leg does before (or as) it joins the conference."""
        if self._needs_key(leg):
            await self._ask_to_confirm(leg)
            return
        self._accepted(leg)
        await self._join(leg)
        if leg.role is LegRole.EMERGENCY:
            await self._open_whisper(leg)

    async def _readmit(self, leg: Leg) -> None:
        """After a reconnect: an answered leg whose key may have been lost on the way."""
        if self._needs_key(leg) and leg.answered_at is None:
            if leg.id in self._confirming:  # still asking: its prompt's end may be lost
                self._confirming[leg.id] = None
                await self._play_confirm(
                    leg.id, self._speech_media(self.speech.ready("confirm"), leg.id))
            else:  # a restored conference: ask afresh, with a fresh time limit
                await self._ask_to_confirm(leg)
        else:
            await self._join(leg)

    # -- speech ------------------------------------------------------------------------

    def _prepare_speech(self) -> None:
        """Start speaking this incident's prompts (again, if the elder is known since)."""
        self.speech.prepare("brief", briefing_text(self.card, self.caller_number))
        self.speech.prepare("confirm", confirm_text(self.card))

    def _speech_media(self, name: str | None, listener: str) -> str | None:
        if name is None:
            return None
        url_name = listener_name(name, listener)
        return f"sound:{media_base_url(self.deps.settings)}{MEDIA_PATH}{url_name}"

    def _spoken_or_late(self, kind: str, listener: str) -> str | None:
        """The media of ``kind`` for ``listener`` if it is spoken; else None (the generic
        prompt stands in for this listener) and the speech counts as late."""
        self._prepare_speech()  # asked for now if no leg rang first, or the elder is known since
        media = self._speech_media(self.speech.ready(kind), listener)
        if media is None:
            self.speech.late(kind)
        return media

    # -- kin, doctor, social worker: press 1 -------------------------------------------

    async def _ask_to_confirm(self, leg: Leg) -> None:
        self._confirming[leg.id] = None
        media = self._spoken_or_late("confirm", leg.id)
        self._timeline("leg.asked", {"leg": leg.id, "role": leg.role.value, "key": CONFIRM_KEY,
                                     "spoken": media is not None})
        self._after(self.deps.settings.sos_confirm_seconds, lambda: self._no_key(leg.id))
        await self._play_confirm(leg.id, media)

    async def _play_confirm(self, leg_id: str, media: str | None) -> None:
        if leg_id not in self._confirming or self._confirming[leg_id] is not None:
            return  # confirmed, failed, or already prompting
        try:
            playback = await self.client.channels.play(
                leg_id, media or self.deps.settings.sos_confirm_sound)
            self._confirming[leg_id] = playback.id
        except AriError as err:
            log.warning("sos confirm prompt failed", leg=leg_id, error=err.message)

    async def _on_confirm_prompt_end(self, leg_id: str, event: PlaybackFinished) -> None:
        """The prompt ended without a key: say it again after a breath (a generic one if
        the spoken one could not be fetched)."""
        self._confirming[leg_id] = None
        media = event.playback.media_uri
        if event.playback.state == "failed" and media != self.deps.settings.sos_confirm_sound:
            self._timeline("prompt.fallback", {"leg": leg_id})
            media = self.deps.settings.sos_confirm_sound
        self._after(PROMPT_REPEAT_GAP, lambda: self._play_confirm(leg_id, media))

    async def _confirmed(self, leg: Leg) -> None:
        playback = self._confirming.pop(leg.id, None)
        self._timeline("leg.confirmed", {"leg": leg.id, "role": leg.role.value})
        self._accepted(leg)
        if playback is not None:
            try:
                await self.client.playbacks.stop(playback)
            except AriError:
                pass  # it ended by itself meanwhile
        await self._join(leg)

    async def _no_key(self, leg_id: str) -> None:
        leg = self.legs.get(leg_id)
        if leg is None or not self._awaiting_key(leg):
            return
        self._timeline("leg.no_key", {"leg": leg.id, "role": leg.role.value,
                                      "seconds": self.deps.settings.sos_confirm_seconds})
        await self._unconfirmed(leg, None, "no key pressed")
        await self._hangup(leg.id)

    async def _unconfirmed(self, leg: Leg, cause: int | None, reason: str) -> None:
        """Counted as no answer: the next contact of the role is dialled."""
        await self._leg_failed(leg, cause, reason)
        self._confirming.pop(leg.id, None)

    # -- 120: the whispered briefing ---------------------------------------------------

    async def _open_whisper(self, leg: Leg) -> None:
        """A snoop on 120's leg that speaks to it alone; the briefing plays once it is up."""
        # <incident>-e<n>w<random>: routed to this incident by its prefix; a fresh id each
        # time, so a restored conference never collides with a snoop its predecessor left.
        snoop_id = f"{leg.id}w{secrets.token_hex(3)}"
        try:
            await self.client.channels.snoop(
                leg.id, self.deps.settings.ari_app, spy="none", whisper="out",
                app_args=f"whisper,{self.id}", snoop_id=snoop_id)
            self._whispers[snoop_id] = leg.id
        except AriError as err:
            self._timeline("briefing.failed", {"leg": leg.id, "error": err.message})

    async def _whisper_up(self, snoop_id: str) -> None:
        """The snoop entered the app: whisper the briefing, or the generic one if it is late."""
        await self._whisper(snoop_id, self._spoken_or_late("brief", snoop_id))

    async def _whisper(self, snoop_id: str, media: str | None) -> None:
        if snoop_id not in self._whispers or self.status is not IncidentStatus.ACTIVE:
            return
        for playing, (target, _) in list(self._briefings.items()):
            if target == snoop_id:  # a repeat starts it over
                del self._briefings[playing]
                try:
                    await self.client.playbacks.stop(playing)
                except AriError:
                    pass
        sound = media or self.deps.settings.sos_announce_sound
        try:
            playback = await self.client.channels.play(snoop_id, sound)
        except AriError as err:
            self._timeline("briefing.failed", {"leg": self._whispers[snoop_id],
                                               "error": err.message})
            return
        self._briefings[playback.id] = (snoop_id, sound)
        self._timeline("briefing.whispered", {"leg": self._whispers[snoop_id],
                                              "spoken": media is not None})

    async def _on_briefing_end(self, event: PlaybackFinished) -> None:
        snoop_id, sound = self._briefings.pop(event.playback.id)
        if event.playback.state == "failed" and sound != self.deps.settings.sos_announce_sound:
            # Asterisk could not fetch or play the spoken briefing: the generic one instead.
            self._timeline("briefing.fallback", {"leg": self._whispers.get(snoop_id)})
            await self._whisper(snoop_id, None)

    # -- keys --------------------------------------------------------------------------

    async def _on_key(self, event: ChannelDtmfReceived) -> None:
        leg = self.legs.get(event.channel.id)
        if leg is None:
            return
        if self._awaiting_key(leg) and event.digit == CONFIRM_KEY:
            await self._confirmed(leg)
        elif leg.role is LegRole.EMERGENCY and event.digit == REPEAT_KEY \
                and leg.state is LegState.JOINED:
            snoop_id = next((s for s, lid in self._whispers.items() if lid == leg.id), None)
            self._timeline("briefing.repeat", {"leg": leg.id})
            if snoop_id is None:
                await self._open_whisper(leg)  # the first try failed: try again
            else:
                await self._whisper(snoop_id,
                                    self._speech_media(self.speech.ready("brief"), snoop_id))
        # Any other key is ignored: a responder's keypad must not disturb the call.
