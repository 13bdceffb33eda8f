"""The retention benchmark's data: an own PostgreSQL database seeded by SQL ``generate_series``
(areas, elders, 1 000 000 call records over 3½ years, 200 000 recordings, holds) and one small
but real WAV file per recording in a content-addressed store (its SHA-256 computed by
PostgreSQL and by Python alike)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import struct
import time
from pathlib import Path

import asyncpg

from callcenter.store import migrate

DAYS = 3.5 * 365.25  # the calls span this many days back from now
DATA = 256  # audio bytes per bench recording (a real, tiny WAV)
HEADER = (b"RIFF" + struct.pack("<I", 36 + DATA) + b"WAVEfmt " +
          struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16) + b"data" + struct.pack("<I", DATA))


def audio(n: int) -> bytes:
    """Recording ``n``'s file: the same bytes PostgreSQL hashes in :data:`SQL_AUDIO`."""
    return HEADER + struct.pack(">i", n) * (DATA // 4)


SQL_AUDIO = (f"decode('{HEADER.hex()}', 'hex') || decode(repeat(encode(int4send(n), 'hex'), {DATA // 4}), 'hex')"
             )

SEED = f"""
INSERT INTO areas (id, code, name, level, path, parent_id)
  VALUES (1, 'D1', '南开区', 'district', '/D1/', NULL);
INSERT INTO areas (id, code, name, level, path, parent_id)
  SELECT 1 + s, 'S' || s, '街道' || s, 'street', '/D1/S' || s || '/', 1 FROM generate_series(1, 4) s;
INSERT INTO areas (id, code, name, level, path, parent_id)
  SELECT 10 + c, 'C' || c, '社区' || c, 'community',
         '/D1/S' || (1 + c % 4) || '/C' || c || '/', 1 + (1 + c % 4)
  FROM generate_series(1, 20) c;
INSERT INTO elders (id, code, name, gender, birth_date, address, area_id, lives_alone, disabled,
                    health_notes, status, created_at, updated_at)
  SELECT e, 'E' || e, (ARRAY['张','王','李','赵','刘','陈','杨','黄'])[1 + e % 8] || '老人' || e,
         CASE WHEN e % 2 = 0 THEN 'F' ELSE 'M' END, DATE '1940-01-01' + (e % 9000),
         '', 11 + e % 20, false, false, '', 'active', now(), now()
  FROM generate_series(1, {{elders}}) e;
INSERT INTO calls (id, kind, direction, caller_number, caller_tail, called_number, elder_id,
                   caller_kind, queue, priority, agent, started_at, ended_at, wait_seconds,
                   talk_seconds, hold_seconds, wrapup_seconds, outcome, note, details)
  SELECT 'c' || i, 'hotline', 'inbound', p, reverse(p), '12349', 1 + i % {{elders}}, 'elder',
         'hotline', 0, 'agent' || (i % 200), now() - interval '1 second' * (i::float8 * {DAYS * 86400}
         / {{calls}}), now() - interval '1 second' * (i::float8 * {DAYS * 86400} / {{calls}})
         + interval '3 minutes', 10, 160, 0, 20, 'answered', '', '{{{{}}}}'
  FROM (SELECT i, '138' || lpad((i::bigint * 7919 % 100000000)::text, 8, '0') AS p
        FROM generate_series(1, {{calls}}) i) numbered;
INSERT INTO recordings (id, serial, source, node, name, call_id, incident_id, case_ref, elder_id,
                        agent, area_path, started_at, captured_at, state, sha256, size, encrypted,
                        duration_ms, sample_rate, shape)
  SELECT n, 'R' || to_char(c.started_at AT TIME ZONE 'Asia/Shanghai', 'YYYYMMDD') || '-'
            || upper(lpad(to_hex(n), 10, '0')),
         'spool', 'default', c.id || '.wav', c.id,
         CASE WHEN n % 50 = 0 THEN 'inc' || n END, CASE WHEN n % 97 = 0 THEN 'CASE-' || n END,
         c.elder_id, c.agent, a.path, c.started_at, c.started_at, 'stored',
         encode(sha256({SQL_AUDIO}), 'hex'), {len(HEADER) + DATA}, false, 16, 8000,
         '{{{{"peaks": [], "segments": []}}}}'
  FROM generate_series(1, {{recordings}}) n
  JOIN calls c ON c.id = 'c' || (n * {{every}})
  JOIN elders e ON e.id = c.elder_id JOIN areas a ON a.id = e.area_id;
INSERT INTO recording_holds (kind, incident_id, reason, placed_by, placed_at, expires_at)
  SELECT 'incident', 'inc' || n, 'SOS incident', 'system', now(),
         now() + interval '1 day' * (n % 700) - interval '200 days'
  FROM generate_series(50, {{recordings}}, 50) n;
INSERT INTO recording_holds (kind, recording_id, case_ref, reason, placed_by, placed_at, expires_at)
  SELECT 'legal', n, 'L-' || n, '法院调取', 'auditor', now(), now() + interval '1 year'
  FROM generate_series(7, {{recordings}}, 211) n;
SELECT setval(pg_get_serial_sequence('recordings', 'id'), {{recordings}});
"""


async def recreate(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_dsn.rsplit("/", 1)[0] + "/" + name


async def seed(dsn: str, store: Path, *, calls: int, recordings: int, elders: int) -> dict[str, float]:
    """Migrate, seed by SQL, write the files; the seconds each part took."""
    timings: dict[str, float] = {}
    started = time.perf_counter()
    url = dsn.replace("postgresql://", "postgresql+asyncpg://")
    await asyncio.to_thread(migrate.upgrade, url)  # Alembic runs its own event loop
    timings["migrate"] = time.perf_counter() - started
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SEED.format(elders=elders, calls=calls, recordings=recordings,
                                       every=calls // recordings))
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    timings["sql"] = time.perf_counter() - started
    started = time.perf_counter()
    write_files(store, recordings)
    timings["files"] = time.perf_counter() - started
    return timings


def write_files(store: Path, recordings: int) -> None:
    (store / "objects").mkdir(parents=True, exist_ok=True)
    (store / "tmp").mkdir(exist_ok=True)
    (store / ".callcenter-recordings").touch()
    made: set[str] = set()
    for n in range(1, recordings + 1):
        data = audio(n)
        sha = hashlib.sha256(data).hexdigest()
        folder = store / "objects" / sha[:2]
        if sha[:2] not in made:
            folder.mkdir(exist_ok=True)
            made.add(sha[:2])
        fd = os.open(folder / sha, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
