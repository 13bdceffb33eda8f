"""The product's spoken prompts, synthesised in Mandarin for Asterisk.

An elder who pressed SOS hears a calm zh-CN prompt until somebody joins; responders hear
who is calling them; kin hear what an alarm is about. The prompts are spoken by
espeak-ng (Debian package ``espeak-ng``, voice ``cmn``) and written as 8 kHz, 16-bit,
mono WAV, the format Asterisk's ``wav`` files must have. Install them under Asterisk's
sounds directory so that ``sound:callcenter/<name>`` finds them (the defaults of
``CALLCENTER_SOS_PROMPT_SOUND``, ``…_ANNOUNCE_SOUND`` and ``…_ALARM_SOUND_PREFIX``).
"""

from __future__ import annotations

import array
import io
import itertools
import shutil
import subprocess
import sys
import wave
from pathlib import Path

from callcenter.alarm_types import ALARM_TYPES
from dialplan.exceptions import DialplanError

ASTERISK_RATE = 8000
VOICE = "cmn"
WORDS_PER_MINUTE = 190

_HOTLINE = "这里是一二三四九养老服务热线。"
PROMPTS: dict[str, str] = {
    # Calm and short: it repeats until somebody joins the elder.
    "sos-help-coming": "您好，已收到您的求助，正在为您联系急救和家人。请不要挂机，我们陪着您。",
    # Whispered to 120 when its per-incident briefing cannot be spoken or played.
    "sos-announce": "一二三四九紧急呼叫：您关心的老人按下了一键呼救，马上为您接通。",
    # Kin, doctor, social worker, when the prompt naming the elder cannot be spoken.
    "sos-confirm": "一二三四九紧急呼叫：您关心的老人按下了一键呼救，请按1加入通话。",
    **{
        f"alarm-{alarm.kind}": (
            _HOTLINE + f"您关心的老人触发了{alarm.spoken_zh}，请尽快联系老人或前往查看，详情请看短信。"
        )
        for alarm in ALARM_TYPES
    },
}


class SoundsError(DialplanError):
    """The prompts cannot be made; nothing was written."""

    error_id = "sounds-error"

    def __init__(self, problems: list[str]) -> None:
        super().__init__(problems, title="cannot make the spoken prompts")


def resample(samples: array.array[int], source_rate: int, target_rate: int) -> array.array[int]:
    """Resample 16-bit mono audio: average over each output sample's span (a box low-pass,
    enough for speech going down to the telephone band), then pick by position.

    Running sums make each output sample two look-ups: a spoken briefing is made per SOS,
    and its making must not hold the event loop's interpreter for long.
    """
    if source_rate == target_rate:
        return array.array("h", samples)
    step = source_rate / target_rate
    count = int(len(samples) / step)
    total = len(samples)
    sums = [0, *itertools.accumulate(samples)]
    bounds = [min(total, int(i * step)) for i in range(count + 1)]
    out = array.array("h", [
        (sums[end] - sums[start]) // (end - start) if end > start else samples[start]
        for start, end in zip(bounds, bounds[1:], strict=False)
    ])
    return out


def speak(text: str, *, espeak: str, words_per_minute: int = WORDS_PER_MINUTE) -> bytes:
    """The WAV bytes of ``text`` spoken in Mandarin, 8 kHz 16-bit mono."""
    try:
        spoken = subprocess.run(
            [espeak, "-v", VOICE, "-s", str(words_per_minute), "--stdout", text],
            check=True, capture_output=True, timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError) as err:
        raise SoundsError([f"espeak-ng failed: {err}"]) from err
    with wave.open(io.BytesIO(spoken)) as source:
        if source.getsampwidth() != 2 or source.getnchannels() != 1:
            raise SoundsError(["espeak-ng did not produce 16-bit mono audio"])
        samples = array.array("h", source.readframes(source.getnframes()))
        if sys.byteorder == "big":
            samples.byteswap()
        rate = source.getframerate()
    out = resample(samples, rate, ASTERISK_RATE)
    if sys.byteorder == "big":
        out.byteswap()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(ASTERISK_RATE)
        target.writeframes(out.tobytes())
    return buffer.getvalue()


def render_sounds(out_dir: Path) -> list[Path]:
    """Write every prompt as ``<out_dir>/callcenter/<name>.wav``; all or nothing."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise SoundsError(["espeak-ng is not installed (Debian: apt-get install espeak-ng)"])
    spoken = {name: speak(text, espeak=espeak) for name, text in PROMPTS.items()}
    folder = out_dir / "callcenter"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in spoken.items():
        path = folder / f"{name}.wav"
        path.write_bytes(data)
        written.append(path)
    return written
