"""The screen-pop: what an agent's console shows while their phone rings for a queue call.

It consumes the hotline's call topics (``hotline.call.ringing``, ``…answered``,
``…stopped_ringing``, ``…ended``) in each console process, so it needs nothing of the
hotline's in-process objects: a web-only process pops too. Its one table keeps the pops
showing now, for a reload.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.feature import Feature, Host

if TYPE_CHECKING:
    from aiohttp import web


def install_console(app: web.Application, host: Host) -> None:
    """The pop on every page, its API and its relay; a console process without the calls
    role also reads AgentCalled off AMI sessions of its own (``SCREENPOP_AMI``)."""
    from ari_apps.screenpop.http import install_web
    from callcenter.asterisk.ami import ami_client_for

    settings = host.runtime.settings
    watch = settings.screenpop_ami and "calls" not in host.roles
    install_web(app, [ami_client_for(node, events="agent") for node in settings.nodes]
                if watch else ())


FEATURE = Feature(
    name="screenpop",
    models=("ari_apps.screenpop.models",),
    web=install_console,
)
