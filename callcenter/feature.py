"""The feature contract: what a feature brings, declared in one place; the root composes.

A feature (SOS, alarms, the hotline, care calls, the workflow store …) is a package with a
``feature.py`` that builds one :class:`Feature`. The composition root
(``callcenter/registry.py`` lists them, one line each) iterates the features for the roles a
process runs; nothing else names a feature. What a feature may bring:

- ``models``: modules defining its tables (Alembic and the test store import them);
- ``commands``: click commands and groups for ``callcenter``;
- ``journal_kinds``: the write-journal kinds it replays (registered in every process);
- ``load``: builds its long-lived objects in a process, given the :class:`Host`. There it
  registers Stasis routes (``host.router``), AMI handlers (``host.cluster``), bus
  subscriptions (``host.subscribe``), scheduled job kinds (``host.scheduler``) and
  commands other processes may send (``host.commands``), and offers objects to other
  features and to its web part (``host.provide``);
- ``web``: its pages, API routes, console menu entries and page parts, installed on the
  console app, with a web folder of its own (templates, messages, assets: see
  ``webui.pages.add_web_dir``).

The kernel (settings, logs, store, bus, journal, audit, notify, scheduler, commands and
the Asterisk adapters) imports no feature and no ``webui``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from callcenter.bus import BusMessage
from callcenter.logs import get_logger

if TYPE_CHECKING:
    import click

    from callcenter.asterisk import AsteriskCluster, StasisRouter
    from callcenter.commands import CommandPath
    from callcenter.journal import Journal
    from callcenter.notify.outbox import Outbox
    from callcenter.runtime import Runtime
    from callcenter.scheduler import Scheduler

log = get_logger(__name__)
T = TypeVar("T")

#: The roles a process may run (``callcenter serve --role``).
ROLES = ("calls", "notify", "web")


class ServiceKey(Generic[T]):
    """A typed name for an object one feature offers the others (like aiohttp's AppKey)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<ServiceKey {self.name}>"


@dataclass
class Host:
    """What a process offers its features while it runs: the kernel's objects and hooks."""

    runtime: Runtime
    roles: frozenset[str]
    journal: Journal
    outbox: Outbox
    commands: CommandPath
    scheduler: Scheduler
    stack: AsyncExitStack
    #: Call control: set in a process that runs the ``calls`` role.
    cluster: AsteriskCluster | None = None
    router: StasisRouter | None = None
    _services: dict[ServiceKey[Any], Any] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def provide(self, key: ServiceKey[T], value: T) -> None:
        """Offer ``value`` to other features and web parts under ``key``."""
        if key in self._services:
            raise RuntimeError(f"{key.name} is provided twice")
        self._services[key] = value

    def get(self, key: ServiceKey[T]) -> T | None:
        """What a feature loaded earlier offers under ``key`` (None when not in this process)."""
        return cast("T | None", self._services.get(key))

    async def subscribe(
        self, pattern: str, handler: Callable[[BusMessage], Awaitable[None]]
    ) -> None:
        """Run ``handler`` for every bus message matching ``pattern`` while the process runs."""
        subscription = await self.runtime.bus.subscribe(pattern)

        async def pump() -> None:
            async for message in subscription:
                try:
                    await handler(message)
                except Exception:  # noqa: BLE001 - task boundary: one bad message, not the pump
                    log.exception("bus handler failed", pattern=pattern, topic=message.topic)

        task = asyncio.get_running_loop().create_task(pump(), name=f"bus-{pattern}")
        self._tasks.add(task)

        async def stop() -> None:
            await subscription.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._tasks.discard(task)

        self.stack.push_async_callback(stop)


@dataclass(frozen=True)
class Feature:
    """One feature's declaration: everything it brings, in one place."""

    name: str
    models: Sequence[str] = ()
    commands: Callable[[], Sequence[click.Command]] | None = None
    journal_kinds: Callable[[Journal], None] | None = None
    load: Callable[[Host], Awaitable[None]] | None = None
    #: ``web(app, host)``: pages, API routes (``app[API].add``) and menu entries.
    web: Callable[[Any, Host], None] | None = None
