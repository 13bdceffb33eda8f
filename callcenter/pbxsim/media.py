"""Playbacks and recordings; recordings write real 8 kHz mono WAV files."""

from __future__ import annotations

import fnmatch
import math
import uuid
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callcenter.pbxsim.model import Model
from callcenter.pbxsim.objects import Bridge, Channel

SAMPLE_RATE = 8000
KNOWN_SOUNDS = {"hello-world": 1.4, "beep": 0.3, "demo-congrats": 4.0, "vm-goodbye": 0.8,
                "pls-hold-while-try": 2.0, "tt-monkeys": 8.0, "conf-onlyperson": 2.5}
# Sounds matching these patterns do not exist: playing them ends in state "failed".
MISSING_SOUNDS = ["no-such-*", "missing-*"]
RECORDING_FORMATS = {"wav", "gsm", "ulaw", "alaw", "sln", "g722", "wav16"}


class MediaError(Exception):
    """An ARI media request Asterisk refuses."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Playback:
    """One media playback on a channel or bridge."""

    id: str
    media_uri: str
    target_uri: str
    apps: set[str]
    state: str = "queued"
    language: str = "en"

    def ari(self) -> dict[str, Any]:
        """The ARI Playback model."""
        return {"id": self.id, "media_uri": self.media_uri, "target_uri": self.target_uri,
                "language": self.language, "state": self.state}


@dataclass
class Recording:
    """A live recording of a channel or bridge."""

    name: str
    format: str
    target_uri: str
    started: float
    apps: set[str]
    state: str = "queued"
    max_duration: float = 0.0
    duration: int | None = None
    tone: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def ari(self) -> dict[str, Any]:
        """The ARI LiveRecording model."""
        body: dict[str, Any] = {"name": self.name, "format": self.format,
                                "state": self.state, "target_uri": self.target_uri}
        if self.duration is not None:
            body["duration"] = self.duration
        return body


@dataclass
class MixMonitor:
    """A dialplan ``MixMonitor(<file>)`` on a channel: written until the channel hangs up."""

    path: Path
    started: float


def write_wav(path: Path, seconds: float, tone_hz: float | None = None) -> None:
    """Write ``seconds`` of 8 kHz 16-bit mono audio: silence, or a sine tone."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = int(round(seconds * SAMPLE_RATE))
    if tone_hz:
        samples = bytearray()
        for i in range(frames):
            value = int(8000 * math.sin(2 * math.pi * tone_hz * i / SAMPLE_RATE))
            samples += value.to_bytes(2, "little", signed=True)
        data = bytes(samples)
    else:
        data = bytes(2 * frames)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(data)


class Media:
    """Playbacks and live/stored recordings of the simulated PBX."""

    def __init__(self, model: Model, recordings_dir: Path) -> None:
        self.model = model
        self.dir = recordings_dir
        self.playbacks: dict[str, Playback] = {}
        self.live: dict[str, Recording] = {}
        self.mixmonitors: dict[str, MixMonitor] = {}  # by channel id
        self.sounds = dict(KNOWN_SOUNDS)

    # --- playbacks ------------------------------------------------------------------------
    def play(self, target: Channel | Bridge, media: str, playback_id: str | None = None,
             lang: str = "en") -> Playback:
        """Queue media on a channel or bridge (201 + PlaybackStarted, later Finished)."""
        if not media:
            raise MediaError(500, "Failed to queue media for playback")
        kind = "channel" if isinstance(target, Channel) else "bridge"
        pb = Playback(playback_id or str(uuid.uuid4()), media, f"{kind}:{target.id}",
                      set(target.apps), language=lang)
        self.playbacks[pb.id] = pb
        self.model.spawn(self._run(pb, target))
        return pb

    def _duration(self, media: str) -> float | None:
        """Seconds a medium plays; None for a missing sound; -1 for an unknown scheme."""
        scheme, _, name = media.partition(":")
        if scheme == "sound":
            if any(fnmatch.fnmatch(name, pat) for pat in MISSING_SOUNDS):
                return None
            return self.sounds.get(name, 2.0)
        if scheme in ("digits", "number", "characters"):
            return 0.5 * max(1, len(name))
        if scheme in ("tone", "recording"):
            return 2.0
        return -1.0

    async def _run(self, pb: Playback, target: Channel | Bridge) -> None:
        clock = self.model.clock
        pb.state = "playing"
        self._event("PlaybackStarted", pb)
        seconds = self._duration(pb.media_uri)
        if seconds is None:
            pb.state = "failed"
            self._finish(pb)
            return
        if seconds < 0:
            return  # an unknown scheme starts and never finishes, as observed
        await clock.sleep(seconds)
        if pb.id in self.playbacks:
            pb.state = "done"
            self._finish(pb)

    def _event(self, kind: str, pb: Playback) -> None:
        self.model.emit(kind, apps=pb.apps, ari={"playback": pb.ari()})

    def _finish(self, pb: Playback) -> None:
        self.playbacks.pop(pb.id, None)
        self._event("PlaybackFinished", pb)

    def stop_playback(self, playback_id: str) -> None:
        """DELETE /playbacks/{id}."""
        pb = self.playbacks.get(playback_id)
        if pb is None:
            raise MediaError(404, "Playback not found")
        pb.state = "done"
        self._finish(pb)

    def stop_playbacks_of(self, target_uri: str) -> None:
        """A channel hung up: its playbacks end."""
        for pb in [p for p in self.playbacks.values() if p.target_uri == target_uri]:
            pb.state = "done"
            self._finish(pb)

    # --- recordings -----------------------------------------------------------------------
    def stored_path(self, name: str, fmt: str = "wav") -> Path:
        """Where a stored recording lives."""
        return self.dir / f"{name}.{fmt}"

    def stored(self) -> list[dict[str, str]]:
        """GET /recordings/stored."""
        out = []
        if self.dir.exists():
            for path in sorted(self.dir.rglob("*.*")):
                rel = path.relative_to(self.dir)
                out.append({"name": str(rel.with_suffix("")), "format": path.suffix[1:]})
        return out

    def find_stored(self, name: str) -> Path | None:
        """The file of a stored recording, if any."""
        for path in self.dir.glob(f"{name}.*") if self.dir.exists() else []:
            return path
        return None

    def record(self, target: Channel | Bridge, params: dict[str, str]) -> Recording:
        """Start a live recording (POST .../record)."""
        name = params.get("name", "")
        fmt = params.get("format", "")
        if not name or not fmt:
            raise MediaError(500 if not name else 400,
                             "Error parsing request" if not name else "Missing parameter format")
        if fmt not in RECORDING_FORMATS:
            raise MediaError(422, "specified format is unknown on this system")
        if_exists = params.get("ifExists", "fail")
        if name in self.live or (self.find_stored(name) and if_exists == "fail"):
            raise MediaError(409, f"Recording '{name}' already exists and can not be overwritten")
        kind = "channel" if isinstance(target, Channel) else "bridge"
        rec = Recording(name, fmt, f"{kind}:{target.id}", self.model.clock.now(),
                        set(target.apps), max_duration=float(params.get("maxDurationSeconds", 0) or 0))
        self.live[name] = rec
        if isinstance(target, Bridge):
            recorder = f"Recorder/ARI-{self.model.local_suffix()};2"
            target.recorder_names.insert(0, recorder)
            rec.extra["bridge"] = target
            rec.extra["recorder"] = recorder
            self.model.check_technology(target)
            self.model.refresh_peers(target)
        rec.state = "recording"
        self.model.emit("RecordingStarted", apps=rec.apps, ari={"recording": rec.ari()})
        if rec.max_duration > 0:
            self.model.spawn(self._max_duration(rec))
        return rec

    async def _max_duration(self, rec: Recording) -> None:
        await self.model.clock.sleep(rec.max_duration)
        if self.live.get(rec.name) is rec:
            self.stop(rec.name)

    def stop(self, name: str, state: str = "done") -> Recording:
        """Stop a live recording and write its file (RecordingFinished)."""
        rec = self.live.pop(name, None)
        if rec is None:
            raise MediaError(404, "Recording not found")
        now = self.model.clock.now()
        seconds = now - rec.started
        bridge = rec.extra.get("bridge")
        if isinstance(bridge, Bridge):
            # Local channels carry no audio: only a softmix bridge writes (silence) frames,
            # so a recording of one channel in a simple_bridge is 0 s, a 44-byte WAV.
            since = bridge.softmix_since
            seconds = 0.0 if since is None else max(0.0, now - max(rec.started, since))
        rec.duration = int(seconds)
        rec.state = state
        if isinstance(bridge, Bridge) and rec.extra["recorder"] in bridge.recorder_names:
            bridge.recorder_names.remove(rec.extra["recorder"])
        if state != "canceled":
            # Every format is written as WAV data: only the duration matters to the product.
            write_wav(self.stored_path(name, rec.format), seconds)
        self.model.emit("RecordingFinished", apps=rec.apps, ari={"recording": rec.ari()})
        return rec

    def stop_recordings_of(self, target_uri: str) -> None:
        """The recorded channel hung up, or the last channel left the recorded bridge."""
        for rec in [r for r in self.live.values() if r.target_uri == target_uri]:
            self.stop(rec.name)

    def on_bridge_leave(self, bridge: Bridge, ch: Channel) -> None:
        """A bridge recording stops by itself when its last real channel leaves."""
        if not bridge.channels:
            self.stop_recordings_of(f"bridge:{bridge.id}")

    # --- MixMonitor (dialplan) ---------------------------------------------------------------
    def mixmonitor(self, ch: Channel, path: Path) -> None:
        """``MixMonitor(path)``: as Asterisk 22 (ami-queue-answered.txt), VarSet
        ``MIXMONITOR_FILENAME`` then ``MixMonitorStart``; the file exists at once (its header)
        and is written out when the channel hangs up. No ``MixMonitorStop`` at a hang-up."""
        self.model.set_var(ch, "MIXMONITOR_FILENAME", str(path))
        self.model.ami_event("MixMonitorStart", ch.ami())
        write_wav(path, 0.0)
        self.mixmonitors[ch.id] = MixMonitor(path, self.model.clock.now())

    def _close_mixmonitor(self, ch: Channel) -> None:
        monitor = self.mixmonitors.pop(ch.id, None)
        if monitor is not None:
            # A Local channel carries no audio: Asterisk's file is its 44-byte header.
            seconds = 0.0 if ch.tech == "Local" else self.model.clock.now() - monitor.started
            write_wav(monitor.path, seconds)

    def on_detach(self, ch: Channel) -> None:
        """A channel leaves: its media stops (a MixMonitor file is closed, complete)."""
        self.stop_playbacks_of(f"channel:{ch.id}")
        self.stop_recordings_of(f"channel:{ch.id}")
        self._close_mixmonitor(ch)
