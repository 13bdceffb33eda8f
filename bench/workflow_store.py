"""Benchmark of the workflow store on PostgreSQL: list/filter queries over 1 000 000 work
orders and transitions per second, each next to a bare floor run in the same process and
the same run (seed E §6: a query within 5 s; our goal: p99 ≤ 1 s).

The product is the Casebook (SQLAlchemy, pydantic, the jurisdiction filter, the audit
chain). The floor is the same SQL sent straight to asyncpg: for a list, the very statement
the product builds (compiled once); for a move, the same statements in one transaction
(read the row, UPDATE … WHERE version, the timeline row, the audit head FOR UPDATE, the
chained audit row, the head). Seeding is one INSERT … SELECT over generate_series in its own
database (``cc_bench_workflow``), kept between runs (``--fresh`` seeds again).

    python bench/workflow_store.py                     # 1 000 000 orders, 200 queries per shape, 2000 moves
    python bench/workflow_store.py --orders 100000 --queries 50 --moves 500 --fresh
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.dialects.postgresql import asyncpg as pg_asyncpg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.append(str(Path(__file__).resolve().parent))  # bench/web.py, after the packages

from web import prepare_database  # noqa: E402

from callcenter.audit import entry_hash  # noqa: E402
from callcenter.bus import MemoryBus  # noqa: E402
from callcenter.settings import load_settings  # noqa: E402
from callcenter.store import create_engine, migrate, session_factory  # noqa: E402
from workflow.casebook import Casebook  # noqa: E402
from workflow.kinds import WORKORDERS  # noqa: E402
from workflow.machines import Actor  # noqa: E402
from workflow.queries import list_statement  # noqa: E402
from workflow.schemas import CaseListQuery  # noqa: E402

ADMIN_URL = os.environ.get("CALLCENTER_BENCH_POSTGRES_URL",
                           "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
STREETS, COMMUNITIES = 10, 10  # 100 communities under one district
NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


async def prepare(name: str, fresh: bool) -> str:
    """The bench database (created, or with ``fresh`` recreated), migrated; its URL."""
    url = await prepare_database(ADMIN_URL, name, fresh)
    await asyncio.to_thread(migrate.upgrade, url)
    return url


SEED = """
WITH c AS (SELECT array_agg(path ORDER BY id) AS paths FROM areas WHERE level = 'community'),
     p AS (SELECT array_agg(id ORDER BY id) AS ids FROM providers)
INSERT INTO work_orders (number, type, status, priority, title, description, details, created_by,
                         created_at, due_at, version, area_path, service_type, provider_id,
                         provider_override, due_provisional, satisfaction, closed_at, updated_at)
SELECT 'WO-B-' || lpad(g::text, 8, '0'), 'service',
       (ARRAY['accepted','reviewed','dispatched','taken','in_service','returned','visited',
              'closed','closed','closed','closed','closed'])[1 + g % 12],
       'normal', '服务工单 ' || g, '', '{}', 'bench',
       ts, ts + interval '3 days', 1, c.paths[1 + ((g::bigint * 7919) % array_length(c.paths, 1))::int],
       (ARRAY['home_care','meals','bath','cleaning','repair'])[1 + g % 5],
       CASE WHEN g % 12 >= 2 THEN p.ids[1 + (g * 31) % array_length(p.ids, 1)] END,
       false, false,
       CASE WHEN g % 12 >= 6 THEN 1 + (g * 13) % 5 END,
       CASE WHEN g % 12 >= 7 THEN ts + interval '2 days' END, ts
FROM generate_series(1, $1::int) AS g,
     LATERAL (SELECT $2::timestamptz - (($1::int - g) * interval '31 seconds') AS ts) t, c, p
"""


async def seed(url: str, orders: int) -> float:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        present = await conn.fetchval("SELECT count(*) FROM work_orders")
        if present >= orders:
            return 0.0
        if present:
            raise SystemExit(f"{present} work orders already there: run with --fresh to seed {orders}")
        started = time.perf_counter()
        async with conn.transaction():
            await conn.execute("INSERT INTO areas (code, name, level, path) VALUES ('BD', '区', 'district', '/BD/')")
            for s in range(STREETS):
                await conn.execute(
                    "INSERT INTO areas (code, name, level, parent_id, path) SELECT $1::text, $2, 'street', id, "
                    "path || $1::text || '/' FROM areas WHERE code = 'BD'", f"BS{s}", f"街道{s}")
                for c in range(COMMUNITIES):
                    await conn.execute(
                        "INSERT INTO areas (code, name, level, parent_id, path) SELECT $1::text, $2, "
                        "'community', id, path || $1::text || '/' FROM areas WHERE code = $3",
                        f"BC{s}_{c}", f"社区{s}-{c}", f"BS{s}")
            for n in range(20):
                await conn.execute(
                    "INSERT INTO providers (code, name, service_types, capacity, rating, phone, active) "
                    "VALUES ($1, $2, '[\"home_care\", \"meals\"]', 50, 4.0, '', true)", f"BP{n}", f"服务商{n}")
            await conn.execute(SEED, orders, NOW)
        await conn.execute("ANALYZE")
        return time.perf_counter() - started
    finally:
        await conn.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def line(name: str, product: list[float], floor: list[float]) -> str:
    p50, f50 = percentile(product, 0.5) * 1000, percentile(floor, 0.5) * 1000
    p99, f99 = percentile(product, 0.99) * 1000, percentile(floor, 0.99) * 1000
    return (f"| {name} | {p50:.2f} / {f50:.2f} ms | {p99:.2f} / {f99:.2f} ms | "
            f"{p50 / f50:.2f}× |")


async def timed(n: int, run: Callable[[int], Awaitable[Any]]) -> list[float]:
    samples = []
    for i in range(n):
        started = time.perf_counter()
        await run(i)
        samples.append(time.perf_counter() - started)
    return samples


def shapes(street: str, district: str, provider: int) -> list[tuple[str, Actor, CaseListQuery]]:
    agent = Actor("agent", "agent", street)
    lead = Actor("lead", "supervisor", district)
    return [
        ("street agent, newest 50", agent, CaseListQuery()),
        ("district lead, status=dispatched", lead, CaseListQuery(status="dispatched")),
        ("street agent, overdue", agent, CaseListQuery(overdue=True)),
        ("district lead, provider + open", lead, CaseListQuery(provider_id=provider, open=True)),
        ("district lead, number prefix (100 match)", lead, CaseListQuery(q="WO-B-005001")),
        ("district lead, number prefix (10 000 match, mid-table)", lead, CaseListQuery(q="WO-B-0050")),
        ("street agent, page 100 (before_id)", agent, CaseListQuery(before_id=900_000)),
    ]


async def bench_lists(book: Casebook, pool: asyncpg.Pool, queries: int) -> list[str]:
    dialect = pg_asyncpg.dialect()
    out = []
    for name, actor, query in shapes("/BD/BS3/", "/BD/", 1):
        compiled = list_statement(WORKORDERS, actor, query, NOW).compile(
            dialect=dialect, compile_kwargs={"render_postcompile": True})
        sql = compiled.string
        params = compiled.construct_params()
        ordered = [params[k] for k in (compiled.positiontup or [])]

        async def product(_: int, actor: Actor = actor, query: CaseListQuery = query) -> None:
            await book.list(WORKORDERS, actor, query)

        async def floor(_: int, sql: str = sql, ordered: list[Any] = ordered) -> None:
            async with pool.acquire() as conn:
                await conn.fetch(sql, *ordered)

        await product(0)  # warm both
        await floor(0)
        p, f = await timed(queries, product), await timed(queries, floor)
        out.append(line(name, p, f))
    return out


FLOOR_MOVE = (
    "SELECT id, number, status, version, area_path FROM work_orders WHERE id = $1",
    "UPDATE work_orders SET status = 'reviewed', version = version + 1, service_type = 'meals', "
    "updated_at = $2 WHERE id = $1 AND version = $3",
    "INSERT INTO case_events (case_kind, case_id, at, actor, action, from_status, to_status, reason, detail) "
    "VALUES ('workorder', $1, $2, 'bench', 'review', 'accepted', 'reviewed', '', '{}')",
)


async def floor_move(pool: asyncpg.Pool, case_id: int) -> None:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(FLOOR_MOVE[0], case_id)
        now = datetime.now(UTC)
        done = await conn.execute(FLOOR_MOVE[1], case_id, now, row["version"])
        assert done.endswith(" 1")
        await conn.execute(FLOOR_MOVE[2], case_id, now)
        head = await conn.fetchrow("SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE")
        values = {"seq": head["seq"] + 1, "at": now, "actor": "bench", "action": "work_order.review",
                  "entity": "work_order", "entity_id": row["number"],
                  "before": {"status": "accepted", "version": row["version"]},
                  "after": {"status": "reviewed", "version": row["version"] + 1}, "reason": "",
                  "prev_hash": head["hash"]}
        digest = entry_hash(**values)
        await conn.execute(
            "INSERT INTO audit_log (seq, at, actor, action, entity, entity_id, before, after, reason, "
            "prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8::json, $9, $10, $11)",
            values["seq"], now, "bench", values["action"], "work_order", row["number"],
            '{"status": "accepted"}', '{"status": "reviewed"}', "", head["hash"], digest)
        await conn.execute("UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1", values["seq"], digest)


async def bench_moves(book: Casebook, pool: asyncpg.Pool, moves: int, concurrency: int) -> list[str]:
    async with pool.acquire() as conn:
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM work_orders WHERE status = 'accepted' AND area_path LIKE '/BD/%' "
            "ORDER BY id DESC LIMIT $1", moves * 2)]
    random.Random(7).shuffle(ids)
    product_ids, floor_ids = ids[:moves], ids[moves:2 * moves]
    lead = Actor("bench", "supervisor", "/BD/")
    out = []
    for name, run, todo in (
        ("product", lambda i: book.move(WORKORDERS, i, "review", 1, {"service_type": "meals"}, lead), product_ids),
        ("floor", lambda i: floor_move(pool, i), floor_ids),
    ):
        latencies: list[float] = []
        queue = list(todo)

        async def worker(run: Callable[[int], Awaitable[Any]] = run, queue: list[int] = queue,
                         latencies: list[float] = latencies) -> None:
            while queue:
                case_id = queue.pop()
                started = time.perf_counter()
                await run(case_id)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        wall = time.perf_counter() - started
        out.append(f"| {name} | {len(latencies) / wall:.0f}/s | {percentile(latencies, 0.5) * 1000:.1f} ms | "
                   f"{percentile(latencies, 0.99) * 1000:.1f} ms |")
    return out


async def run(args: argparse.Namespace) -> None:
    url = await prepare(args.database, args.fresh)
    took = await seed(url, args.orders)
    engine = create_engine(url)
    settings = load_settings(database_url=url, secret_key="bench-secret-key-0123456789abcdef0123456789",
                             data_dir=Path("/tmp") / "cc-bench-workflow")
    book = Casebook(session_factory(engine), settings, MemoryBus(), None, lambda: NOW)
    pool = await asyncpg.create_pool(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                                     min_size=2, max_size=12)
    try:
        async with pool.acquire() as conn:
            total = await conn.fetchval("SELECT count(*) FROM work_orders")
        print(f"work orders: {total:,}" + (f" (seeded in {took:.1f} s)" if took else ""))
        print(f"\nlist/filter queries, {args.queries} each, one at a time (product / floor):\n")
        print("| query | p50 | p99 | p50 ratio |\n|---|---|---|---|")
        for row in await bench_lists(book, pool, args.queries):
            print(row)
        print(f"\ntransitions (review), {args.moves} each, {args.concurrency} at a time:\n")
        print("| | throughput | p50 | p99 |\n|---|---|---|---|")
        for row in await bench_moves(book, pool, args.moves, args.concurrency):
            print(row)
    finally:
        await pool.close()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", default="cc_bench_workflow")
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--moves", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--fresh", action="store_true")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
