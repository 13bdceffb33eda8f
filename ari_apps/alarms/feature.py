"""The device-alarm feature: alarms over HTTP and MQTT become SOS-like calls.

- ``calls``: the alarm intake over the SOS app, and the MQTT subscriber when configured
  (a shared subscription: several ``calls`` processes handle each alarm once);
- the console: ``POST /api/alarms`` (503 in a process without call control);
- ``callcenter device token|revoke``; the ``device_alarms`` table (receipts of repeats).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ari_apps.alarms.keys import ALARMS, MQTT
from ari_apps.sos.keys import SOS
from callcenter.feature import Feature, Host

if TYPE_CHECKING:
    import click
    from aiohttp import web


async def load(host: Host) -> None:
    """With call control: the alarm intake, and the MQTT subscriber when configured."""
    from ari_apps.alarms.mqtt import MqttAlarms
    from ari_apps.alarms.services import AlarmIntake

    sos = host.get(SOS)
    if sos is None:
        return
    settings = host.runtime.settings
    intake = AlarmIntake(sos, host.runtime.sessions, settings)
    host.provide(ALARMS, intake)
    if settings.mqtt_url:
        mqtt = MqttAlarms.from_settings(settings, intake)
        mqtt.start()
        host.stack.push_async_callback(mqtt.close)
        host.provide(MQTT, mqtt)


def commands() -> Sequence[click.Command]:
    """``callcenter device``: device tokens."""
    from ari_apps.alarms.cli import device_group

    return (device_group,)


def install_console(app: web.Application, host: Host) -> None:
    """``POST /api/alarms``."""
    from ari_apps.alarms.http import install_web

    install_web(app, host.get(ALARMS))


FEATURE = Feature(
    name="alarms",
    models=("ari_apps.alarms.models",),
    commands=commands,
    load=load,
    web=install_console,
)
