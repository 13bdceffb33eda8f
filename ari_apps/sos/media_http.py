"""``GET /media/briefings/<name>``: the per-incident speech Asterisk fetches and plays.

Asterisk 22 fetches ``sound:http(s)://…`` media through res_http_media_cache, without a
session: the file is reached only by its unguessable name (``briefing.MEDIA_NAME``),
nothing under the path is listed, and a file is gone once its incident ends. The process
that hosts the conference holds the file; another console process asks it over the
command path.
"""

from __future__ import annotations

import base64

from aiohttp import web

from ari_apps.sos.briefing import MEDIA_NAME, MEDIA_PATH
from callcenter.commands import CommandPath
from callcenter.errors import DomainError

COMMANDS = web.AppKey("sos.media.commands", CommandPath)
#: How long a console process waits for the process hosting the incident.
MEDIA_WITHIN = 3.0


async def get_briefing(request: web.Request) -> web.Response:
    """The WAV of one incident's briefing or prompt; 404 for anything else."""
    name = request.match_info["name"]
    if MEDIA_NAME.match(name) is None:
        raise web.HTTPNotFound()
    try:
        result = await request.app[COMMANDS].call("sos.briefing", {"name": name},
                                                  within=MEDIA_WITHIN)
    except DomainError as err:  # unknown here, refused elsewhere, or hosted by nobody
        raise web.HTTPNotFound() from err
    return web.Response(
        body=base64.b64decode(result["wav"]), content_type="audio/wav",
        # Personal data: no cache on the way keeps it beyond the incident.
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def install_media(app: web.Application, commands: CommandPath) -> None:
    """The briefing route (public: see ``webui.auth.PUBLIC_PREFIXES``)."""
    app[COMMANDS] = commands
    app.router.add_get(MEDIA_PATH + "{name}", get_briefing, name="sos-briefing")
