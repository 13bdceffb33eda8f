"""The errors a device alarm can be refused with (HTTP status, MQTT ack ``error``)."""

from __future__ import annotations

from callcenter.errors import DomainError


class InvalidAlarm(DomainError):
    """The alarm does not parse or fails the schema; ``details.errors`` lists every problem."""

    error_id = "invalid-alarm"
    status = 422


class AlarmTooOld(DomainError):
    """The alarm was raised longer ago than ``ALARM_MAX_AGE_SECONDS``: it starts no call."""

    error_id = "alarm-too-old"
    status = 422


class DeviceUnauthorized(DomainError):
    """Wrong or missing token, or no such device (the answer does not tell which)."""

    error_id = "device-unauthorized"
    status = 401


class TooManyAttempts(DomainError):
    """Too many bad tokens for this device or address: refused for ``retry_after`` seconds."""

    error_id = "too-many-attempts"
    status = 429


class DeviceStopped(DomainError):
    """The device is stopped (its elder died, B §7.3.6): its alarms are not accepted."""

    error_id = "device-stopped"
    status = 409


class UnknownDevice(DomainError):
    """The device authenticated but is no longer in the directory."""

    error_id = "unknown-device"
    status = 404


class DeviceNotRegistered(DomainError):
    """No SOS device with that id in the directory (an operator command's error)."""

    error_id = "unknown-device"
    status = 404


class AlarmTooLarge(DomainError):
    """The alarm message is larger than a device ever needs to send."""

    error_id = "alarm-too-large"
    status = 413


class StoreUnavailable(DomainError):
    """The store cannot be reached: the device must retry (it keeps its alarm)."""

    error_id = "store-unavailable"
    status = 503


#: Errors after which the device should send the same alarm again (later).
RETRYABLE = frozenset({StoreUnavailable.error_id, TooManyAttempts.error_id})
