"""Which database errors are transient: whatever a restart of the database or the pool cures."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError

from ari_apps.sos.models import Incident
from ari_apps.sos.store import IncidentRecorder, register_journal_kinds
from callcenter.journal import Journal, is_store_unavailable
from callcenter.store import create_engine, session_factory
from callcenter.store.models import utcnow
from tests.support.pg_roles import limited_role


def _wrapped(driver_error: Exception) -> DBAPIError:
    """As SQLAlchemy's asyncpg dialect raises a driver error it has no class for."""
    try:
        try:
            raise driver_error
        except Exception as err:
            raise DBAPIError("SELECT 1", None, err) from err
    except DBAPIError as wrapped:
        return wrapped


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.exceptions.CannotConnectNowError("the database system is not accepting connections"),
    asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.exceptions.CrashShutdownError("terminating connection because of crash"),
    asyncpg.exceptions.ConnectionFailureError("connection failure"),
    asyncpg.exceptions.OutOfMemoryError("out of memory"),
    asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
    ConnectionResetError(104, "Connection reset by peer"),
], ids=lambda e: e.__class__.__name__)
def test_errors_a_restart_cures_are_transient_however_deeply_wrapped(error: Exception) -> None:
    assert is_store_unavailable(error)
    assert is_store_unavailable(_wrapped(error))


@pytest.mark.parametrize("error", [
    asyncpg.exceptions.UniqueViolationError("duplicate key"),
    asyncpg.exceptions.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    asyncpg.exceptions.UndefinedColumnError("no such column"),
], ids=lambda e: e.__class__.__name__)
def test_a_wrong_write_is_not_taken_for_an_outage(error: Exception) -> None:
    assert not is_store_unavailable(error)
    assert not is_store_unavailable(_wrapped(error))
    assert not is_store_unavailable(IntegrityError("INSERT", None, error))


async def test_too_many_connections_journals_sos_rows_and_replays_them(
    database_url: str, tmp_path: Path
) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("connection limits are PostgreSQL's")
    async with limited_role(database_url) as role:
        engine = create_engine(role.url)
        try:
            sessions = session_factory(engine)
            journal = Journal(tmp_path / "journal", sessions)
            register_journal_kinds(journal)
            recorder = IncidentRecorder(sessions, journal)
            recorder.start()
            await role.refuse()
            now = utcnow()
            recorder.incident({
                "id": "20260101000000abcdef", "kind": "sos", "status": "active",
                "elder_id": None, "identified": False, "caller_number": "13900001111",
                "device_id": None, "area_path": None, "node": "default",
                "bridge_id": "sos-20260101000000abcdef",
                "recording_name": "sos-20260101000000abcdef",
                "work_order_number": "WO-20260101000000abcdef", "outcome": None,
                "started_at": now, "first_answer_at": None, "ended_at": None,
            })
            await recorder.flush()
            assert journal.backlog() > 0  # kept for the replayer, not dropped

            await role.admit()
            report = await journal.replay()
            assert report.blocked is None and not report.rejected and report.applied == 1
            async with sessions() as session:
                stored = (await session.execute(select(Incident.id))).scalars().all()
            assert stored == ["20260101000000abcdef"]
            await recorder.close()
        finally:
            await engine.dispose()
