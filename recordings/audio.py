"""What a WAV file holds: checked before it is taken (empty, truncated, not WAV) and its shape.

Asterisk writes the RIFF and data sizes when it closes a recording, so a file that is cut
short (copied while written, a crash, a full disk) says more than it holds: that is how a
truncated file is told from a complete one. The shape (peaks for a waveform, talk segments
by level) is read in windows, so memory stays flat whatever the length.
"""

from __future__ import annotations

import struct
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from recordings.exceptions import InvalidAudio

#: Windows of this many milliseconds make the talk segments; peaks are this many values.
WINDOW_MS = 100
PEAKS = 240
#: A window louder than this (of 32767) counts as talk; gaps shorter than this join segments.
TALK_LEVEL = 600
JOIN_GAP_MS = 400


@dataclass
class AudioInfo:
    """A checked WAV file: its format, duration and shape."""

    sample_rate: int
    channels: int
    duration_ms: int
    data_offset: int
    data_size: int
    peaks: list[int] = field(default_factory=list)
    segments: list[list[int]] = field(default_factory=list)

    def shape(self) -> dict[str, object]:
        return {"peaks": self.peaks, "segments": self.segments}


def _chunks(fh: BinaryIO, size: int) -> tuple[int, int, int, int]:
    """(format tag, channels, rate, bits), then leaves ``fh`` at the data chunk's start."""
    fmt: tuple[int, int, int, int] | None = None
    position = 12
    while True:
        header = fh.read(8)
        if len(header) < 8:
            raise InvalidAudio("the file ends before its audio data", {"problem": "truncated"})
        chunk_id, chunk_size = struct.unpack("<4sI", header)
        position += 8
        if chunk_id == b"fmt ":
            body = fh.read(chunk_size)
            if len(body) < 16:
                raise InvalidAudio("the WAV format chunk is cut short", {"problem": "truncated"})
            tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", body[:16])
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise InvalidAudio("audio data before its format", {"problem": "not-wav"})
            return fmt
        else:
            fh.seek(chunk_size + (chunk_size & 1), 1)
        position += chunk_size + (chunk_size & 1)
        if position > size:
            raise InvalidAudio("a chunk runs past the end of the file", {"problem": "truncated"})


def inspect(path: Path) -> AudioInfo:
    """Check a WAV file (16-bit PCM) and read its shape; :class:`InvalidAudio` says what is wrong."""
    with path.open("rb") as fh:
        return inspect_stream(fh, path.stat().st_size)


def inspect_stream(fh: BinaryIO, size: int) -> AudioInfo:
    """:func:`inspect` on an open file of ``size`` bytes (read from its start)."""
    if size == 0:
        raise InvalidAudio("the recording is empty", {"problem": "empty"})
    head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise InvalidAudio("not a WAV file", {"problem": "not-wav"})
    riff_size = struct.unpack("<I", head[4:8])[0]
    if riff_size + 8 > size:
        raise InvalidAudio(f"cut short: the header says {riff_size + 8} bytes, the file has "
                           f"{size}", {"problem": "truncated"})
    tag, channels, rate, bits = _chunks(fh, size)
    fh.seek(-4, 1)
    data_size = struct.unpack("<I", fh.read(4))[0]
    data_offset = fh.tell()
    if data_offset + data_size > size:
        raise InvalidAudio(f"cut short: {data_size} bytes of audio announced, "
                           f"{size - data_offset} present", {"problem": "truncated"})
    if tag not in (1, 0xFFFE) or bits != 16 or channels not in (1, 2) or rate <= 0:
        raise InvalidAudio("only 16-bit PCM WAV is taken", {"problem": "not-wav"})
    frame = 2 * channels
    frames = data_size // frame
    info = AudioInfo(rate, channels, frames * 1000 // rate, data_offset, data_size)
    _read_shape(fh, info, frames)
    return info


def _read_shape(fh: BinaryIO, info: AudioInfo, frames: int) -> None:
    window = max(1, info.sample_rate * WINDOW_MS // 1000) * info.channels
    windows = max(1, -(-frames * info.channels // window))
    per_peak = max(1, -(-windows // PEAKS))
    peaks: list[int] = []
    bucket = 0
    segments: list[list[int]] = []
    left = info.data_size - info.data_size % (2 * info.channels)
    index = 0
    while left > 0:
        raw = fh.read(min(left, window * 2))
        if not raw:
            break
        left -= len(raw)
        samples = array("h")
        samples.frombytes(raw[: len(raw) - len(raw) % 2])
        level = max(max(samples, default=0), -min(samples, default=0)) if samples else 0
        bucket = max(bucket, level)
        if (index + 1) % per_peak == 0:
            peaks.append(min(255, bucket * 255 // 32767))
            bucket = 0
        if level >= TALK_LEVEL:
            start = index * WINDOW_MS
            if segments and start - segments[-1][1] <= JOIN_GAP_MS:
                segments[-1][1] = start + WINDOW_MS
            else:
                segments.append([start, start + WINDOW_MS])
        index += 1
    if index % per_peak:
        peaks.append(min(255, bucket * 255 // 32767))
    for segment in segments:
        segment[1] = min(segment[1], info.duration_ms)
    info.peaks = peaks
    info.segments = segments
