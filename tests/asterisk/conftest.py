"""Fixtures for the Asterisk adapter tests: replay servers and clients wired to them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from ari_replay import AriReplayServer, load_trace

from callcenter.asterisk import AriClient, Backoff


@pytest.fixture
async def ari_server() -> AsyncIterator[AriReplayServer]:
    server = AriReplayServer(records=load_trace("ari-sos-conference.jsonl"))
    await server.start()
    yield server
    await server.close()


def make_client(server: AriReplayServer, **kwargs: object) -> AriClient:
    """A client with fast backoff pointed at a replay server."""
    kwargs.setdefault("backoff", Backoff(initial=0.01, maximum=0.05))
    return AriClient(server.url, "callcenter", "callcenter", "callcenter", node="pbx1", **kwargs)  # type: ignore[arg-type]
