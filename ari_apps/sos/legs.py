"""How a conference's legs move: dialled, ringing, answered, confirmed, joined, left.

ARI events about the legs and the bridge arrive here, in order, from the actor's inbox;
how an answered responder comes in is ``responders.py``; the prompt that keeps the elder
company until a responder joins is here.
"""

from __future__ import annotations

from ari_apps.sos.incident import Leg
from ari_apps.sos.models import IncidentStatus, LegState
from ari_apps.sos.responders import ResponderFlow
from callcenter.asterisk import (
    AriError,
    AriEvent,
    AriNotFound,
    ChannelDestroyed,
    ChannelDtmfReceived,
    ChannelEnteredBridge,
    ChannelLeftBridge,
    Dial,
    PlaybackFinished,
    RecordingFailed,
    RecordingFinished,
    StasisEnd,
    StasisStart,
)
from callcenter.logs import get_logger
from callcenter.store.models import utcnow

log = get_logger(__name__)

# Dial statuses that end a leg without an answer, with the Q.850 cause they mean.
# Asterisk 22 sends no NOANSWER Dial on an originate timeout, only ChannelDestroyed 19.
FAILED_DIAL = {"BUSY": 17, "CONGESTION": 34, "CHANUNAVAIL": 20, "NOANSWER": 19, "CANCEL": 16}
PROMPT_GAP = 2.0
#: How long after a first leg rings the incident's prompts are spoken (a phone rings longer).
SPEECH_AFTER = 0.5
#: In Asterisk's core sound set ("Please hold while I try to connect you").
FALLBACK_PROMPT = "sound:pls-hold-while-try"


class LegEvents(ResponderFlow):
    """The conference's handling of its legs' and bridge's ARI events."""

    async def _on_event(self, event: AriEvent) -> None:
        if isinstance(event, Dial):
            await self._on_dial(event)
        elif isinstance(event, StasisStart):
            await self._on_answered(event)
        elif isinstance(event, ChannelDtmfReceived):
            await self._on_key(event)
        elif isinstance(event, ChannelEnteredBridge):
            await self._on_entered(event)
        elif isinstance(event, ChannelLeftBridge | StasisEnd):
            await self._on_left(event.channel.id)
        elif isinstance(event, ChannelDestroyed):
            await self._on_destroyed(event)
        elif isinstance(event, PlaybackFinished):
            await self._on_playback_finished(event)
        elif isinstance(event, RecordingFinished):
            self._timeline("recording.finished", {"name": event.recording.name,
                                                  "duration": event.recording.duration})
        elif isinstance(event, RecordingFailed):
            self._timeline("recording.failed", {"name": event.recording.name,
                                                "cause": event.recording.cause})
            self._alert("recording_failed", {"cause": event.recording.cause})

    async def _prepare_speech_soon(self) -> None:
        self._prepare_speech()

    async def _on_dial(self, event: Dial) -> None:
        leg = self.legs.get(event.peer.id)
        if leg is None:
            return
        if event.dialstatus == "RINGING" and leg.state is LegState.DIALING:
            if not self._speech_asked:
                # Spoken while it rings, ready when somebody answers; not at once: the
                # speaking's CPU stays out of the first round (this one's, and others').
                self._speech_asked = True
                self._after(SPEECH_AFTER, self._prepare_speech_soon)
            leg.move(LegState.RINGING)
            self._save_leg(leg)
            self._timeline("leg.ringing", {"leg": leg.id, "role": leg.role.value})
        elif event.dialstatus in FAILED_DIAL:
            await self._leg_failed(leg, FAILED_DIAL[event.dialstatus], event.dialstatus.lower())

    async def _on_answered(self, event: StasisStart) -> None:
        """A leg we dialled answered (or the elder pressed again: see ``add_caller``)."""
        if event.channel.id in self._whispers:
            await self._whisper_up(event.channel.id)  # 120's snoop entered the app
            return
        leg = self.legs.get(event.channel.id)
        if leg is None or leg.candidate is None:
            return  # not a leg we dialled: the caller's own channel
        if leg.state not in (LegState.DIALING, LegState.RINGING):
            await self._hangup(leg.id)  # answered after we gave up on it
            return
        leg.move(LegState.ANSWERED)
        self._save_leg(leg)
        self._timeline("leg.answered", {"leg": leg.id, "role": leg.role.value})
        await self._admit(leg)

    async def _join(self, leg: Leg) -> None:
        if leg.state is not LegState.ANSWERED or self.status is not IncidentStatus.ACTIVE:
            return
        try:
            await self.client.bridges.add_channel(self.bridge_id, leg.id)
        except AriNotFound:
            await self._on_left(leg.id)

    async def _on_entered(self, event: ChannelEnteredBridge) -> None:
        if event.bridge.id != self.bridge_id or event.channel is None:
            return
        leg = self.legs.get(event.channel.id)
        if leg is None:
            return  # the hidden Recorder channel, or a stranger
        self.parties.add(leg.id)
        self.most_parties = max(self.most_parties, len(self.parties))
        if leg.state is not LegState.JOINED:
            leg.move(LegState.JOINED)
            self._save_leg(leg)
        self._timeline("joined", {"leg": leg.id, "role": leg.role.value,
                                  "parties": len(self.parties)})
        if leg.is_responder:
            self._prompt_playback = None  # somebody is with the elder: the prompt loop stops
        await self._start_recording()  # an alarm's conference records from its first party
        await self._maybe_end()  # e.g. a responder joining a call its caller already left

    async def _on_left(self, channel_id: str) -> None:
        leg = self.legs.get(channel_id)
        if leg is None or leg.state in (LegState.LEFT, LegState.FAILED):
            return
        if leg.state in (LegState.DIALING, LegState.RINGING):
            return  # not ours to end here: ChannelDestroyed or Dial tells why it failed
        if self._awaiting_key(leg):
            self._timeline("leg.hung_up_before_key", {"leg": leg.id, "role": leg.role.value})
            await self._unconfirmed(leg, None, "hung up before the key")
            return
        self.parties.discard(leg.id)
        leg.move(LegState.LEFT)
        leg.ended_at = utcnow()
        self.plan.ended(leg.id)
        self._save_leg(leg)
        self._timeline("left", {"leg": leg.id, "role": leg.role.value, "parties": len(self.parties)})
        await self._maybe_end()

    async def _on_destroyed(self, event: ChannelDestroyed) -> None:
        leg = self.legs.get(event.channel.id)
        if leg is None:
            return
        if self._awaiting_key(leg):
            await self._unconfirmed(leg, event.cause, event.cause_txt)
        elif leg.state in (LegState.DIALING, LegState.RINGING):
            await self._leg_failed(leg, event.cause, event.cause_txt)
        else:
            await self._on_left(leg.id)

    async def _on_playback_finished(self, event: PlaybackFinished) -> None:
        prompted = next((leg for leg, pb in self._confirming.items()
                         if pb == event.playback.id), None)
        if prompted is not None:
            await self._on_confirm_prompt_end(prompted, event)
        elif event.playback.id in self._briefings:
            await self._on_briefing_end(event)
        elif event.playback.id == self._prompt_playback:
            if event.playback.state == "failed" and not self._prompt_fallback:
                # The product's own prompt is not installed on this Asterisk: fall back to a
                # sound every Asterisk ships rather than leave the elder in silence.
                self._prompt_fallback = True
                self._timeline("prompt.fallback", {"missing": event.playback.media_uri})
                log.warning("sos prompt missing on Asterisk; using the fallback prompt")
            self._after(PROMPT_GAP, self._play_prompt)

    async def _play_prompt(self) -> None:
        """Keep the elder company until a responder joins: the calm prompt, over and over."""
        if self.status is not IncidentStatus.ACTIVE or self._responder_joined():
            self._prompt_playback = None
            return
        try:
            sound = FALLBACK_PROMPT if self._prompt_fallback else self.deps.settings.sos_prompt_sound
            playback = await self.client.bridges.play(self.bridge_id, sound)
            self._prompt_playback = playback.id
        except AriError as err:
            log.warning("sos prompt failed", error=err.message)
            self._after(PROMPT_GAP * 3, self._play_prompt)

    def _responder_joined(self) -> bool:
        return any(self.legs[p].is_responder for p in self.parties if p in self.legs)
