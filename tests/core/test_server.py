"""``callcenter serve``: a role that cannot run stops the process with a failure."""

from __future__ import annotations

import socket

import pytest

from callcenter.server import run_roles
from callcenter.settings import Settings


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_taken_console_port_stops_serve_with_a_failure(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = settings.model_copy(update={"web_bind": f"127.0.0.1:{port}"})
        assert await run_roles(busy, frozenset({"web"})) is False
