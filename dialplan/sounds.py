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

import io
import shutil
import subprocess
import wave
from pathlib import Path

from callcenter.alarm_types import ALARM_TYPES
from dialplan.exceptions import DialplanError

ASTERISK_RATE = 8000
VOICE = "cmn"
WORDS_PER_MINUTE = 190
#: The longest one prompt's speaking may take.
SPEAK_TIMEOUT = 30.0

_HOTLINE = "这里是一二三四九养老服务热线。"
PROMPTS: dict[str, str] = {
    # Calm and short: it repeats until somebody joins the elder.
    "sos-help-coming": "您好，已收到您的求助，正在为您联系急救和家人。请不要挂机，我们陪着您。",
    # Whispered to 120 when its per-incident briefing cannot be spoken or played.
    "sos-announce": "一二三四九紧急呼叫：您关心的老人按下了一键呼救，马上为您接通。",
    # Kin, doctor, social worker, when the prompt naming the elder cannot be spoken.
    "sos-confirm": "一二三四九紧急呼叫：您关心的老人按下了一键呼救，请按1加入通话。",
    # A care call whose own greeting cannot be spoken (CARE_FALLBACK_SOUND): still a
    # question the elder can answer with 1 or 2.
    "care-greeting": _HOTLINE + "我们打电话来问候您。如果您一切都好，请按1。如果您想找人说说话，请按2。",
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


def _programs() -> tuple[str, str]:
    """espeak-ng and sox, or a clear error naming what to install."""
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    missing = [f"{name} is not installed (Debian: apt-get install {name})"
               for name, path in (("espeak-ng", espeak), ("sox", sox)) if path is None]
    if espeak is None or sox is None:
        raise SoundsError(missing)
    return espeak, sox


def _resampler(sox: str) -> list[str]:
    """sox from a WAV on its input to raw 8 kHz 16-bit mono, little-endian, on its output.

    sox's ``rate`` effect low-passes before it decimates (a linear-phase filter, pass band
    to about 95 % of 4 kHz): speech keeps its telephone band and nothing above folds back
    into it. ``-G`` leaves the headroom the filter's ripple needs (no clipped peaks).
    """
    return [sox, "-q", "-G", "-t", "wav", "-", "-t", "raw", "-e", "signed-integer", "-b", "16",
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


def _pipeline(first: list[str], then: list[str]) -> bytes:
    """``first | then`` as a shell runs it (the audio goes through the kernel's pipe, not
    through Python); ``then``'s output. Both are killed if it takes longer than
    ``SPEAK_TIMEOUT``."""
    with subprocess.Popen(first, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as source, \
            subprocess.Popen(then, stdin=source.stdout, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) as sink:
        assert source.stdout is not None
        source.stdout.close()  # sink holds its own copy: first sees a closed pipe if sink dies
        try:
            output, errors = sink.communicate(timeout=SPEAK_TIMEOUT)
            source.wait(timeout=SPEAK_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as err:
            source.kill()
            sink.kill()
            raise SoundsError([f"speaking failed: {err}"]) from err
        assert source.stderr is not None
        problems = [f"{Path(command[0]).name} failed (exit {code}): {text.strip()[:200]}"
                    for command, code, text in (
                        (first, source.returncode, source.stderr.read().decode(errors="replace")),
                        (then, sink.returncode, errors.decode(errors="replace"))) if code]
    if problems:
        raise SoundsError(problems)
    return output


def speak(text: str, *, words_per_minute: int = WORDS_PER_MINUTE) -> bytes:
    """The WAV bytes of ``text`` spoken in Mandarin, 8 kHz 16-bit mono: the product's one
    way of speaking (the prompt files here, an SOS's per-incident speech in worker
    processes, ``ari_apps/sos/speech.py``).

    espeak-ng speaks (22 050 Hz) straight into sox, which resamples it for Asterisk.
    """
    espeak, sox = _programs()
    return _wav(_pipeline(
        [espeak, "-v", VOICE, "-s", str(words_per_minute), "--stdout", text], _resampler(sox)))


def resample(wav: bytes) -> bytes:
    """A WAV file (any rate) as Asterisk's 8 kHz 16-bit mono WAV, by ``speak``'s resampler."""
    _, sox = _programs()
    try:
        done = subprocess.run(_resampler(sox), input=wav, capture_output=True, check=True,
                              timeout=SPEAK_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as err:
        raise SoundsError([f"sox failed: {err}"]) from err
    return _wav(done.stdout)


def render_sounds(out_dir: Path) -> list[Path]:
    """Write every prompt as ``<out_dir>/callcenter/<name>.wav``; all or nothing."""
    _programs()  # both programs there, or nothing is tried
    spoken = {name: speak(text) for name, text in PROMPTS.items()}
    folder = out_dir / "callcenter"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in spoken.items():
        path = folder / f"{name}.wav"
        path.write_bytes(data)
        written.append(path)
    return written
