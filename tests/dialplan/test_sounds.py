"""The spoken zh-CN prompts: one per use, Asterisk's WAV format, all or nothing."""

from __future__ import annotations

import array
import io
import math
import shutil
import wave
from pathlib import Path

import pytest

from callcenter.alarm_types import ALARM_KINDS
from callcenter.settings import load_settings
from dialplan.sounds import PROMPTS, SoundsError, render_sounds, resample


def test_there_is_a_prompt_for_every_sound_the_product_plays() -> None:
    settings = load_settings()
    expected = {settings.sos_prompt_sound, settings.sos_announce_sound,
                settings.sos_confirm_sound, settings.care_fallback_sound} | {
        f"{settings.alarm_sound_prefix}{kind}" for kind in ALARM_KINDS
    }
    assert {f"sound:callcenter/{name}" for name in PROMPTS} == expected


def _tone(hertz: float, rate: int = 22050) -> bytes:
    """One second of a sine tone as espeak-ng's kind of WAV (16-bit mono)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(rate)
        audio.writeframes(array.array(
            "h", (int(8000 * math.sin(2 * math.pi * hertz * n / rate)) for n in range(rate))
        ).tobytes())
    return buffer.getvalue()


def _samples(wav: bytes) -> array.array[int]:
    with wave.open(io.BytesIO(wav)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        return array.array("h", audio.readframes(audio.getnframes()))


def _level(samples: array.array[int], hertz: float) -> float:
    """The amplitude of one frequency in 8 kHz samples (a single-bin Fourier transform)."""
    step = 2 * math.pi * hertz / 8000
    real = sum(s * math.cos(step * n) for n, s in enumerate(samples))
    imaginary = sum(s * math.sin(step * n) for n, s in enumerate(samples))
    return 2 * math.hypot(real, imaginary) / len(samples)


needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")


@needs_sox
def test_resampling_keeps_the_pitch() -> None:
    out = _samples(resample(_tone(440)))
    assert abs(len(out) - 8000) <= 8
    crossings = sum(1 for a, b in zip(out, out[1:], strict=False) if (a < 0) != (b < 0))
    assert 870 <= crossings <= 890  # 440 Hz: two zero crossings a period
    assert _level(out, 440) > 7000  # and its loudness


@needs_sox
def test_resampling_filters_what_the_telephone_band_cannot_carry() -> None:
    # 6 kHz is above 8 kHz audio's 4 kHz limit: decimated without a low-pass it would fold
    # back to 2 kHz (8000 - 6000), a whistle over the speech; it must be gone instead.
    out = _samples(resample(_tone(6000)))
    assert _level(out, 2000) < 8000 / 100  # folded back: at least 40 dB down
    assert math.sqrt(sum(s * s for s in out) / len(out)) < 8000 / 100  # and nothing else left
    # Speech's own band passes: 3 kHz keeps its level.
    assert _level(_samples(resample(_tone(3000))), 3000) > 7000


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng or sox not installed")
def test_prompts_are_spoken_as_8khz_mono_wav(tmp_path: Path) -> None:
    written = render_sounds(tmp_path)
    assert sorted(p.name for p in written) == sorted(f"{name}.wav" for name in PROMPTS)
    for path in written:
        assert path.parent == tmp_path / "callcenter"
        with wave.open(str(path)) as audio:
            assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (
                8000, 1, 2)
            seconds = audio.getnframes() / audio.getframerate()
            samples = array.array("h", audio.readframes(audio.getnframes()))
        assert 3 < seconds < 30, (path.name, seconds)
        rms = math.sqrt(sum(s * s for s in samples) / len(samples))
        assert rms > 500, f"{path.name} is silent"


def test_without_espeak_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(SoundsError, match="espeak-ng is not installed"):
        render_sounds(tmp_path / "sounds")
    assert not (tmp_path / "sounds").exists()
