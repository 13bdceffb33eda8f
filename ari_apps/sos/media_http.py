"""``GET /media/briefings/<name>``: the per-incident speech Asterisk fetches and plays.

Served as every spoken file is (``callcenter.media``): by its unguessable name only
(``briefing.MEDIA_NAME``), from the process hosting the incident (the ``sos.briefing``
command), gone once the incident ends.
"""

from __future__ import annotations

from aiohttp import web

from ari_apps.sos.briefing import MEDIA_NAME, MEDIA_PATH
from callcenter import media
from callcenter.commands import CommandPath

BRIEFINGS = media.MediaRoute(MEDIA_PATH, MEDIA_NAME, "sos.briefing", "sos-briefing")


def install_media(app: web.Application, commands: CommandPath) -> None:
    """The briefing route (public: see ``webui.auth.PUBLIC_PREFIXES``)."""
    media.install_media(app, BRIEFINGS, commands)
