"""The device-alarm feature: alarms over HTTP and MQTT become SOS-like calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ari_apps.sos.keys import ALARMS, MQTT, SOS
from callcenter.feature import Feature, Host

if TYPE_CHECKING:
    from aiohttp import web


async def load(host: Host) -> None:
    """With call control: the alarm intake, and the MQTT subscriber when configured."""
    from ari_apps.sos.alarms import AlarmIntake
    from ari_apps.sos.mqtt import BrokerAddress, MqttAlarms

    sos = host.get(SOS)
    if sos is None:
        return
    settings = host.runtime.settings
    intake = AlarmIntake(sos, host.runtime.sessions, settings)
    host.provide(ALARMS, intake)
    if settings.mqtt_url:
        mqtt = MqttAlarms(BrokerAddress.parse(settings.mqtt_url), intake)
        mqtt.start()
        host.stack.push_async_callback(mqtt.close)
        host.provide(MQTT, mqtt)


def install_console(app: web.Application, host: Host) -> None:
    """``POST /api/alarms`` (503 in a process without call control)."""
    from ari_apps.sos.alarm_http import install_web

    install_web(app, host.get(ALARMS))


FEATURE = Feature(name="alarms", load=load, web=install_console)
