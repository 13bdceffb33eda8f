"""The product's spoken prompts, synthesised in Mandarin for Asterisk.

An elder who pressed SOS hears a calm zh-CN prompt until somebody joins; responders hear
who is calling them; kin hear what an alarm is about. The prompts are spoken by
espeak-ng (Debian package ``espeak-ng``, voice ``cmn``), resampled by sox (Debian package
``sox``) and written as 8 kHz, 16-bit, mono WAV, the format Asterisk's ``wav`` files must
have. Install them under Asterisk's sounds directory so that ``sound:callcenter/<name>``
finds them (the defaults of ``CALLCENTER_SOS_PROMPT_SOUND``, ``…_ANNOUNCE_SOUND`` and
``…_ALARM_SOUND_PREFIX``). An SOS's per-incident speech (``ari_apps/sos/briefing.py``) is
made by the same ``speak``.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import wave
from pathlib import Path

from callcenter.alarm_types import ALARM_TYPES
from dialplan.exceptions import DialplanError

ASTERISK_RATE = 8000
VOICE = "cmn"
WORDS_PER_MINUTE = 190
#: Speech is made at a lower CPU priority than the product's calls (``nice -n``): on a busy
#: machine a prompt is late (the generic one stands in), a call never is.
NICENESS = 10

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


def _programs() -> tuple[str, str, list[str]]:
    """espeak-ng, sox, and the ``nice`` prefix that runs them below the calls' priority."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    missing = [f"{name} is not installed (Debian: apt-get install {name})"
               for name, path in (("espeak-ng", espeak), ("sox", sox)) if path is None]
    if espeak is None or sox is None:
        raise SoundsError(missing)
    nice = shutil.which("nice")
    return espeak, sox, [nice, "-n", str(NICENESS)] if nice else []


def _resampler(sox: str, source: list[str]) -> list[str]:
    """sox from a WAV (``source``: its type and file) to raw 8 kHz 16-bit mono, little-endian.

    sox's ``rate`` effect low-passes before it decimates (a linear-phase filter, pass band
    to about 95 % of 4 kHz): speech keeps its telephone band and nothing above folds back
    into it. ``-G`` leaves the headroom the filter's ripple needs (no clipped peaks).
    """
    return [sox, "-q", "-G", *source, "-t", "raw", "-e", "signed-integer", "-b", "16",
            "-c", "1", "-L", "-", "rate", str(ASTERISK_RATE)]


def _wav(raw: bytes) -> bytes:
    """Raw 8 kHz 16-bit little-endian mono samples as a WAV file."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(ASTERISK_RATE)
        target.writeframes(raw)
    return buffer.getvalue()


async def _pipeline(commands: list[list[str]], given: bytes | None = None) -> bytes:
    """Run ``commands`` as a shell pipeline would (each one's output the next one's input,
    through the kernel's pipes, never through this process) and return the last one's output.

    The processes are killed if the wait is cut short (a timeout, the incident ended).
    """
    processes: list[asyncio.subprocess.Process] = []
    source: int | None = asyncio.subprocess.PIPE if given is not None else asyncio.subprocess.DEVNULL
    try:
        for n, command in enumerate(commands):
            last = n == len(commands) - 1
            read_end, write_end = (None, None) if last else os.pipe()
            try:
                processes.append(await asyncio.create_subprocess_exec(
                    *command, stdin=source,
                    stdout=asyncio.subprocess.PIPE if last else write_end,
                    stderr=asyncio.subprocess.PIPE if last else asyncio.subprocess.DEVNULL))
            finally:
                if isinstance(source, int) and source >= 0:
                    os.close(source)  # the child holds its own copy
                if write_end is not None:
                    os.close(write_end)
            source = read_end
        if given is not None and processes[0].stdin is not None:
            processes[0].stdin.write(given)
            processes[0].stdin.close()
        output, errors = await processes[-1].communicate()
        codes = [await process.wait() for process in processes]
    except BaseException:
        for process in processes:
            if process.returncode is None:
                process.kill()
        await asyncio.shield(asyncio.gather(*(p.wait() for p in processes),
                                            return_exceptions=True))
        raise
    failed = [(Path(c[0]).name, code) for c, code in zip(commands, codes, strict=True) if code]
    if failed:
        detail = errors.decode(errors="replace").strip()[:200]
        raise SoundsError([f"{name} failed (exit {code}){': ' + detail if detail else ''}"
                           for name, code in failed])
    return output


async def speak(text: str, *, words_per_minute: int = WORDS_PER_MINUTE) -> bytes:
    """The WAV bytes of ``text`` spoken in Mandarin, 8 kHz 16-bit mono.

    espeak-ng speaks (22 050 Hz) straight into sox, which resamples it for Asterisk: two
    processes of their own, at a lower priority than the calls, so the making costs the
    event loop only the start of two processes and the reading of the result.
    """
    espeak, sox, nice = _programs()
    return _wav(await _pipeline([
        [*nice, espeak, "-v", VOICE, "-s", str(words_per_minute), "--stdout", text],
        [*nice, *_resampler(sox, ["-t", "wav", "-"])],
    ]))


async def resample(wav: bytes) -> bytes:
    """A WAV file (any rate) as Asterisk's 8 kHz 16-bit mono WAV, by ``speak``'s resampler."""
    _, sox, nice = _programs()
    return _wav(await _pipeline([[*nice, *_resampler(sox, ["-t", "wav", "-"])]], wav))


def render_sounds(out_dir: Path) -> list[Path]:
    """Write every prompt as ``<out_dir>/callcenter/<name>.wav``; all or nothing."""
    _programs()  # both programs there, or nothing is tried

    async def speak_all() -> list[bytes]:
        return list(await asyncio.gather(*(speak(text) for text in PROMPTS.values())))

    spoken = dict(zip(PROMPTS, asyncio.run(speak_all()), strict=True))
    folder = out_dir / "callcenter"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in spoken.items():
        path = folder / f"{name}.wav"
        path.write_bytes(data)
        written.append(path)
    return written
