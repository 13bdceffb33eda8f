"""Capture from both sources (ARI stored recordings over the simulator's HTTP, the MixMonitor
spool), checksummed, serial-numbered and linked; problems flagged on the call, never lost."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import pytest
from sqlalchemy import select

from callcenter.asterisk import AriClient
from callcenter.crypto import FieldCipher
from callcenter.pbxsim.server import PbxSimulator
from callcenter.store.engine import SessionFactory
from recordings.capture import CaptureRequest
from recordings.exceptions import RecordingNotComplete, StoreFull
from recordings.models import HoldKind, Recording, RecordingHold, RecordingSource
from recordings.services import Recordings
from recordings.store import RecordingStore
from tests.factories import make_area, make_elder
from tests.recordings.conftest import Clock
from tests.recordings.support import make_call, wav_bytes, write_wav

STARTED = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None,
                            recordings_dir=tmp_path / "asterisk-recordings") as started:
        yield started


@pytest.fixture
async def ari(sim: PbxSimulator) -> AsyncIterator[AriClient]:
    client = AriClient(sim.ari_url, "callcenter", "callcenter", "callcenter")
    yield client
    await client.close()


async def _rows(sessions: SessionFactory) -> list[Recording]:
    async with sessions() as session:
        return list((await session.execute(select(Recording).order_by(Recording.id))).scalars())


async def test_a_spool_file_is_taken_once_complete_linked_and_checksummed(
    recordings: Recordings, sessions: SessionFactory, cipher: FieldCipher,
) -> None:
    async with sessions.begin() as session:
        district = await make_area(session, "D1", "南开区")
        elder = await make_elder(session, cipher, district, "张秀英", phones=["13800138001"])
        await make_call(session, "1795295642.163", STARTED, agent="agent1", elder_id=elder.id,
                        recording_name="1795295642.163")
    assert recordings.settings.recordings_spool is not None
    audio = write_wav(recordings.settings.recordings_spool / "1795295642.163.wav", 3.0,
                      ((0.5, 1.5), (2.0, 2.6)))
    expected = hashlib.sha256(audio.read_bytes()).hexdigest()

    row = await recordings.capture.take(CaptureRequest("1795295642.163.wav",
                                                       RecordingSource.SPOOL,
                                                       call_id="1795295642.163"))

    assert row.state == "stored" and row.problem is None
    assert row.sha256 == expected and recordings.store.exists(expected)
    assert row.call_id == "1795295642.163" and row.agent == "agent1"
    assert row.elder_id == elder.id and row.area_path == district.path
    assert row.serial.startswith("R20250301-") and len(row.serial) == 20
    assert row.duration_ms == 3000 and row.sample_rate == 8000
    assert row.shape["segments"] == [[500, 1500], [2000, 2600]]
    assert len(row.shape["peaks"]) > 20 and max(row.shape["peaks"]) > 50
    assert not audio.exists()  # the hand-over copy went once the store had it
    # A repeat of the event (AMI and the bus both tell) finds the same row.
    again = await recordings.capture.take(CaptureRequest("1795295642.163.wav",
                                                         RecordingSource.SPOOL,
                                                         call_id="1795295642.163"))
    assert again.id == row.id and len(await _rows(recordings.sessions)) == 1


async def test_an_ari_bridge_recording_is_fetched_over_http_and_the_incident_held(
    build: Callable[..., Recordings], sim: PbxSimulator, ari: AriClient,
    sessions: SessionFactory,
) -> None:
    recordings = build(ari=lambda node: ari if node == "default" else None)
    sim.media.stored_path("sos-abc123").parent.mkdir(parents=True, exist_ok=True)
    sim.media.stored_path("sos-abc123").write_bytes(wav_bytes(2.0, ((0.2, 1.0),)))
    async with sessions.begin() as session:
        await make_call(session, "sos-abc123-elder0", STARTED, incident_id="abc123",
                        recording_name="sos-abc123")

    payload = {"name": "sos-abc123", "node": "default", "incident": "abc123"}  # as SOS sends it
    row = await recordings.capture.take(CaptureRequest.from_event(payload))

    assert row.state == "stored" and row.source == "ari" and row.call_id == "sos-abc123-elder0"
    assert row.incident_id == "abc123" and row.duration_ms == 2000
    assert sim.media.find_stored("sos-abc123") is None  # removed from Asterisk once stored
    async with sessions() as session:
        hold = (await session.execute(select(RecordingHold))).scalar_one()
    assert hold.kind == HoldKind.INCIDENT and hold.incident_id == "abc123"
    # 24 calendar months from the incident's local date (1 March 2025), to the next midnight.
    assert hold.expires_at == datetime(2027, 3, 1, 16, 0, tzinfo=UTC)


async def test_a_recording_that_never_arrives_is_flagged_and_taken_when_it_comes(
    build: Callable[..., Recordings], sim: PbxSimulator, ari: AriClient,
    sessions: SessionFactory, rclock: Clock,
) -> None:
    recordings = build(ari=lambda node: ari)
    async with sessions.begin() as session:
        await make_call(session, "c-1", STARTED, recording_name="q-c-1")
    rclock.now = STARTED.replace(hour=3)
    counts = await recordings.reconcile_capture()
    assert counts == {"taken": 0, "never_arrived": 1}
    (row,) = await _rows(sessions)
    assert (row.state, row.problem, row.call_id) == ("missing", "never-arrived", "c-1")

    sim.media.stored_path("q-c-1").parent.mkdir(parents=True, exist_ok=True)
    sim.media.stored_path("q-c-1").write_bytes(wav_bytes(1.0))
    counts = await recordings.reconcile_capture()
    (row,) = await _rows(sessions)
    assert counts["taken"] == 1 and row.state == "stored" and row.problem is None


async def test_empty_and_truncated_files_are_flagged_not_silently_missing(
    recordings: Recordings, sessions: SessionFactory,
) -> None:
    spool = recordings.settings.recordings_spool
    assert spool is not None
    async with sessions.begin() as session:
        await make_call(session, "c-empty", STARTED)
        await make_call(session, "c-cut", STARTED)
    (spool / "c-empty.wav").write_bytes(b"")
    whole = wav_bytes(2.0)
    (spool / "c-cut.wav").write_bytes(whole[: len(whole) // 2])  # Asterisk said 2 s

    # Just written: MixMonitor may still be closing them, so neither is taken yet.
    for name in ("c-empty", "c-cut"):
        with pytest.raises(RecordingNotComplete):
            await recordings.capture.take(CaptureRequest(f"{name}.wav", RecordingSource.SPOOL,
                                                         call_id=name))
        assert (spool / f"{name}.wav").exists()
        settled = time.time() - 120  # two minutes later nothing has changed: that is all
        os.utime(spool / f"{name}.wav", (settled, settled))

    empty = await recordings.capture.take(CaptureRequest("c-empty.wav", RecordingSource.SPOOL,
                                                         call_id="c-empty"))
    cut = await recordings.capture.take(CaptureRequest("c-cut.wav", RecordingSource.SPOOL,
                                                       call_id="c-cut"))

    assert (empty.state, empty.problem) == ("missing", "empty")
    assert (cut.state, cut.problem) == ("stored", "truncated")  # what there is stays evidence
    assert cut.size == len(whole) // 2


async def test_a_recording_for_an_unknown_call_is_kept_flagged_and_unscoped(
    recordings: Recordings,
) -> None:
    spool = recordings.settings.recordings_spool
    assert spool is not None
    write_wav(spool / "nobody.wav", 1.0)
    row = await recordings.capture.take(CaptureRequest("nobody.wav", RecordingSource.SPOOL,
                                                       call_id="nobody"))
    assert (row.state, row.problem, row.area_path, row.agent) == (
        "stored", "unknown-call", None, None)


@pytest.mark.parametrize("name", ["../etc/passwd", "..", ".hidden", "a/b.wav", "x" * 200,
                                  "name with space.wav", "%2e%2e"])
def test_odd_names_in_an_event_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="bad name"):
        CaptureRequest.from_event({"name": name, "source": "spool"})


async def test_a_symlink_in_the_spool_is_not_followed(
    recordings: Recordings, tmp_path: Path,
) -> None:
    spool = recordings.settings.recordings_spool
    assert spool is not None
    secret = write_wav(tmp_path / "elsewhere.wav", 1.0)
    (spool / "link.wav").symlink_to(secret)
    row = await recordings.capture.take(CaptureRequest("link.wav", RecordingSource.SPOOL))
    assert (row.state, row.problem) == ("missing", "never-arrived")


def _mount_tiny_tmpfs(where: Path) -> bool:
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
                          capture_output=True, check=False)
    return done.returncode == 0


def _unmount(where: Path) -> None:
    subprocess.run(["umount", str(where)], check=False)


async def test_a_full_disk_during_capture_keeps_nothing_half_written_and_loses_nothing(
    build: Callable[..., Recordings], sessions: SessionFactory, tmp_path: Path,
) -> None:
    tiny = tmp_path / "tiny"
    mounted = _mount_tiny_tmpfs(tiny)
    try:
        if mounted:  # a real full disk: a 64 KiB tmpfs
            store = RecordingStore(tiny / "store")
        else:  # no mount allowed here: ENOSPC at the write boundary
            def full(fh: BinaryIO, data: bytes) -> None:
                raise OSError(errno.ENOSPC, "No space left on device")

            store = RecordingStore(tmp_path / "store", writer=full)
        recordings = build(store=store)
        spool = recordings.settings.recordings_spool
        assert spool is not None
        audio = write_wav(spool / "big.wav", 10.0)  # 160 KB: more than the disk holds

        with pytest.raises(StoreFull, match="no space left"):
            await recordings.capture.take(CaptureRequest("big.wav", RecordingSource.SPOOL))

        assert audio.exists()  # still in the spool for the next attempt
        assert list((store.root / "tmp").iterdir()) == []  # no half-written file
        assert not any((store.root / "objects").rglob("*")) or not [
            p for p in (store.root / "objects").rglob("*") if p.is_file()]
        assert await _rows(sessions) == []
    finally:
        if mounted:
            _unmount(tiny)


async def test_an_announced_recording_not_there_yet_is_taken_by_a_later_pass(
    build: Callable[..., Recordings], sim: PbxSimulator, ari: AriClient,
) -> None:
    recordings = build(ari=lambda node: ari)
    request = CaptureRequest.from_event({"name": "sos-late", "incident": "late1"})
    first = await recordings.capture.take(request)
    assert (first.state, first.problem, first.incident_id) == ("missing", "never-arrived", "late1")
    stored = sim.media.stored_path("sos-late")
    stored.parent.mkdir(parents=True, exist_ok=True)
    stored.write_bytes(wav_bytes(1.0))
    assert (await recordings.reconcile_capture())["taken"] == 1
    again = await recordings.capture.take(request)
    assert again.id == first.id and again.state == "stored" and again.problem == "unknown-call"
