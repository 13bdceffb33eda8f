"""The audit trail chains every entry; edits, deletions and truncation are detected."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from callcenter import audit
from callcenter.store.engine import SessionFactory


async def _append(sessions: SessionFactory, count: int) -> None:
    async with sessions.begin() as session:
        for n in range(count):
            await audit.record(
                session,
                actor="admin",
                action="elder.update",
                entity="elder",
                entity_id=n,
                before={"phone": "13800000000"},
                after={"phone": "13900000000", "n": n},
                reason="test",
            )


async def test_untouched_chain_verifies(sessions: SessionFactory) -> None:
    await _append(sessions, 5)
    async with sessions() as session:
        report = await audit.verify_chain(session)
    assert report.ok, report.problems
    assert report.entries == 5


async def test_product_cannot_update_or_delete_entries(sessions: SessionFactory) -> None:
    await _append(sessions, 1)
    for statement in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises((DBAPIError, IntegrityError), match="append-only"):
            async with sessions.begin() as session:
                await session.execute(text(statement))


async def _tamper(sessions: SessionFactory, statement: str) -> None:
    """Bypass the triggers as a database administrator could, then run ``statement``."""
    async with sessions.begin() as session:
        dialect = session.bind.dialect.name
        if dialect == "postgresql":
            await session.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
            await session.execute(text(statement))
            await session.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
        else:
            await session.execute(text("DROP TRIGGER audit_log_no_update"))
            await session.execute(text("DROP TRIGGER audit_log_no_delete"))
            await session.execute(text(statement))


@pytest.mark.parametrize(
    ("statement", "problem"),
    [
        ("UPDATE audit_log SET after = '{\"phone\": \"x\"}' WHERE seq = 2", "entry 2: content was altered"),
        ("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", "entry 3: content was altered"),
        ("DELETE FROM audit_log WHERE seq = 2", "entries 2..2 are missing"),
        ("DELETE FROM audit_log WHERE seq = 4", "the chain ends at entry 3"),
    ],
)
async def test_tampering_is_detected(
    sessions: SessionFactory, statement: str, problem: str
) -> None:
    await _append(sessions, 4)
    await _tamper(sessions, statement)
    async with sessions() as session:
        report = await audit.verify_chain(session)
    assert not report.ok
    assert any(problem in p for p in report.problems), report.problems
