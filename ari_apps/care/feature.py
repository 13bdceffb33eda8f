"""The care feature: scheduled wellbeing calls, reminders and the one-key call to kin.

- every process: the daily layout of the care calls and the welfare-visit timers;
- ``calls``: the dialler (pacing, surges, paused campaigns), the care call and the
  one-key call to kin on the Stasis router (``care`` and ``kin`` StasisStarts, ``care-``
  and ``kin-`` channels), the attempt and watch timers, the ``care.speech`` command;
- the console: the care page and the care API;
- ``callcenter care call-now|import``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ari_apps.care.keys import CARE
from callcenter.feature import Feature, Host

if TYPE_CHECKING:
    import click
    from aiohttp import web


async def load(host: Host) -> None:
    """Build the care objects this process runs."""
    from ari_apps.care.app import SUBSCRIPTIONS, CareApp
    from ari_apps.care.speech import espeak_slow
    from ari_apps.care.timers import register_layout

    runtime = host.runtime
    register_layout(host.scheduler, runtime.sessions, runtime.settings)
    if host.cluster is None or host.router is None:
        return
    care = CareApp(host.cluster.ari, runtime.settings, runtime.sessions, host.scheduler,
                   runtime.bus, host.outbox.submit_many, speaker=espeak_slow)
    care.attach(host.router, host.commands)
    for topic in SUBSCRIPTIONS:
        await host.subscribe(topic, care.on_bus)
    await care.start()
    await care.catch_up_today()
    host.stack.push_async_callback(care.close)
    host.provide(CARE, care)


def install_console(app: web.Application, host: Host) -> None:
    """The care page and the care API."""
    from ari_apps.care.http import install_web

    install_web(app, host.get(CARE), host.commands)


def commands() -> list[click.Command]:
    from ari_apps.care.cli import care_group

    return [care_group]


FEATURE = Feature(
    name="care",
    models=("ari_apps.care.models",),
    commands=commands,
    load=load,
    web=install_console,
)
