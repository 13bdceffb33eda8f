"""Device alarms over MQTT (C §5.1.2, D §4.2.4): subscribe, hand to the intake, acknowledge.

Contract (QoS 1 both ways):
- a device publishes to ``devices/<device id>/alarm`` the JSON of ``POST /api/alarms``
  plus its token: ``{"type", "id", "at", "detail"?, "token"}``;
- the product answers on ``devices/<device id>/alarm/ack``:
  ``{"id": <alarm id>, "status": "accepted", "incident": <id>, "duplicate": bool}`` or
  ``{"id": <alarm id or null>, "status": "rejected", "error": <error id>, "retry": bool}``
  (``problems`` lists what is wrong with an ``invalid-alarm``, ``retry_after`` the seconds
  of a ``too-many-attempts``). A device resends the same alarm (same id) until it gets an
  ack; ``retry: true`` asks it to resend later, too.

Every ``calls`` process subscribes to the MQTT 5 shared subscription
``$share/<group>/devices/+/alarm``: the broker hands each alarm to one of them. The session
is persistent (a stable client id, ``clean_start`` off): alarms the broker routed to a
process while it reconnects are kept for it, for ``session_expiry`` seconds (the
alarm's maximum age: an older alarm is refused anyway, ``alarm-too-old``). A lost broker
connection is retried with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import re
import socket
import ssl
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from ari_apps.alarms.exceptions import RETRYABLE
from ari_apps.alarms.schemas import (
    ALARM_ID_PATTERN,
    DEVICE_ID_PATTERN,
    MAX_ALARM_BYTES,
    AlarmPayload,
    AlarmReceipt,
    MqttAlarmPayload,
)
from callcenter.asterisk.backoff import Backoff
from callcenter.errors import DomainError
from callcenter.logs import get_logger
from callcenter.settings import Settings

log = get_logger(__name__)

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)
_ALARM_ID = re.compile(ALARM_ID_PATTERN)
PUBLISH_TIMEOUT = 5.0


class Intake(Protocol):
    """What the subscriber hands alarms to (``services.AlarmIntake``)."""

    def parse(self, raw: bytes, model: type[AlarmPayload] = ...) -> AlarmPayload: ...

    async def submit(
        self, device_id: str, token: str, alarm: AlarmPayload, *, via: str,
        client: str | None = None,
    ) -> AlarmReceipt: ...


def default_client_id() -> str:
    """``callcenter-<host name>``: stable across restarts, so the broker keeps the session."""
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())
    return f"callcenter-{host}"[:64]


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """Where the MQTT broker is, from ``mqtt_url`` (``mqtt://user:pass@host:1883``)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse ``mqtt://`` or ``mqtts://`` URLs; ValueError names what is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"expected mqtt://host[:port] or mqtts://…, got {parts.scheme}://…")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=parts.port or (8883 if tls else 1883),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=tls,
        )


class MqttAlarms:
    """The subscriber on ``$share/<group>/<root>/+/alarm``: one owned task, reconnecting
    until closed. Without a ``client_id`` the session is clean (tests, one-off tools)."""

    def __init__(
        self,
        address: BrokerAddress,
        intake: Intake,
        *,
        topic_root: str = "devices",
        share_group: str | None = "callcenter",
        client_id: str | None = None,
        session_expiry: int = 600,
        backoff: tuple[float, float] = (0.5, 30.0),
        max_in_flight: int = 64,
    ) -> None:
        self.address = address
        self.intake = intake
        self.topic_root = topic_root
        self.share_group = share_group
        self.client_id = client_id
        self.session_expiry = session_expiry
        self.backoff = backoff
        self.connected = asyncio.Event()
        self.connections = 0  # how many times a subscription was made (tests, health)
        self._connections_changed = asyncio.Condition()
        self._slots = asyncio.Semaphore(max_in_flight)
        self._task: asyncio.Task[None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, intake: Intake) -> MqttAlarms:
        """The product's subscriber: broker, group and client id from the settings."""
        assert settings.mqtt_url is not None
        return cls(BrokerAddress.parse(settings.mqtt_url), intake,
                   share_group=settings.mqtt_share_group,
                   client_id=settings.mqtt_client_id or default_client_id(),
                   session_expiry=settings.alarm_max_age_seconds)

    @property
    def subscription(self) -> str:
        """The topic filter subscribed to (shared when a group is set)."""
        topic = f"{self.topic_root}/+/alarm"
        return f"$share/{self.share_group}/{topic}" if self.share_group else topic

    def start(self) -> None:
        """Start the subscriber task."""
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mqtt-alarms")

    async def close(self) -> None:
        """Stop receiving; cancel alarms still being handled (their devices resend)."""
        tasks = [t for t in (self._task, *self._handlers) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.connected.clear()

    async def wait_connections(self, count: int) -> None:
        """Until the subscription has been made ``count`` times (the first, and reconnects)."""
        async with self._connections_changed:
            await self._connections_changed.wait_for(lambda: self.connections >= count)

    async def _run(self) -> None:
        backoff = Backoff(initial=self.backoff[0], maximum=self.backoff[1])
        while True:
            try:
                await self._session()
            except aiomqtt.MqttError as err:
                if self.connected.is_set():
                    backoff.reset()  # the connection worked: retry soon
                self.connected.clear()
                delay = backoff.next_delay()
                log.warning("mqtt broker unreachable; reconnecting", host=self.address.host,
                            port=self.address.port, error=str(err), retry_in=round(delay, 2))
            except Exception as err:  # noqa: BLE001 - the task boundary: log, then reconnect
                self.connected.clear()
                delay = backoff.next_delay()
                log.error("mqtt alarm subscriber failed; reconnecting", exc_info=err)
            await asyncio.sleep(delay)

    def _client(self) -> aiomqtt.Client:
        address = self.address
        properties = Properties(PacketTypes.CONNECT)
        persistent = self.client_id is not None
        # MQTT 5 ends a session on disconnect unless it has an expiry interval.
        properties.SessionExpiryInterval = self.session_expiry if persistent else 0
        return aiomqtt.Client(
            address.host, address.port, username=address.username, password=address.password,
            tls_context=ssl.create_default_context() if address.tls else None,
            keepalive=30, timeout=10, identifier=self.client_id,
            protocol=aiomqtt.ProtocolVersion.V5, clean_start=not persistent,
            properties=properties,
        )

    async def _session(self) -> None:
        async with self._client() as client:
            await client.subscribe(self.subscription, qos=1)
            async with self._connections_changed:
                self.connections += 1
                self.connected.set()
                self._connections_changed.notify_all()
            log.info("mqtt alarm subscriber connected", host=self.address.host,
                     port=self.address.port, subscription=self.subscription,
                     client_id=self.client_id)
            async for message in client.messages:
                await self._slots.acquire()
                task = asyncio.get_running_loop().create_task(
                    self._handle(client, str(message.topic), _payload_bytes(message.payload)),
                    name="mqtt-alarm",
                )
                self._handlers.add(task)
                task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handlers.discard(task)
        self._slots.release()

    async def _handle(self, client: aiomqtt.Client, topic: str, payload: bytes) -> None:
        """One alarm message: the task boundary, so a failure is logged and acked."""
        device_id = topic[len(self.topic_root) + 1 : -len("/alarm")]
        if not _DEVICE_ID.match(device_id):
            log.warning("mqtt alarm dropped: malformed device id in topic", bytes=len(payload))
            return
        ack: dict[str, Any]
        try:
            ack = await self._accept(device_id, payload)
        except Exception as err:  # noqa: BLE001 - the task boundary: log, ack, go on
            log.error("mqtt alarm failed", device_id=device_id, exc_info=err)
            ack = {"id": _peek_id(payload), "status": "rejected", "error": "internal",
                   "retry": True}
        try:
            async with asyncio.timeout(PUBLISH_TIMEOUT):
                await client.publish(f"{self.topic_root}/{device_id}/alarm/ack",
                                     orjson.dumps(ack), qos=1)
        except (aiomqtt.MqttError, TimeoutError) as err:
            # The device gets no ack and resends; a repeat gets the same answer.
            log.warning("mqtt alarm ack not sent", device_id=device_id, error=str(err))

    async def _accept(self, device_id: str, payload: bytes) -> dict[str, Any]:
        alarm_id: str | None = None
        try:
            alarm = self.intake.parse(payload, MqttAlarmPayload)
            assert isinstance(alarm, MqttAlarmPayload)
            alarm_id = alarm.id
            receipt = await self.intake.submit(device_id, alarm.token, alarm, via="mqtt")
        except DomainError as err:
            log.warning("mqtt alarm rejected", device_id=device_id, alarm_id=alarm_id,
                        reason=err.error_id, problems=_problems(err))
            ack: dict[str, Any] = {"id": alarm_id or _peek_id(payload), "status": "rejected",
                                   "error": err.error_id, "retry": err.error_id in RETRYABLE}
            if "errors" in err.details:
                ack["problems"] = err.details["errors"]
            if "retry_after" in err.details:
                ack["retry_after"] = err.details["retry_after"]
            return ack
        return {"id": receipt.id, "status": "accepted", "incident": receipt.incident,
                "duplicate": receipt.duplicate}


def _payload_bytes(payload: Any) -> bytes:
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    if isinstance(payload, str):
        return payload.encode()
    return b""  # aiomqtt hands numbers/None only for payloads it built itself


def _peek_id(payload: bytes) -> str | None:
    """The alarm id of a message that failed validation, when one can be read, for the ack."""
    if len(payload) > MAX_ALARM_BYTES:
        return None
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return value if isinstance(value, str) and _ALARM_ID.match(value) else None


def _problems(err: DomainError) -> list[str]:
    """Where an invalid alarm is wrong, without any of its values (they may be personal)."""
    return [".".join(e["loc"]) + ": " + e["type"] for e in err.details.get("errors", [])]
