"""The command path: one process asks, the process that can act answers, over the bus."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from callcenter.bus import Bus, MemoryBus
from callcenter.bus.redis import RedisBus
from callcenter.commands import CommandFailed, CommandPath, CommandTimeout
from callcenter.errors import DomainError
from tests.conftest import REDIS_URL


class Refused(DomainError):
    error_id = "incident-not-active"
    status = 409


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[Bus]:
    shared: Bus = MemoryBus() if request.param == "memory" else RedisBus(REDIS_URL)
    await shared.start()
    yield shared
    await shared.close()


async def _path(bus: Bus, name: str, handler: Any = None) -> CommandPath:
    path = CommandPath(bus, process=name)
    if handler is not None:
        path.handle("sos.join", handler)
    await path.start()
    return path


async def test_the_process_that_hosts_the_target_answers_the_others_stay_silent(bus: Bus) -> None:
    async def host_a(args: dict[str, Any]) -> dict[str, Any] | None:
        return {"leg": "a-leg", "by": "a"} if args["incident"] == "A" else None

    async def host_b(args: dict[str, Any]) -> dict[str, Any] | None:
        return {"leg": "b-leg", "by": "b"} if args["incident"] == "B" else None

    a, b, console = (await _path(bus, "a", host_a), await _path(bus, "b", host_b),
                     await _path(bus, "console"))
    try:
        assert await console.call("sos.join", {"incident": "B"}, within=5) == {
            "leg": "b-leg", "by": "b"}
        assert await console.call("sos.join", {"incident": "A"}, within=5) == {
            "leg": "a-leg", "by": "a"}
        # A process that hosts the target itself answers without the bus.
        assert await a.call("sos.join", {"incident": "A"}, within=5) == {"leg": "a-leg", "by": "a"}
    finally:
        for path in (a, b, console):
            await path.close()


async def test_the_owner_s_refusal_reaches_the_caller_with_its_id_and_status(bus: Bus) -> None:
    async def refuse(args: dict[str, Any]) -> dict[str, Any] | None:
        raise Refused("the incident's conference has ended", {"incident": args["incident"]})

    owner, console = await _path(bus, "owner", refuse), await _path(bus, "console")
    try:
        with pytest.raises(CommandFailed) as failed:
            await console.call("sos.join", {"incident": "X"}, within=5)
        assert (failed.value.error_id, failed.value.status) == ("incident-not-active", 409)
        assert failed.value.details == {"incident": "X"}
    finally:
        await owner.close()
        await console.close()


async def test_nobody_answering_is_a_clear_timeout(bus: Bus) -> None:
    async def not_mine(args: dict[str, Any]) -> dict[str, Any] | None:
        return None

    other, console = await _path(bus, "other", not_mine), await _path(bus, "console")
    try:
        with pytest.raises(CommandTimeout) as timed_out:
            await console.call("sos.join", {"incident": "nowhere"}, within=0.3)
        assert timed_out.value.status == 504
    finally:
        await other.close()
        await console.close()
