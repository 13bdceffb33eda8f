"""A care call is recorded over ARI (a snoop on the elder's channel), announced when it is
over, and taken into the recordings store linked to its call row."""

from __future__ import annotations

import hashlib
from pathlib import Path

from callcenter.settings import Settings
from recordings.capture import CaptureRequest
from recordings.services import Recordings
from tests.care.conftest import ELDER_PHONE, CareHarness


def _recordings(care: CareHarness, settings: Settings, tmp_path: Path) -> Recordings:
    return Recordings.build(settings.model_copy(update={"recordings_dir": tmp_path / "store"}),
                            care.sessions, ari=lambda node: care.client)


async def test_an_answered_care_call_is_recorded_captured_and_linked_to_its_call_row(
    care: CareHarness, settings: Settings, tmp_path: Path,
) -> None:
    care.person(ELDER_PHONE, ring=5, dtmf="1", dtmf_after=6)
    task = await care.call_now()
    call_id = f"care-{task}-1"
    await care.until(lambda: care.done(task))

    [ready] = [m for m in care.published if m.topic == "recording.ready"]
    assert ready.payload == {"name": call_id, "node": "default", "call_id": call_id}
    assert ready.audience == {"browsers": False}  # never on a console's socket
    file = care.sim.media.find_stored(call_id)
    assert file is not None, "Asterisk (the simulator) wrote the snoop's recording"
    audio = file.read_bytes()
    [call] = await care.calls_of(task)
    assert call.recording_name == call_id

    recordings = _recordings(care, settings, tmp_path)
    row = await recordings.capture.take(CaptureRequest.from_event(dict(ready.payload)))
    assert (row.state, row.problem, row.call_id) == ("stored", None, call_id)
    assert row.sha256 == hashlib.sha256(audio).hexdigest()
    assert recordings.store.rehash(row.sha256, row.encrypted) == row.sha256
    assert row.elder_id == care.elders.wang[1]
    # From the answer to the hang-up after the thanks: several seconds of the call.
    assert row.duration_ms >= 6000
    assert care.sim.media.find_stored(call_id) is None, "taken: removed from Asterisk"


async def test_an_unanswered_care_call_announces_no_recording(care: CareHarness) -> None:
    care.person(ELDER_PHONE, behaviour="busy")
    task = await care.call_now()
    await care.until(lambda: _attempted(care, task))
    assert not [m for m in care.published if m.topic == "recording.ready"]


async def _attempted(care: CareHarness, task: str) -> bool:
    return (await care.task(task)).attempts >= 1 and bool(care.app.calls.settled)
