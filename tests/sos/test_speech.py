"""Per-incident speech is made outside the product's process, a few at a time, never waited on."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import wave
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from ari_apps.sos.briefing import briefing_text
from ari_apps.sos.speech import NICENESS, SpeakerPool, SpeechQueue, SpeechRefused
from tests.sos.conftest import SlowSpeaker


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng or sox not installed")
async def test_speech_is_made_by_worker_processes_below_the_calls_priority(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = shutil.which("espeak-ng")
    programs = tmp_path / "bin"
    programs.mkdir()
    spy = programs / "espeak-ng"  # notes who runs it, then is espeak-ng
    spy.write_text('#!/bin/sh\n'
                   'echo "$$ $PPID $(cut -d" " -f4 /proc/$PPID/stat) $(nice)" > "$SPEAKER_RECORD"\n'
                   f'exec {real} "$@"\n')
    spy.chmod(0o755)
    record = tmp_path / "speaker"
    monkeypatch.setenv("PATH", f"{programs}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SPEAKER_RECORD", str(record))

    speaker = SpeakerPool(1)
    try:
        wav = await speaker(briefing_text(None, "13900001111"))
        again = await speaker(briefing_text(None, "13900002222"))
    finally:
        await speaker.close()

    pid, parent, grandparent, niceness = (int(field) for field in record.read_text().split())
    # espeak-ng ran in a worker process of ours, not in this process nor one of its threads.
    assert pid != os.getpid() and parent != os.getpid() and grandparent == os.getpid()
    assert niceness == min(19, os.nice(0) + NICENESS)  # the calls come first
    assert again != wav
    with wave.open(io.BytesIO(wav)) as audio:
        assert (audio.getframerate(), audio.getnchannels(), audio.getsampwidth()) == (8000, 1, 2)
        assert audio.getnframes() > 8000 * 3


async def test_at_most_n_speeches_are_made_at_once_the_others_wait_in_order() -> None:
    speaker = SlowSpeaker()
    queue = SpeechQueue(speaker, at_once=2)
    jobs = [asyncio.ensure_future(queue.say(f"text {n}")) for n in range(7)]
    await speaker.wait_started(2)
    assert speaker.running == 2 and queue.waiting == 5

    speaker.release.set()
    made = await asyncio.wait_for(asyncio.gather(*jobs), 5)
    assert all(wav.startswith(b"RIFF") for wav in made)
    assert speaker.most == 2 and queue.most == 2
    assert speaker.said == [f"text {n}" for n in range(7)]  # first asked, first made
    assert queue.running == 0 and queue.waiting == 0


async def test_a_full_queue_refuses_a_new_speech_and_makes_room_from_late_ones_first() -> None:
    speaker = SlowSpeaker()
    queue = SpeechQueue(speaker, at_once=1, limit=2)
    late = {"brief": False}
    running = asyncio.ensure_future(queue.say("running"))
    await speaker.wait_started(1)
    behind = [asyncio.ensure_future(queue.say("brief", late=lambda: late["brief"])),
              asyncio.ensure_future(queue.say("confirm"))]
    await asyncio.sleep(0)  # one turn of the loop: both ask
    assert queue.waiting == 2
    with pytest.raises(SpeechRefused):  # full, and nobody waiting is late
        await queue.say("one too many")
    assert queue.refused == 1

    late["brief"] = True  # its 120 answered and heard the generic briefing
    newcomer = asyncio.ensure_future(queue.say("newcomer"))
    with pytest.raises(SpeechRefused):
        await asyncio.wait_for(behind[0], 5)
    speaker.release.set()
    await asyncio.wait_for(asyncio.gather(running, behind[1], newcomer), 5)
    assert speaker.said == ["running", "confirm", "newcomer"] and queue.dropped == 1


async def test_a_late_speech_is_made_if_nothing_else_waits_and_dropped_if_others_do() -> None:
    speaker = SlowSpeaker()
    queue = SpeechQueue(speaker, at_once=1)
    running = asyncio.ensure_future(queue.say("running"))
    await speaker.wait_started(1)
    alone = asyncio.ensure_future(queue.say("late but alone", late=lambda: True))
    await asyncio.sleep(0)  # one turn of the loop: it asks
    assert queue.waiting == 1
    speaker.release.set()
    await asyncio.wait_for(asyncio.gather(running, alone), 5)  # a repeat key may still use it
    assert speaker.said == ["running", "late but alone"]

    speaker.release.clear()
    running = asyncio.ensure_future(queue.say("running again"))
    await speaker.wait_started(3)
    late = asyncio.ensure_future(queue.say("late", late=lambda: True))
    wanted = asyncio.ensure_future(queue.say("wanted"))
    await asyncio.sleep(0)
    assert queue.waiting == 2
    speaker.release.set()
    with pytest.raises(SpeechRefused):
        await asyncio.wait_for(late, 5)
    await asyncio.wait_for(asyncio.gather(running, wanted), 5)
    assert speaker.said[2:] == ["running again", "wanted"] and queue.dropped == 1


async def test_an_ended_incidents_waiting_speech_leaves_the_queue_and_frees_nothing_twice(
) -> None:
    speaker = SlowSpeaker()
    queue = SpeechQueue(speaker, at_once=1)
    running = asyncio.ensure_future(queue.say("running"))
    await speaker.wait_started(1)
    ended = asyncio.ensure_future(queue.say("of an ended incident"))
    after = asyncio.ensure_future(queue.say("after"))
    await asyncio.sleep(0)
    assert queue.waiting == 2
    ended.cancel()
    await asyncio.gather(ended, return_exceptions=True)
    assert queue.waiting == 1
    running.cancel()  # an incident ending while its speech is made: the next one goes
    await asyncio.gather(running, return_exceptions=True)
    await speaker.wait_started(2)
    assert speaker.said == ["running", "after"] and queue.running == 1
    speaker.release.set()
    await asyncio.wait_for(after, 5)
    assert queue.running == 0 and queue.most == 1


@pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                    reason="espeak-ng or sox not installed")
async def test_a_dead_speech_worker_fails_one_speech_and_the_next_gets_a_fresh_one() -> None:
    speaker = SpeakerPool(1)
    try:
        await speaker(briefing_text(None, "13900001111"))  # the worker is up
        assert speaker._pool is not None
        for pid in list(speaker._pool._processes):  # killed from outside, as the OOM killer would
            os.kill(pid, signal.SIGKILL)
        with pytest.raises(BrokenProcessPool):
            await speaker(briefing_text(None, "13900002222"))
        wav = await speaker(briefing_text(None, "13900003333"))
        assert wav.startswith(b"RIFF")
    finally:
        await speaker.close()
