"""The live view's pushes, in each console process: the hotline's topics laid over the
figures and sent to the supervisors' and admins' sockets of this process.

Queue and agent state (``hotline.queue.changed``, ``hotline.agent.changed``) go out at
once; a call that was answered or ended makes the figures be read again from the stored
calls, at most once per ``refresh`` seconds and only while a supervisor is watching.
Each frame carries its queue's or agent's area, so the hub's audience rules keep it
within each viewer's jurisdiction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from ari_apps.wallboard.services import Changes, Wallboard
from callcenter.bus import BusMessage, Subscription
from callcenter.directory.services import Jurisdiction
from callcenter.logs import get_logger
from callcenter.store.engine import ReadLease
from webui.ws import WsHub

log = get_logger(__name__)
VIEW_ROLES = ["supervisor", "admin"]
_ALL = Jurisdiction(None)


class LivePush:
    """Hotline topics in, ``wallboard.*`` frames out."""

    def __init__(self, board: Wallboard, hub: WsHub, lease: Callable[[], ReadLease],
                 refresh: float = 1.0) -> None:
        self.board = board
        self._hub = hub
        self._lease = lease
        self._refresh = refresh
        self._dirty = asyncio.Event()
        self.queue_rows: dict[str, dict[str, Any]] = {}
        self.agent_rows: dict[str, dict[str, Any]] = {}
        self.rounds = 0  # figure reads done (tests wait on it)

    def _watching(self) -> bool:
        return any(c.principal.role in VIEW_ROLES for c in self._hub.clients)

    def _queue_audience(self, queue: str) -> dict[str, Any]:
        path = self.board.queue_path(queue)
        return {"roles": VIEW_ROLES, **({"area_path": path} if path else {})}

    def _agent_audience(self, agent: str) -> dict[str, Any]:
        return {"roles": VIEW_ROLES, "area_path": self.board.agent_paths.get(agent, "")}

    async def read(self, read: Callable[[Any], Any]) -> Any:
        lease = self._lease()
        try:
            return await lease.run(read)
        finally:
            await lease.release()

    async def start(self) -> None:
        """The live state from the stored rows, once (a store that is down is retried by
        the next figures round)."""
        try:
            await self.read(self.board.resync)
        except Exception as err:  # noqa: BLE001 - the view starts anyway; figures retry
            log.warning("wallboard resync failed; retried with the figures", error=str(err))

    def handle(self, message: BusMessage) -> Changes:
        changes = self.board.apply(message.topic, message.payload)
        now = self.board.clock()
        for queue in changes.queues:
            row = self.queue_rows.get(queue)
            if row is None:
                self._dirty.set()
                continue
            live = self.board.queue_row(queue, _counts_of(row), True, now)
            self.queue_rows[queue] = live
            self._hub.deliver(BusMessage("wallboard.queue", live, self._queue_audience(queue)))
        for agent in changes.agents:
            row = self.agent_rows.get(agent)
            state = self.board.agents.get(agent)
            if row is None or state is None:
                self._dirty.set()
                continue
            row = {**row, "state": state.state, "reason": state.reason,
                   "since": state.since.isoformat() if state.since else None}
            self.agent_rows[agent] = row
            self._hub.deliver(BusMessage("wallboard.agent", row, self._agent_audience(agent)))
        if changes.callbacks:
            self._hub.deliver(BusMessage("wallboard.callbacks",
                                         {"pending": self.board.callbacks_pending},
                                         {"roles": VIEW_ROLES}))
        if changes.figures:
            self._dirty.set()
        return changes

    async def figures_round(self) -> None:
        """Read today's figures again and send every queue and agent row."""
        if not self.board.synced:
            await self.read(self.board.resync)
        view = await self.read(lambda conn: self.board.snapshot(conn, _ALL))
        self.rounds += 1
        for row in view["queues"]:
            self.queue_rows[row["queue"]] = row
            self._hub.deliver(BusMessage("wallboard.queue", row, self._queue_audience(row["queue"])))
        for row in view["agents"]:
            self.agent_rows[row["agent"]] = row
            self._hub.deliver(BusMessage("wallboard.agent", row, self._agent_audience(row["agent"])))
        self._hub.deliver(BusMessage("wallboard.figures", {"generated_at": view["generated_at"]},
                                     {"roles": VIEW_ROLES}))

    async def pump(self, subscription: Subscription) -> None:
        async for message in subscription:
            try:
                self.handle(message)
            except Exception:  # noqa: BLE001 - task boundary: one bad message, not the view
                log.exception("wallboard push failed", topic=message.topic)

    async def refresher(self) -> None:
        """At most one figures round per ``refresh`` seconds, while somebody watches."""
        while True:
            await self._dirty.wait()
            if self._watching():
                self._dirty.clear()
                try:
                    await self.figures_round()
                except Exception as err:  # noqa: BLE001 - store away: the next round retries
                    log.warning("wallboard figures round failed", error=str(err))
                    self._dirty.set()
            await asyncio.sleep(self._refresh)


def _counts_of(row: dict[str, Any]) -> Any:
    from ari_apps.wallboard.figures import Counts

    return Counts(row["offered"], row["answered"], row["abandoned"], row["short_abandoned"],
                  row["answered_within"], row["answered_wait_seconds"], row["handling_seconds"])


async def run(push: LivePush, subscription: Subscription) -> None:
    """The pump and the refresher together, until cancelled."""
    tasks = [asyncio.create_task(push.pump(subscription), name="wallboard-pump"),
             asyncio.create_task(push.refresher(), name="wallboard-refresh")]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
