"""The care call's recording (B §5.10): a snoop on the elder's channel, recorded over ARI.

A channel recording would hold the channel's prompts back until it ends (ARI runs a
channel's commands one after another), so the app snoops on the channel (``spy=both``:
the elder and what is played to them) and records the snoop, named after the call
(``care-<task>-<attempt>``, the call row's id). The snoop ends with the channel; leaving
for the hotline (key 2) ends it too, where the dialplan's MixMonitor takes over. When the
call is over the recording is announced on the bus (``recording.ready``, servers only) for
the recordings feature to take through ARI's stored-recording download.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

from sqlalchemy import update

from callcenter.asterisk import AriClient, AriError, AriEvent, StasisRouter, StasisStart
from callcenter.bus import SERVERS_ONLY, BusMessage
from callcenter.calls.models import Call
from callcenter.logs import get_logger
from callcenter.store.engine import SessionFactory

log = get_logger(__name__)

#: The snoop channel's id prefix: ``rec-care-<task>-<attempt>``.
SNOOP_PREFIX = "rec-"
READY_TOPIC = "recording.ready"


def snoop_id(call_id: str) -> str:
    """The recording snoop of a care call."""
    return f"{SNOOP_PREFIX}{call_id}"


class CareRecorder:
    """Starts, stops and announces the recordings of care calls."""

    def __init__(self, client: Callable[[str | None], AriClient], sessions: SessionFactory,
                 publish: Callable[[BusMessage], Awaitable[None]]) -> None:
        self._client = client
        self.sessions = sessions
        self._publish = publish
        self._router: StasisRouter | None = None

    def attach(self, router: StasisRouter) -> None:
        self._router = router

    async def start(self, call_id: str, node: str) -> None:
        """The elder answered: snoop on the channel; the snoop is recorded once in Stasis."""
        snoop = snoop_id(call_id)
        if self._router is not None:
            self._router.claim(snoop, self._snoop_event)
        client = self._client(node)
        try:
            await client.channels.snoop(call_id, client.app, spy="both", snoop_id=snoop)
        except AriError as err:
            log.warning("care call not recorded: the snoop was refused", call=call_id,
                        error=err.message)
            return
        try:
            async with self.sessions.begin() as session:
                await session.execute(update(Call).where(Call.id == call_id).values(
                    recording_name=call_id))
        except Exception as err:  # noqa: BLE001 - the announcement at the end links it anyway
            log.warning("care call's recording not noted on its row", call=call_id,
                        error=repr(err))

    async def _snoop_event(self, event: AriEvent) -> None:
        if not isinstance(event, StasisStart):
            return
        snoop = event.channel.id
        call_id = snoop.removeprefix(SNOOP_PREFIX)
        client = self._client(event.node)
        try:
            await client.channels.record(snoop, call_id, "wav", if_exists="overwrite")
        except AriError as err:
            log.warning("care call not recorded: the recording was refused", call=call_id,
                        error=err.message)
            with contextlib.suppress(AriError):
                await client.channels.hangup(snoop)

    async def stop(self, call_id: str, node: str) -> None:
        """End the recording (the snoop goes; Asterisk closes the file)."""
        with contextlib.suppress(AriError):
            await self._client(node).channels.hangup(snoop_id(call_id))

    async def finished(self, call_id: str, node: str) -> None:
        """The call is over: its recording stopped and announced for capture."""
        await self.stop(call_id, node)
        await self._publish(BusMessage(READY_TOPIC, {"name": call_id, "node": node,
                                                     "call_id": call_id}, SERVERS_ONLY))
