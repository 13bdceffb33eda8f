"""Spoken files Asterisk fetches over HTTP, held in memory by an unguessable name.

Asterisk 22 plays ``sound:http(s)://…`` media through res_http_media_cache, without a
session: a file is reached only by its name (a 128-bit token in it), nothing under a
media path is listed, the answer is never cached on the way, and a file is gone once
what it was made for (a call, an incident) ends. The process that made a file holds it
(``SpokenFiles``); a console process that does not asks the others over the command
path (``MediaRoute.command``), so any console process serves any file.

Personal data (names, addresses, health notes) is spoken in these files: they live in
memory only, and only as long as their owner.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from callcenter.commands import CommandPath
from callcenter.errors import DomainError
from callcenter.settings import Settings

#: How long a console process waits for the process holding a file.
MEDIA_WITHIN = 3.0
#: No cache on the way keeps a file beyond its owner; nothing sniffs it into something else.
HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def media_base_url(settings: Settings) -> str:
    """Where Asterisk reaches the console: the setting, else the console's own address."""
    if settings.media_base_url:
        return settings.media_base_url.rstrip("/")
    host, _, port = settings.web_bind.rpartition(":")
    host = host.strip("[]")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}"


class SpokenFiles:
    """WAV files by unguessable name, each kept for an owner and dropped with it."""

    def __init__(self) -> None:
        self._files: dict[str, bytes] = {}
        self._owned: dict[str, list[str]] = {}

    def add(self, owner: str, stem: str, wav: bytes) -> str:
        """Hold ``wav`` for ``owner``; its name, ``<stem>-<token>.wav``."""
        name = f"{stem}-{secrets.token_hex(16)}.wav"
        self._files[name] = wav
        self._owned.setdefault(owner, []).append(name)
        return name

    def get(self, name: str) -> bytes | None:
        return self._files.get(name)

    def drop(self, owner: str) -> None:
        """``owner`` ended: none of its files is served any more."""
        for name in self._owned.pop(owner, []):
            self._files.pop(name, None)

    def clear(self) -> None:
        self._files.clear()
        self._owned.clear()

    def __getitem__(self, name: str) -> bytes:
        return self._files[name]

    def __contains__(self, name: object) -> bool:
        return name in self._files

    def __len__(self) -> int:
        return len(self._files)

    def __iter__(self) -> Iterator[str]:
        return iter(self._files)


def wav_answer(wav: bytes | None) -> dict[str, Any] | None:
    """A media command's answer: the file, or None when this process does not hold it
    (another may; if none does, the asker times out)."""
    return None if wav is None else {"wav": base64.b64encode(wav).decode("ascii")}


@dataclass(frozen=True)
class MediaRoute:
    """A feature's media path, the names served under it, and the command that finds one."""

    path: str  # e.g. ``/media/care/`` (public: see ``webui.auth.PUBLIC_PREFIXES``)
    names: re.Pattern[str]
    command: str
    route_name: str


def install_media(app: web.Application, route: MediaRoute, commands: CommandPath) -> None:
    """Serve ``route``'s files: by name, from whichever process holds them; 404 otherwise."""

    async def get_media(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if route.names.match(name) is None:
            raise web.HTTPNotFound()
        try:
            result = await commands.call(route.command, {"name": name}, within=MEDIA_WITHIN)
        except DomainError as err:  # unknown here, refused elsewhere, or held by nobody
            raise web.HTTPNotFound() from err
        return web.Response(body=base64.b64decode(result["wav"]), content_type="audio/wav",
                            headers=HEADERS)

    app.router.add_get(route.path + "{name}", get_media, name=route.route_name)
