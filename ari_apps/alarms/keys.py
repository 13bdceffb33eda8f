"""What the alarms feature offers in a process (``Host.get``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.feature import ServiceKey

if TYPE_CHECKING:
    from ari_apps.alarms.mqtt import MqttAlarms
    from ari_apps.alarms.services import AlarmIntake

#: The alarm intake (only in a process that runs the ``calls`` role).
ALARMS: ServiceKey[AlarmIntake] = ServiceKey("alarms")
MQTT: ServiceKey[MqttAlarms] = ServiceKey("alarms.mqtt")
