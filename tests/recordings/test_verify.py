"""Integrity: ``verify`` finds a corrupted and a missing file (plain and sealed at rest); the
CLI reports them and exits 1; a sealed recording reads back as its plain audio."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.cli import main
from callcenter.settings import Settings
from recordings.capture import CaptureRequest
from recordings.models import Recording, RecordingSource
from recordings.services import Recordings
from recordings.store import CHUNK, RecordingStore, derive_key
from recordings.verify import verify
from tests.recordings.support import make_call, wav_bytes, write_wav

STARTED = datetime(2025, 3, 1, 2, tzinfo=UTC)


async def _two(recordings: Recordings) -> tuple[Recording, Recording]:
    spool = recordings.settings.recordings_spool
    assert spool is not None
    rows = []
    for name, tone in (("a", 300.0), ("b", 600.0)):
        async with recordings.sessions.begin() as session:
            await make_call(session, name, STARTED)
        write_wav(spool / f"{name}.wav", 2.0, tone=tone)
        rows.append(await recordings.capture.take(
            CaptureRequest(f"{name}.wav", RecordingSource.SPOOL, call_id=name)))
    return rows[0], rows[1]


def _flip_a_byte(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("encrypt", [False, True], ids=["plain", "sealed"])
async def test_verify_finds_a_corruption_and_a_missing_file(
    build: Callable[..., Recordings], encrypt: bool,
) -> None:
    recordings = build(settings={"recordings_encrypt": encrypt})
    good, bad = await _two(recordings)
    assert good.encrypted is encrypt
    report = await verify(recordings.sessions, recordings.store)
    assert report.ok and report.checked == 2

    _flip_a_byte(recordings.store.path_of(str(bad.sha256)), 200)
    report = await verify(recordings.sessions, recordings.store)
    assert report.corrupted == [bad.serial] and report.missing == []
    recordings.store.path_of(str(good.sha256)).unlink()
    report = await verify(recordings.sessions, recordings.store)
    assert report.missing == [good.serial] and report.corrupted == [bad.serial]
    async with recordings.sessions() as session:
        found = dict((await session.execute(select(Recording.serial, Recording.problem))).all())
    assert found == {good.serial: "vanished", bad.serial: "checksum-mismatch"}


def test_sealed_audio_reads_back_by_range_across_chunks(tmp_path: Path) -> None:
    store = RecordingStore(tmp_path, derive_key(b"k" * 32))
    store.create()
    data = wav_bytes(10.0)  # 160 KB: three chunks
    import io

    stored = store.put(io.BytesIO(data))
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.encrypted
    raw = store.path_of(stored.sha256).read_bytes()
    assert data[:4096] not in raw  # not readable at rest
    assert store.plain_size(stored.sha256, True) == len(data)
    start, end = CHUNK - 10, 2 * CHUNK + 5
    assert b"".join(store.read_range(stored.sha256, True, start, end)) == data[start:end + 1]
    assert store.rehash(stored.sha256, True) == stored.sha256


def test_the_cli_reports_corruption_and_exits_1(
    rsettings: Settings, monkeypatch: pytest.MonkeyPatch, database_url: str,
) -> None:
    for key, value in {"DATABASE_URL": rsettings.database_url,
                       "DATA_DIR": str(rsettings.data_dir),
                       "RECORDINGS_DIR": str(rsettings.recordings_dir),
                       "RECORDINGS_SPOOL": str(rsettings.recordings_spool)}.items():
        monkeypatch.setenv(f"CALLCENTER_{key}", value)
    import asyncio

    from callcenter.store.cli import open_store

    async def seed() -> Recording:
        async with open_store(rsettings) as sessions:
            _, bad = await _two(Recordings.build(rsettings, sessions))
            return bad

    bad = asyncio.run(seed())
    runner = CliRunner()
    ok = runner.invoke(main, ["recordings", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "2 recording(s) checked" in ok.output
    assert rsettings.recordings_dir is not None
    path = rsettings.recordings_dir / "objects" / str(bad.sha256)[:2] / str(bad.sha256)
    os.chmod(path, 0o644)
    _flip_a_byte(path, 100)
    broken = runner.invoke(main, ["recordings", "verify"])
    assert broken.exit_code == 1
    assert f"corrupted: {bad.serial}" in broken.output

    dry = runner.invoke(main, ["retention", "sweep", "--dry-run", "--as-of", "2025-07-01"])
    assert dry.exit_code == 0, dry.output
    assert "recordings would be removed: 2" in dry.output  # the corrupt one expires too
    assert "dry run: nothing changed" in dry.output
    later = runner.invoke(main, ["retention", "sweep", "--as-of", "2099-01-01"])
    assert later.exit_code != 0 and "--dry-run" in later.output
