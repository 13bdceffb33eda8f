"""``/healthz``: database, Redis and Asterisk status, with a check registry for adapters.

Other components (the ARI adapter) report through :meth:`HealthChecks.register`;
until one registers under a name, that component shows as ``not-configured``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from aiohttp import web
from pydantic import BaseModel
from sqlalchemy import text

from callcenter.logs import get_logger
from callcenter.runtime import Runtime

log = get_logger(__name__)
CHECK_TIMEOUT = 2.0


class CheckResult(BaseModel):
    """One component's status; ``detail`` never holds secrets or personal data."""

    status: Literal["ok", "error", "not-configured"]
    latency_ms: float | None = None
    detail: str | None = None


class HealthReport(BaseModel):
    """The whole product's status: healthy when no component is in error."""

    status: Literal["ok", "error"]
    checks: dict[str, CheckResult]


HealthCheck = Callable[[], Awaitable[CheckResult]]


class HealthChecks:
    """Named checks run concurrently, each under a timeout."""

    def __init__(self) -> None:
        self._checks: dict[str, HealthCheck | None] = {}

    def register(self, name: str, check: HealthCheck | None) -> None:
        """Add or replace a check; None marks the component as not configured."""
        self._checks[name] = check

    async def run(self) -> HealthReport:
        names = list(self._checks)
        results = await asyncio.gather(*(self._run_one(name) for name in names))
        checks = dict(zip(names, results, strict=True))
        healthy = all(r.status != "error" for r in checks.values())
        return HealthReport(status="ok" if healthy else "error", checks=checks)

    async def _run_one(self, name: str) -> CheckResult:
        check = self._checks[name]
        if check is None:
            return CheckResult(status="not-configured")
        started = time.perf_counter()
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                return await check()
        except TimeoutError:
            return CheckResult(status="error", latency_ms=_since(started), detail="timeout")
        except Exception as err:  # noqa: BLE001 - a failing check is a report, not a crash
            log.warning("health check failed", check=name, error=type(err).__name__)
            return CheckResult(status="error", latency_ms=_since(started), detail=type(err).__name__)


def _since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def database_check(runtime: Runtime) -> HealthCheck:
    """A ``SELECT 1`` round trip to the store."""

    async def check() -> CheckResult:
        started = time.perf_counter()
        async with runtime.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return CheckResult(status="ok", latency_ms=_since(started))

    return check


def redis_check(runtime: Runtime) -> HealthCheck | None:
    """A ping through the bus when Redis is configured, else None (not configured)."""
    if not runtime.settings.redis_url:
        return None

    async def check() -> CheckResult:
        started = time.perf_counter()
        ok = await runtime.bus.ping()
        return CheckResult(
            status="ok" if ok else "error", latency_ms=_since(started),
            detail=None if ok else "unreachable",
        )

    return check


def default_checks(runtime: Runtime) -> HealthChecks:
    """Database and Redis checks; Asterisk stays not-configured until its adapter registers."""
    checks = HealthChecks()
    checks.register("database", database_check(runtime))
    checks.register("redis", redis_check(runtime))
    checks.register("asterisk", None)
    checks.register("ami", None)
    return checks


HEALTH = web.AppKey("health", HealthChecks)


async def healthz(request: web.Request) -> web.Response:
    """GET /healthz: 200 when healthy, 503 otherwise."""
    report = await request.app[HEALTH].run()
    return web.json_response(
        text=report.model_dump_json(), status=200 if report.status == "ok" else 503
    )


__all__ = ["HEALTH", "CheckResult", "HealthCheck", "HealthChecks", "HealthReport", "healthz"]
