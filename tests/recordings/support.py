"""Real WAV files (a tone where somebody talks, silence between) and call rows for the tests."""

from __future__ import annotations

import math
import struct
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.calls.models import Call, CallDirection, CallKind

RATE = 8000


@dataclass
class Recorded:
    """The console tests' two recorded calls: serials and their audio."""

    c1: str  # community C1: elder 张秀英, agent_c1
    d2: str  # district D2: elder 张桂兰, agent_d2
    audio_c1: bytes
    audio_d2: bytes


def wav_bytes(seconds: float = 3.0, talk: tuple[tuple[float, float], ...] = ((0.5, 1.5),),
              *, rate: int = RATE, tone: float = 440.0) -> bytes:
    """A 16-bit mono PCM WAV file: a tone during ``talk`` (start, end seconds), else silence."""
    frames = bytearray()
    for i in range(int(seconds * rate)):
        t = i / rate
        loud = any(start <= t < end for start, end in talk)
        value = int(9000 * math.sin(2 * math.pi * tone * t)) if loud else 0
        frames += struct.pack("<h", value)
    path_free = _Buffer()
    with wave.open(path_free, "wb") as out:  # type: ignore[arg-type]
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    return path_free.getvalue()


class _Buffer:
    """A seekable in-memory file ``wave`` can write a header into."""

    def __init__(self) -> None:
        import io

        self._io = io.BytesIO()

    def __getattr__(self, name: str) -> object:
        return getattr(self._io, name)


def write_wav(path: Path, seconds: float = 3.0,
              talk: tuple[tuple[float, float], ...] = ((0.5, 1.5),), **kw: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(seconds, talk, **kw))  # type: ignore[arg-type]
    return path


async def make_call(session: AsyncSession, call_id: str, started_at: datetime, *,
                    agent: str | None = None, elder_id: int | None = None,
                    caller: str = "13800138001", recording_name: str | None = None,
                    incident_id: str | None = None, ended_at: datetime | None = None,
                    kind: CallKind = CallKind.HOTLINE) -> Call:
    call = Call(id=call_id, kind=kind.value, direction=CallDirection.INBOUND.value,
                caller_number=caller, caller_tail=caller[::-1], called_number="12349",
                elder_id=elder_id, agent=agent, started_at=started_at,
                ended_at=ended_at or started_at, recording_name=recording_name,
                incident_id=incident_id, queue="hotline")
    session.add(call)
    await session.flush()
    return call
