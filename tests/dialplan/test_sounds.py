"""The spoken zh-CN prompts: one per use, Asterisk's WAV format, all or nothing."""

from __future__ import annotations

import array
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
                settings.sos_confirm_sound} | {
        f"{settings.alarm_sound_prefix}{kind}" for kind in ALARM_KINDS
    }
    assert {f"sound:callcenter/{name}" for name in PROMPTS} == expected


def test_resampling_keeps_the_pitch() -> None:
    source = array.array(
        "h", (int(8000 * math.sin(2 * math.pi * 440 * n / 22050)) for n in range(22050))
    )
    out = resample(source, 22050, 8000)
    assert len(out) == 8000
    crossings = sum(1 for a, b in zip(out, out[1:], strict=False) if (a < 0) != (b < 0))
    assert 870 <= crossings <= 890  # 440 Hz: two zero crossings a period


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
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
