"""The floor for bench/web.py: the console's elder search and profile as a bare aiohttp +
asyncpg server, doing the same SQL with the same session cache and answering the same JSON.

No ORM, no validation layer, no middleware: a cookie's SHA-256 looked up in
``web_sessions`` (cached for ``--cache-seconds``; on a miss the lookup and the query share
one pooled connection), the same statements the product runs, rows shaped into JSON by
orjson. The query classification, LIKE escaping, ID decryption and masking are the
product's own functions: they are the work, not the overhead being measured.

    python bench/web_floor.py --database-url postgresql://postgres@127.0.0.1/cc_bench \
        --secret-key ... --port 8766
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
from aiohttp import web

from callcenter.crypto import FieldCipher, mask_id_number
from callcenter.directory.exceptions import InvalidSearch
from callcenter.directory.services import classify_query, like_prefix

SESSION = """SELECT s.csrf_token, s.expires_at, u.id, u.username, u.role, u.active, a.path
FROM web_sessions s JOIN users u ON u.id = s.user_id LEFT JOIN areas a ON a.id = u.area_id
WHERE s.token_hash = $1"""

_HITS = """SELECT h.id, h.code, h.name, h.gender, h.birth_date, h.area_name, h.area_path, h.status,
  h.lives_alone, h.disabled, p.number
FROM (SELECT e.id, e.code, e.name, e.gender, e.birth_date, a.name AS area_name,
        a.path AS area_path, e.status, e.lives_alone, e.disabled
      FROM elders e JOIN areas a ON e.area_id = a.id
      WHERE {scope} AND {match} ORDER BY e.name, e.id LIMIT {limit}) AS h
LEFT JOIN elder_phones p ON p.elder_id = h.id ORDER BY h.name, h.id, p.id"""
_TAIL_OWNERS = "SELECT elder_id FROM elder_phones WHERE number_reversed LIKE ${n} ESCAPE '/'"
_MATCH = {
    "name": "e.name LIKE ${n} ESCAPE '/'",
    "id_tail": "e.id_number_tail = ${n}",
    "phone": f"e.id IN ({_TAIL_OWNERS})",
    "phone_or_id_tail": f"e.id IN ({_TAIL_OWNERS} UNION SELECT id FROM elders WHERE id_number_tail = ${{m}})",
}


def _search_sql(kind: str, scoped: bool) -> str:
    # Parameters: [scope pattern,] match value(s), limit; an unscoped user has no scope term.
    first = 2 if scoped else 1
    match = _MATCH[kind].format(n=first, m=first + 1)
    limit = first + (2 if kind == "phone_or_id_tail" else 1)
    return _HITS.format(scope="a.path LIKE $1 ESCAPE '/'" if scoped else "true", match=match,
                        limit=f"${limit}")


SEARCH = {(kind, scoped): _search_sql(kind, scoped) for kind in _MATCH for scoped in (False, True)}
ELDER = """SELECT e.id, e.code, e.name, e.gender, e.birth_date, e.id_number_sealed, e.address,
  e.lives_alone, e.disabled, e.health_notes, e.status, a.path, pr.code AS provider_code,
  pr.name AS provider_name, pr.phone AS provider_phone
FROM elders e JOIN areas a ON e.area_id = a.id LEFT JOIN providers pr ON pr.id = e.provider_id
WHERE e.id = $1"""
SCOPED_ELDER = ELDER + " AND a.path LIKE $2 ESCAPE '/'"
PARTS = """SELECT 'contact' AS kind, id, priority, role AS t1, name AS t2, relation AS t3,
  phone AS t4, email AS t5, true AS flag FROM contacts WHERE elder_id = $1
UNION ALL SELECT 'area', id, 0, code, name, level, '', NULL, true FROM areas WHERE code = ANY($2)
UNION ALL SELECT 'phone', id, 0, number, '', '', '', NULL, true FROM elder_phones WHERE elder_id = $1
UNION ALL SELECT 'device', id, 0, device_id, '', '', '', NULL, active FROM sos_devices
  WHERE elder_id = $1"""

Principal = tuple[int, str | None, datetime]  # user id, area path, session expiry
POOL = web.AppKey("pool", asyncpg.Pool)
CIPHER = web.AppKey("cipher", FieldCipher)
CACHE: web.AppKey[dict[str, tuple[float, Principal | None]]] = web.AppKey("cache")
CACHE_SECONDS = web.AppKey("cache_seconds", float)


def _json(body: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _cached(request: web.Request) -> tuple[str | None, Principal | None, bool]:
    """(token hash, principal, found in cache)."""
    token = request.cookies.get("cc_session")
    if not token:
        return None, None, True
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    hit = request.app[CACHE].get(token_hash)
    if hit is not None and hit[0] > time.monotonic():
        return token_hash, hit[1], True
    return token_hash, None, False


async def _principal(request: web.Request, conn: asyncpg.Connection, token_hash: str) -> Principal | None:
    row = await conn.fetchrow(SESSION, token_hash)
    now = datetime.now(UTC)
    found = None if row is None or not row["active"] or row["expires_at"] <= now else (
        row["id"], row["path"], row["expires_at"])
    request.app[CACHE][token_hash] = (time.monotonic() + request.app[CACHE_SECONDS], found)
    return found


async def _with_session(request: web.Request, work: Any) -> web.Response:
    """Resolve the session (cache, else on the same connection as the work) and run ``work``."""
    token_hash, principal, cached = _cached(request)
    if token_hash is None:
        return _json({"error_id": "login-required"}, 401)
    async with request.app[POOL].acquire() as conn:
        if not cached:
            principal = await _principal(request, conn, token_hash)
        if principal is None or principal[2] <= datetime.now(UTC):
            return _json({"error_id": "login-required"}, 401)
        scope = None if principal[1] is None else like_prefix(principal[1])
        return await work(conn, scope)


async def search(request: web.Request) -> web.Response:
    """GET /api/elders?q=&limit=."""
    raw = request.query.get("q", "")
    try:
        kind, needle = classify_query(raw)
        limit = int(request.query.get("limit", "20"))
    except (InvalidSearch, ValueError):
        return _json({"error_id": "invalid-parameters"}, 422)
    if kind == "name":
        params: list[str] = [like_prefix(needle)]
    elif kind == "id_tail":
        params = [needle]
    else:
        params = [like_prefix(needle[::-1])] + ([needle] if kind == "phone_or_id_tail" else [])

    async def work(conn: asyncpg.Connection, scope: str | None) -> web.Response:
        scoped = [scope] if scope is not None else []
        rows = await conn.fetch(SEARCH[kind, scope is not None], *scoped, *params, limit)
        found: dict[int, dict[str, Any]] = {}
        for row in rows:
            item = found.get(row["id"])
            if item is None:
                item = found[row["id"]] = {**row, "phones": []}
                del item["number"]
            if row["number"] is not None:
                item["phones"].append(row["number"])
        items = [{k: item[k] for k in _SUMMARY} for item in found.values()]
        return _json({"query": raw.strip(), "kind": kind, "items": items})

    return await _with_session(request, work)


_SUMMARY = ("id", "code", "name", "gender", "birth_date", "area_name", "area_path", "phones",
            "status", "lives_alone", "disabled")


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def profile(request: web.Request) -> web.Response:
    """GET /api/elders/{elder_id}."""
    elder_id = int(request.match_info["elder_id"])

    async def work(conn: asyncpg.Connection, scope: str | None) -> web.Response:
        elder = await (conn.fetchrow(ELDER, elder_id) if scope is None
                       else conn.fetchrow(SCOPED_ELDER, elder_id, scope))
        if elder is None:
            return _json({"error_id": "not-found"}, 404)
        codes = [part for part in elder["path"].split("/") if part]
        by_kind: dict[str, list[asyncpg.Record]] = defaultdict(list)
        for part in await conn.fetch(PARTS, elder_id, codes):
            by_kind[part["kind"]].append(part)
        areas = {a["t1"]: a for a in by_kind["area"]}
        sealed = elder["id_number_sealed"]
        return _json({
            "id": elder["id"], "code": elder["code"], "name": elder["name"],
            "gender": elder["gender"], "birth_date": elder["birth_date"],
            "age": _age(elder["birth_date"], datetime.now(UTC).date()),
            "id_number_masked": mask_id_number(request.app[CIPHER].open(sealed)) if sealed else None,
            "address": elder["address"], "area_path": elder["path"],
            "areas": [{"code": a["t1"], "name": a["t2"], "level": a["t3"]}
                      for a in (areas[c] for c in codes if c in areas)],
            "phones": [p["t1"] for p in sorted(by_kind["phone"], key=lambda p: p["id"])],
            "devices": [{"device_id": d["t1"], "active": d["flag"]}
                        for d in sorted(by_kind["device"], key=lambda d: d["t1"])],
            "contacts": [{"id": c["id"], "role": c["t1"], "priority": c["priority"], "name": c["t2"],
                          "relation": c["t3"], "phone": c["t4"], "email": c["t5"]}
                         for c in sorted(by_kind["contact"], key=lambda c: (c["t1"], c["priority"]))],
            "provider": {"code": elder["provider_code"], "name": elder["provider_name"],
                         "phone": elder["provider_phone"]} if elder["provider_code"] else None,
            "lives_alone": elder["lives_alone"], "disabled": elder["disabled"],
            "health_notes": elder["health_notes"], "status": elder["status"],
        })

    return await _with_session(request, work)


async def login_page(_request: web.Request) -> web.Response:
    """GET /login: the readiness probe bench/web.py polls."""
    return web.Response(text="floor")


async def serve(args: argparse.Namespace) -> None:
    """Serve until killed."""
    app = web.Application()
    app[POOL] = await asyncpg.create_pool(args.database_url, min_size=args.pool, max_size=args.pool)
    app[CIPHER] = FieldCipher(args.secret_key.encode())
    app[CACHE] = {}
    app[CACHE_SECONDS] = args.cache_seconds
    app.router.add_get("/login", login_page)
    app.router.add_get("/api/elders", search)
    app.router.add_get(r"/api/elders/{elder_id:\d+}", profile)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.port).start()
    await asyncio.Event().wait()


def main() -> None:
    """Parse the options and serve."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True, help="a plain postgresql:// URL")
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--pool", type=int, default=10)
    parser.add_argument("--cache-seconds", type=float, default=5.0)
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
