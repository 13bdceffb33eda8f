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


async def test_an_append_holds_the_head_for_one_statement_on_postgresql(sessions: SessionFactory) -> None:
    """Between the head's FOR UPDATE and the commit other writers wait: the caller's pending
    rows go in before it, and on PostgreSQL the entry and the head are one statement."""
    from sqlalchemy import event

    from callcenter.store.models import Area

    statements: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    def seen(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        statements.append(sql)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        async with sessions.begin() as session:
            session.add(Area(code="A1", name="区", level="district", path="/A1/"))  # pending
            await audit.record(session, actor="admin", action="area.add", entity="area",
                               entity_id="A1", after={"code": "A1"})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    locked = next(i for i, s in enumerate(statements) if "FOR UPDATE" in s or "audit_head" in s)
    assert any("INSERT INTO areas" in s for s in statements[:locked])
    after_lock = statements[locked + 1:]
    if engine.dialect.name == "postgresql":
        assert len(after_lock) == 1 and after_lock[0].startswith("WITH entry AS")
    async with sessions() as session:
        assert (await audit.verify_chain(session)).ok
