"""The supervisor's figures over three years of calls (≈ 10 M rows) on PostgreSQL, against a
bare floor: the same SQL sent by asyncpg directly, in the same run.

Seeds its own database (``cc_bench_wallboard``) with ``generate_series`` in SQL: a hotline
call every ~9.5 s for three years up to now in four queues and 50 agents (85 % answered,
5 % abandoned, 4 % short abandons, 2 % overflow, 2 % transferred with a new part, 2 % no
answer), and each agent's logins and pauses of every day. Then, for ``today``, the last
seven full days and a day's 15-minute history, it times the product's path (``Wallboard.snapshot``
and ``Wallboard.intervals`` on the product's engine) and the floor (the very statements
they run, compiled once, on one asyncpg connection), and prints p50/p99 and the ratio.
Goal: p99 ≤ 1 s.

    python bench/wallboard.py                 # seeds once (≈ 10.2 M rows), then measures
    python bench/wallboard.py --fresh --rows 2000000 --runs 100
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from ari_apps.wallboard import agents as agent_sql
from ari_apps.wallboard.figures import PART_HORIZON, FigureQueries
from ari_apps.wallboard.services import Wallboard, window
from callcenter.directory.services import Jurisdiction
from callcenter.settings import load_settings
from callcenter.store import create_engine, migrate

DATABASE = "cc_bench_wallboard"
SECRET = "bench-secret-key-0123456789abcdef0123456789"
_INDEXES = ("ix_calls_started_at", "ix_calls_queue_started_at", "ix_calls_agent_started_at",
            "ix_calls_elder_started_at", "ix_calls_caller_tail", "ix_calls_incident_id",
            "ix_calls_parent_id")

SEED_CALLS = """
INSERT INTO calls (id, kind, direction, caller_number, caller_tail, called_number, caller_kind,
    queue, priority, agent, started_at, queued_at, answered_at, ended_at, wait_seconds,
    talk_seconds, hold_seconds, wrapup_seconds, outcome, note, details)
SELECT 'b' || g, 'hotline', 'inbound', n, reverse(n), '12349', 'elder', 'q' || (g % 4), 0,
    CASE WHEN r < 85 OR r >= 96 AND r < 98 THEN 'agent' || (g % 50) END,
    t, t + interval '2 seconds',
    CASE WHEN r < 85 OR r >= 96 AND r < 98 THEN t + (2 + w) * interval '1 second' END,
    t + (2 + w + talk) * interval '1 second', w,
    CASE WHEN r < 85 OR r >= 96 AND r < 98 THEN talk ELSE 0 END,
    CASE WHEN r < 85 AND g % 7 = 0 THEN 15 ELSE 0 END,
    CASE WHEN r < 85 OR r >= 96 AND r < 98 THEN 30 ELSE 0 END,
    CASE WHEN r < 85 THEN 'answered' WHEN r < 90 THEN 'abandoned'
         WHEN r < 94 THEN 'short_abandon' WHEN r < 96 THEN 'overflow'
         WHEN r < 98 THEN 'transferred' ELSE 'no_answer' END,
    '', '{}'
FROM (SELECT g, (g * 2654435761) % 100 AS r,
             CASE WHEN (g * 2654435761) % 100 BETWEEN 90 AND 93 THEN (g % 5)
                  ELSE (g * 40503) % 90 END AS w,
             60 + (g * 97) % 400 AS talk,
             $1::timestamptz + g * $2::float8 * interval '1 second' AS t,
             '138' || lpad((g % 100000000)::text, 8, '0') AS n
      FROM generate_series($3::bigint, $4::bigint) AS g) AS s
"""
SEED_PARTS = """
INSERT INTO calls (id, kind, direction, caller_number, caller_tail, called_number, caller_kind,
    queue, priority, agent, parent_id, started_at, queued_at, answered_at, ended_at,
    wait_seconds, talk_seconds, hold_seconds, wrapup_seconds, outcome, note, details)
SELECT id || 't', 'hotline', 'inbound', caller_number, caller_tail, '12349', 'elder', queue, 0,
    'agent' || ((substr(id, 2)::int + 1) % 50), id, answered_at + interval '60 seconds',
    answered_at + interval '60 seconds', answered_at + interval '70 seconds',
    answered_at + interval '190 seconds', 10, 120, 0, 20, 'answered', '', '{}'
FROM calls WHERE outcome = 'transferred' AND parent_id IS NULL
"""
SEED_EVENTS = """
INSERT INTO agent_events (agent, queue, kind, reason, productive, at)
SELECT 'agent' || a, NULL, k.kind, k.reason, false, d + k.at
FROM generate_series(0, 49) AS a,
     generate_series(date_trunc('day', $1::timestamptz), now(), interval '1 day') AS d,
     (VALUES ('login', '', interval '0 hours'), ('pause', 'lunch', interval '4 hours'),
             ('unpause', '', interval '5 hours'), ('logout', '', interval '9 hours'))
       AS k(kind, reason, at)
WHERE d + k.at < now()
"""
SEED_USERS = """
INSERT INTO users (username, display_name, password_hash, role, active, failed_logins, created_at)
SELECT 'agent' || a, '坐席' || a, 'x', 'agent', true, 0, now() FROM generate_series(0, 49) AS a
ON CONFLICT DO NOTHING
"""


async def ensure_database(admin_url: str, database: str) -> str:
    plain = make_url(admin_url).set(drivername="postgresql")
    conn = await asyncpg.connect(plain.render_as_string(hide_password=False))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return str(make_url(admin_url).set(database=database, drivername="postgresql+asyncpg")
               .render_as_string(hide_password=False))


async def _on_each(dsn: str, parts: list[tuple[str, tuple[Any, ...]]]) -> None:
    """Run the statements on connections of their own, at once (one per core)."""
    async def one(sql: str, args: tuple[Any, ...]) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET synchronous_commit = off")
            await conn.execute("SET maintenance_work_mem = '512MB'")
            await conn.execute(sql, *args)
        finally:
            await conn.close()

    await asyncio.gather(*(one(sql, args) for sql, args in parts))


async def seed(dsn: str, rows: int, fresh: bool) -> float | None:
    """Seed once; reuse on later runs unless ``fresh``. Returns the seconds it took."""
    conn = await asyncpg.connect(dsn)
    try:
        have = await conn.fetchval("SELECT count(*) FROM calls WHERE parent_id IS NULL")
        if have >= rows and not fresh:
            return None
        started = time.perf_counter()
        await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '1GB'")
        await conn.execute("TRUNCATE calls, agent_events")
        for index in _INDEXES:
            await conn.execute(f"DROP INDEX IF EXISTS {index}")
        now = datetime.now(UTC)
        first = now - timedelta(days=3 * 365)
        step = (now - first).total_seconds() / rows
        half = rows // 2
        await _on_each(dsn, [(SEED_CALLS, (first, step, 1, half)),
                             (SEED_CALLS, (first, step, half + 1, rows))])
        await conn.execute(SEED_PARTS)
        await conn.execute(SEED_EVENTS, first)
        await conn.execute(SEED_USERS)
        indexes = [f"CREATE INDEX {index} ON calls ({columns})" for index, columns in (
            ("ix_calls_started_at", "started_at"), ("ix_calls_queue_started_at", "queue, started_at"),
            ("ix_calls_agent_started_at", "agent, started_at"),
            ("ix_calls_elder_started_at", "elder_id, started_at"),
            ("ix_calls_caller_tail", "caller_tail"), ("ix_calls_incident_id", "incident_id"),
            ("ix_calls_parent_id", "parent_id"))]
        for pair in (indexes[0:2], indexes[2:4], indexes[4:6], indexes[6:]):
            await _on_each(dsn, [(sql, ()) for sql in pair])
        await conn.execute("VACUUM ANALYZE calls")
        await conn.execute("VACUUM ANALYZE agent_events")
        return time.perf_counter() - started
    finally:
        await conn.close()


def _compiled(statement: Any) -> tuple[str, list[str], dict[str, Any]]:
    compiled = statement.compile(dialect=postgresql.asyncpg.dialect())
    return str(compiled), list(compiled.positiontup or ()), dict(compiled.params)


class Floor:
    """The product's statements, compiled once, run by asyncpg on one connection."""

    def __init__(self, conn: asyncpg.Connection, queries: FigureQueries) -> None:
        self.conn = conn
        counts, parts = queries._statements("postgresql", False)  # noqa: SLF001 - the same SQL
        counts_i, parts_i = queries._statements("postgresql", True)  # noqa: SLF001
        self.figures = [_compiled(p.statement) for p in (counts, parts)]
        self.intervals = [_compiled(p.statement) for p in (counts_i, parts_i)]
        self.agents = [_compiled(p.statement) for p in (agent_sql._EVENTS, agent_sql._HANDLED,  # noqa: SLF001
                                                         agent_sql._ON_CALL)]  # noqa: SLF001

    async def run(self, statements: list[tuple[str, list[str], dict[str, Any]]],
                  params: dict[str, Any]) -> int:
        rows = 0
        for sql, names, constants in statements:
            merged = {**constants, **params}
            rows += len(await self.conn.fetch(sql, *[merged[n] for n in names]))
        return rows


def _line(name: str, product: list[float], floor: list[float]) -> str:
    def p(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (f"  {name:<22} product p50 {p(product, .5):7.1f} ms  p99 {p(product, .99):7.1f} ms"
            f"   floor p50 {p(floor, .5):7.1f} ms  p99 {p(floor, .99):7.1f} ms"
            f"   ratio p50 {p(product, .5) / p(floor, .5):4.2f}×  p99 {p(product, .99) / p(floor, .99):4.2f}×")


async def _time(runs: int, call: Callable[[], Awaitable[object]]) -> list[float]:
    await call()  # warm
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        await call()
        out.append(time.perf_counter() - started)
    return out


async def run(args: argparse.Namespace) -> None:
    url = await ensure_database(args.postgres, args.database)
    await asyncio.to_thread(migrate.upgrade, url)
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    took = await seed(dsn, args.rows, args.fresh)
    conn = await asyncpg.connect(dsn)
    total = await conn.fetchval("SELECT count(*) FROM calls")
    print(f"seed: {total} calls" + (f" in {took:.0f} s" if took else " (reused)"))
    settings = load_settings(database_url=url, secret_key=SECRET)
    board = Wallboard(settings, lambda: datetime.now(UTC))
    engine = create_engine(url)
    floor = Floor(conn, board.queries)
    scope = Jurisdiction(None)
    short = settings.hotline_short_abandon_seconds
    now = datetime.now(UTC)
    cases: list[tuple[str, Callable[[], Awaitable[object]], Callable[[], Awaitable[object]]]] = []
    today, _ = window("today", now, settings.time_zone)
    for period, start, end in (("today", *window("today", now, settings.time_zone)),
                               ("last 7 days", today - timedelta(days=7), today)):

        async def product(start: datetime = start, end: datetime = end) -> object:
            async with engine.connect() as c:
                return await board.snapshot(c, scope, start=start, end=end)

        async def bare(start: datetime = start, end: datetime = end) -> object:
            params = {"start": start, "end": end, "short": short, "parts_end": end + PART_HORIZON,
                      "lookback": start - agent_sql.LOOKBACK, "since": now - timedelta(days=1)}
            return (await floor.run(floor.figures, params)
                    + await floor.run(floor.agents, params))

        cases.append((f"figures, {period}", product, bare))
    day_start, day_end = window("today", now - timedelta(days=1), settings.time_zone)

    async def history() -> object:
        async with engine.connect() as c:
            return await board.intervals(c, scope, day_start, day_end)

    async def history_bare() -> object:
        return await floor.run(floor.intervals, {"start": day_start, "end": day_end, "short": short,
                                                 "parts_end": day_end + PART_HORIZON})

    cases.append(("15-min history, 1 day", history, history_bare))
    print(f"{args.runs} runs each, one at a time (the product on its pooled engine, the floor "
          "on one asyncpg connection)")
    worst = 0.0
    for name, product_call, floor_call in cases:
        product_times = await _time(args.runs, product_call)
        floor_times = await _time(args.runs, floor_call)
        worst = max(worst, sorted(product_times)[int(.99 * len(product_times))])
        print(_line(name, product_times, floor_times))
    print(f"worst product p99 {worst * 1000:.0f} ms (goal ≤ 1000 ms)")
    await conn.close()
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--fresh", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
