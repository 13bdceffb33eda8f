"""The retention sweep on an injected clock: calendar boundaries (±1 day, month ends,
29 February), each hold type, a crash in the middle and its re-run, the store going away,
orphan and missing files, dry runs."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from callcenter.calls.models import Call
from callcenter.store.engine import SessionFactory
from recordings.capture import CaptureRequest
from recordings.exceptions import StoreUnavailable
from recordings.models import CallTombstone, HoldKind, Recording, RecordingSource
from recordings.services import Recordings
from recordings.store import RecordingStore
from tests.recordings.conftest import Clock
from tests.recordings.support import make_call, write_wav

SHANGHAI = ZoneInfo("Asia/Shanghai")
ROOT = Path(__file__).resolve().parents[2]
SWEEP_CHILD = Path(__file__).with_name("sweep_child.py")


def local(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=SHANGHAI).astimezone(UTC)


async def record(recordings: Recordings, call_id: str, started: datetime, *,
                 tone: float = 440.0, incident: str | None = None) -> Recording:
    """A call with a real WAV recording taken from the spool."""
    async with recordings.sessions.begin() as session:
        await make_call(session, call_id, started, agent="agent_c1", incident_id=incident)
    spool = recordings.settings.recordings_spool
    assert spool is not None
    write_wav(spool / f"{call_id}.wav", 1.0, ((0.1, 0.6),), tone=tone)
    return await recordings.capture.take(CaptureRequest(f"{call_id}.wav", RecordingSource.SPOOL,
                                                        call_id=call_id))


async def states(sessions: SessionFactory) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(select(Recording.call_id, Recording.state))
        return {str(call_id): state for call_id, state in rows}


def on(clock: Clock, day: date) -> date:
    clock.now = local(day, 12)
    return day


@pytest.mark.parametrize(("made", "kept_on", "gone_on"), [
    (date(2025, 7, 1), date(2025, 10, 1), date(2025, 10, 2)),  # not a fixed 90 days
    (date(2025, 11, 30), date(2026, 2, 28), date(2026, 3, 1)),  # month end
    (date(2024, 2, 29), date(2024, 5, 29), date(2024, 5, 30)),  # 29 February
    (date(2023, 11, 30), date(2024, 2, 29), date(2024, 3, 1)),  # into a leap February
])
async def test_audio_is_kept_three_calendar_months_to_the_day(
    recordings: Recordings, rclock: Clock, made: date, kept_on: date, gone_on: date,
) -> None:
    rclock.now = local(made)
    # Early in the local morning: the day before in UTC, still this local date.
    row = await record(recordings, "c1", local(made, 1))

    report = await recordings.sweeper.run(on(rclock, kept_on))
    assert report.audio_deleted == 0 and (await states(recordings.sessions))["c1"] == "stored"
    report = await recordings.sweeper.run(on(rclock, gone_on))
    assert report.audio_deleted == 1 and report.bytes_freed == row.size
    assert not recordings.store.exists(str(row.sha256))
    async with recordings.sessions() as session:
        gone = (await session.execute(select(Recording))).scalar_one()
    # The tombstone on the call's recording: when, why, under which policy.
    assert (gone.state, gone.delete_reason, gone.delete_policy) == (
        "deleted", "retention", "audio-3m")
    assert gone.deleted_at == rclock.now and gone.serial == row.serial


@pytest.mark.parametrize(("made", "kept_on", "gone_on"), [
    (date(2022, 3, 3), date(2025, 3, 3), date(2025, 3, 4)),
    (date(2024, 2, 29), date(2027, 2, 28), date(2027, 3, 1)),  # 29 February + 3 years
    (date(2022, 12, 31), date(2025, 12, 31), date(2026, 1, 1)),
])
async def test_call_records_are_kept_three_calendar_years_then_anonymised(
    recordings: Recordings, rclock: Clock, made: date, kept_on: date, gone_on: date,
) -> None:
    async with recordings.sessions.begin() as session:
        await make_call(session, "old", local(made, 0), agent="agent_c1", caller="13800138001")
    assert (await recordings.sweeper.run(on(rclock, kept_on))).records_anonymised == 0
    report = await recordings.sweeper.run(on(rclock, gone_on))
    assert report.records_anonymised == 1
    async with recordings.sessions() as session:
        call = await session.get(Call, "old")
        tomb = await session.get(CallTombstone, "old")
    assert call is not None and call.caller_number == "" and call.caller_tail == ""
    assert tomb is not None and tomb.action == "anonymised"
    assert tomb.policy == "records-3y-anonymise"
    # A second sweep leaves it be (one tombstone, nothing counted again).
    assert (await recordings.sweeper.run(gone_on)).records_anonymised == 0


async def test_purge_removes_the_row_and_keeps_a_tombstone(
    build: Callable[..., Recordings], rclock: Clock,
) -> None:
    recordings = build(settings={"retention_records_action": "purge"})
    async with recordings.sessions.begin() as session:
        await make_call(session, "old", local(date(2021, 1, 1)))
    report = await recordings.sweeper.run(on(rclock, date(2025, 1, 1)))
    assert report.records_purged == 1
    async with recordings.sessions() as session:
        assert await session.get(Call, "old") is None
        tomb = await session.get(CallTombstone, "old")
        assert tomb is not None and tomb.action == "purged"


async def test_each_hold_keeps_what_it_covers_until_it_ends(
    recordings: Recordings, rclock: Clock,
) -> None:
    made = date(2025, 1, 10)
    rclock.now = local(made)
    await record(recordings, "complained", local(made), tone=300)
    await record(recordings, "sos", local(made), tone=500, incident="inc1")  # held by itself
    legal = await record(recordings, "legal", local(made), tone=700)
    await record(recordings, "plain", local(made), tone=900)
    complaint_hold = await recordings.holds.place_hold(
        kind=HoldKind.COMPLAINT, placed_by="workflow", reason="投诉 C-7",
        call_id="complained", case_ref="C-7")
    await recordings.holds.place_hold(
        kind="legal", placed_by="auditor", reason="法院调取", recording_id=legal.id,
        case_ref="L-1", expires_at=local(date(2025, 6, 1), 0))

    report = await recordings.sweeper.run(on(rclock, date(2025, 5, 1)))
    assert report.audio_deleted == 1  # "plain" only
    assert report.audio_held == {"complaint": 1, "incident": 1, "legal": 1}
    assert {e["serial"] for e in report.held_examples} >= {legal.serial}
    assert (await states(recordings.sessions)) == {
        "complained": "stored", "sos": "stored", "legal": "stored", "plain": "deleted"}

    # The complaint closes; the legal hold expires; the incident's 24 months run on.
    await recordings.holds.release_hold(complaint_hold, released_by="workflow",
                                        reason="case closed")
    report = await recordings.sweeper.run(on(rclock, date(2025, 6, 2)))
    assert report.audio_deleted == 2 and report.audio_held == {"incident": 1}
    assert (await states(recordings.sessions))["sos"] == "stored"
    await recordings.sweeper.run(on(rclock, date(2027, 1, 11)))
    assert (await states(recordings.sessions))["sos"] == "deleted"


async def test_a_held_call_record_is_not_anonymised(recordings: Recordings, rclock: Clock) -> None:
    async with recordings.sessions.begin() as session:
        await make_call(session, "old", local(date(2020, 5, 1)))
    await recordings.holds.place_hold(kind="complaint", placed_by="workflow", reason="投诉",
                                      call_id="old", case_ref="C-1")
    report = await recordings.sweeper.run(on(rclock, date(2025, 5, 1)))
    assert (report.records_anonymised, report.records_held) == (0, 1)


class CrashingStore(RecordingStore):
    """The process dies (an exception out of the sweep) at the n-th file removal."""

    def __init__(self, *args: object, crash_at: int, action: Callable[[RecordingStore], None],
                 **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.calls = 0
        self.crash_at = crash_at
        self.action = action

    def delete(self, sha256: str) -> int:
        self.calls += 1
        if self.calls == self.crash_at:
            self.action(self)
        return super().delete(sha256)


def _crash(_store: RecordingStore) -> None:
    raise RuntimeError("killed mid-sweep")


async def _five_expired(recordings: Recordings, rclock: Clock) -> list[Recording]:
    made = date(2025, 1, 10)
    rclock.now = local(made)
    return [await record(recordings, f"c{i}", local(made), tone=200 + 100 * i) for i in range(5)]


async def test_a_crash_mid_sweep_leaves_marked_rows_that_the_rerun_finishes(
    build: Callable[..., Recordings], rclock: Clock,
) -> None:
    plain = build()
    rows = await _five_expired(plain, rclock)
    crashing = CrashingStore(plain.store.root, crash_at=2, action=_crash)
    recordings = build(store=crashing)
    recordings.sweeper._batch = 2  # noqa: SLF001 - small batches: the crash falls inside one

    with pytest.raises(RuntimeError, match="killed mid-sweep"):
        await recordings.sweeper.run(on(rclock, date(2025, 5, 1)))
    after_crash = await states(recordings.sessions)
    # The first batch was marked before its files went: one file gone, one still there.
    assert sorted(after_crash.values()) == ["deleting", "deleting", "stored", "stored", "stored"]
    assert not plain.store.exists(str(rows[0].sha256)) and plain.store.exists(str(rows[1].sha256))

    report = await plain.sweeper.run(date(2025, 5, 1))
    assert report.interrupted_finished == 2 and report.audio_deleted == 3
    assert set((await states(plain.sessions)).values()) == {"deleted"}
    assert not any(plain.store.exists(str(r.sha256)) for r in rows)
    assert report.missing == 0 and report.orphans == 0


async def test_the_store_going_away_mid_sweep_stops_it_without_calling_files_missing(
    build: Callable[..., Recordings], rclock: Clock,
) -> None:
    plain = build()
    rows = await _five_expired(plain, rclock)
    root = plain.store.root
    moved = root.with_name("store-unmounted")

    def unmount(_store: RecordingStore) -> None:
        root.rename(moved)

    recordings = build(store=CrashingStore(root, crash_at=2, action=unmount))
    recordings.sweeper._batch = 2  # noqa: SLF001
    with pytest.raises(StoreUnavailable, match="not there"):
        await recordings.sweeper.run(on(rclock, date(2025, 5, 1)))
    assert "missing" not in (await states(recordings.sessions)).values()
    with pytest.raises(StoreUnavailable):  # a sweep on an absent store does nothing at all
        await plain.sweeper.run(date(2025, 5, 1))

    moved.rename(root)  # mounted again
    report = await plain.sweeper.run(date(2025, 5, 1))
    assert report.interrupted_finished == 2 and report.audio_deleted == 3
    assert report.missing == 0
    assert not any(plain.store.exists(str(r.sha256)) for r in rows)


async def test_orphan_and_missing_files_are_reconciled_and_reported(
    recordings: Recordings, rclock: Clock,
) -> None:
    made = date(2025, 3, 1)
    rclock.now = local(made)
    kept = await record(recordings, "kept", local(made), tone=300)
    lost = await record(recordings, "lost", local(made), tone=400)
    recordings.store.path_of(str(lost.sha256)).unlink()  # somebody removed a file
    orphan = recordings.store.path_of("ab" * 32)
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"left by a crash between the file and its row")
    import os

    old = (rclock.now - timedelta(days=3)).timestamp()
    os.utime(orphan, (old, old))

    preview = await recordings.sweeper.run(on(rclock, date(2025, 3, 5)), dry_run=True)
    assert (preview.orphans, preview.missing) == (1, 1) and orphan.exists()
    report = await recordings.sweeper.run(date(2025, 3, 5))
    assert (report.orphans, report.missing) == (1, 1)
    assert not orphan.exists() and recordings.store.exists(str(kept.sha256))
    async with recordings.sessions() as session:
        row = await session.get(Recording, lost.id)
    assert row is not None and (row.state, row.problem) == ("missing", "vanished")


async def test_a_dry_run_as_of_a_later_date_previews_and_changes_nothing(
    recordings: Recordings, rclock: Clock,
) -> None:
    made = date(2025, 3, 1)
    rclock.now = local(made)
    row = await record(recordings, "c1", local(made))
    async with recordings.sessions.begin() as session:
        await make_call(session, "ancient", local(date(2021, 1, 1)))
    progress: list[int] = []
    total = await recordings.sweeper.candidates(date(2025, 7, 1))
    report = await recordings.sweeper.run(date(2025, 7, 1), dry_run=True, progress=progress.append)
    assert (report.audio_deleted, report.bytes_freed, report.records_anonymised) == (
        1, row.size, 1)
    assert sum(progress) == total == 2
    assert (await states(recordings.sessions))["c1"] == "stored"
    assert recordings.store.exists(str(row.sha256))
    with pytest.raises(ValueError, match="--dry-run"):
        await recordings.sweeper.run(date(2025, 7, 1))


async def test_audio_shared_by_a_live_recording_is_not_removed(
    recordings: Recordings, rclock: Clock,
) -> None:
    rclock.now = local(date(2025, 1, 1))
    old = await record(recordings, "old", local(date(2025, 1, 1)))
    rclock.now = local(date(2025, 4, 20))
    new = await record(recordings, "new", local(date(2025, 4, 20)))  # the same audio
    assert old.sha256 == new.sha256
    report = await recordings.sweeper.run(on(rclock, date(2025, 4, 21)))
    assert report.audio_deleted == 1 and report.bytes_freed == 0
    assert recordings.store.exists(str(new.sha256))


async def test_a_sweep_killed_mid_batch_is_finished_by_the_next_run(
    recordings: Recordings, rclock: Clock,
) -> None:
    rows = await _five_expired(recordings, rclock)
    root = ROOT
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(SWEEP_CHILD),
        recordings.settings.database_url, str(recordings.store.root), "2025-05-01", "2",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(root)}, cwd=root)
    assert child.stdout is not None
    try:
        async with asyncio.timeout(30):
            assert await child.stdout.readline() == b"removing\n"
    finally:
        child.kill()  # SIGKILL: no cleanup, no rollback of what was committed
        await child.wait()
    assert sorted((await states(recordings.sessions)).values()) == [
        "deleting", "deleting", "stored", "stored", "stored"]

    report = await recordings.sweeper.run(on(rclock, date(2025, 5, 1)))
    assert report.interrupted_finished == 2 and report.audio_deleted == 3
    assert set((await states(recordings.sessions)).values()) == {"deleted"}
    assert not any(recordings.store.exists(str(r.sha256)) for r in rows)
