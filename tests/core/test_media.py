"""Spoken files: held by unguessable name for an owner, served from the process holding
them to any console process, gone with their owner (the SOS briefings and care calls)."""

from __future__ import annotations

import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from callcenter import media
from callcenter.bus import MemoryBus
from callcenter.commands import CommandPath
from callcenter.media import MediaRoute, SpokenFiles, install_media, wav_answer

ROUTE = MediaRoute("/media/test/", re.compile(r"^call-[0-9a-f]{32}\.wav$"), "test.media",
                   "test-media")


async def test_a_file_made_in_one_process_is_served_by_another_until_its_owner_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bus = MemoryBus()
    holder, console = CommandPath(bus, "calls-1"), CommandPath(bus, "console-1")
    files = SpokenFiles()
    holder.handle("test.media", lambda args: _answer(files, args))
    await holder.start()
    await console.start()
    app = web.Application()
    install_media(app, ROUTE, console)
    try:
        first = files.add("call-a", "call", b"RIFF-first")
        second = files.add("call-a", "call", b"RIFF-second")
        other = files.add("call-b", "call", b"RIFF-other")
        assert ROUTE.names.match(first) and first != second
        async with TestClient(TestServer(app)) as client:
            response = await client.get(f"/media/test/{first}")
            assert response.status == 200 and await response.read() == b"RIFF-first"
            assert response.content_type == "audio/wav"
            assert response.headers["Cache-Control"] == "no-store"
            monkeypatch.setattr(media, "MEDIA_WITHIN", 0.2)  # nobody holds these: no wait
            guessed = "call-" + "0" * 32 + ".wav"
            for path in (f"/media/test/{guessed}", "/media/test/x.wav", "/media/test/"):
                assert (await client.get(path)).status == 404, path
            files.drop("call-a")  # the call ended
            for name in (first, second):
                assert (await client.get(f"/media/test/{name}")).status == 404
            assert (await client.get(f"/media/test/{other}")).status == 200
            assert len(files) == 1 and other in files
    finally:
        await console.close()
        await holder.close()


async def _answer(files: SpokenFiles, args: dict[str, object]) -> dict[str, object] | None:
    return wav_answer(files.get(str(args.get("name", ""))))
