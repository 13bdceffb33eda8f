"""Device alarms over MQTT (real Mosquitto), a real store, the SOS app on the simulator."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import orjson
from sqlalchemy import select
from structlog.testing import capture_logs

from ari_apps.alarms.flows import AlarmConference, KinAlert
from ari_apps.alarms.keys import ALARMS, MQTT
from ari_apps.alarms.mqtt import BrokerAddress, MqttAlarms
from ari_apps.alarms.schemas import AlarmPayload, AlarmReceipt, parse_alarm
from ari_apps.alarms.services import AlarmIntake
from ari_apps.sos.models import LegRole, LegState
from callcenter.bus import MemoryBus
from callcenter.composition import open_product
from callcenter.notify.models import Notification
from callcenter.pbxsim.server import PbxSimulator
from callcenter.settings import Settings
from tests.alarms.support import (
    BROKER,
    WAIT,
    Device,
    alarm,
    device_on,
    free_port,
    nothing_started,
    private_broker,
    subscriber,
)
from tests.sos.conftest import DEVICE, KIN, SosHarness, leg_states


async def test_a_fall_over_mqtt_becomes_a_conference(
    sos: SosHarness, device: Device, token: str
) -> None:
    ack = await device.send(alarm("fall", "f-1", token=token))
    assert ack["status"] == "accepted" and ack["id"] == "f-1"
    conference = sos.app.conferences[ack["incident"]]
    assert isinstance(conference, AlarmConference) and conference.kind == "fall"
    await conference.wait_for(lambda c: f"{c.id}-c0" in c.legs)
    assert (await device.send(alarm("fall", "f-1", token=token)))["incident"] == conference.id
    assert len(sos.app.conferences) == 1


async def test_inactivity_over_mqtt_calls_kin_with_the_spoken_message(
    sos: SosHarness, device: Device, token: str
) -> None:
    played: list[str] = []
    play = sos.sim.media.play

    def recording_play(target: Any, media: str, *args: Any, **kwargs: Any) -> Any:
        played.append(media)
        return play(target, media, *args, **kwargs)

    sos.sim.media.play = recording_play  # type: ignore[method-assign]
    ack = await device.send(alarm("inactivity", "i-1", token=token))
    assert ack["status"] == "accepted"
    alert = sos.app.conferences[ack["incident"]]
    assert isinstance(alert, KinAlert)
    await alert.wait_for(lambda c: len(leg_states(c, LegRole.KIN)) == 1)
    assert leg_states(alert, LegRole.KIN)[0][0] == KIN[0]  # one at a time, by priority
    await sos.advance(1)  # kin 1 answers
    await alert.wait_for(lambda c: c.legs[f"{c.id}-k0"].state is LegState.ANSWERED
                         or c.done.is_set())
    await sos.advance(3)  # the spoken message plays to the end
    await alert.wait_for(lambda c: c.done.is_set())
    assert alert.outcome == "delivered"
    assert "sound:callcenter/alarm-inactivity" in played
    assert not sos.sim.model.bridges
    await sos.settle_store()
    async with sos.sessions() as session:
        sms = (await session.execute(
            select(Notification.recipient).where(Notification.channel == "sms"))).scalars().all()
    assert f"+86{KIN[0]}" in sms
    started = next(m for m in sos.published if m.topic == "sos.started")
    assert started.payload["kind"] == "inactivity"
    assert started.audience["roles"] == ["agent", "supervisor"]


async def test_garbage_on_mqtt_is_logged_rejected_and_starts_nothing(
    sos: SosHarness, device: Device, token: str
) -> None:
    with capture_logs() as logs:
        garbage = await device.send(b"\x00\xff not json")
        no_token = await device.send(alarm("sos", "g-2"))
        wrong = await device.send(alarm("sos", "g-3", token="wrong-token"))
        stranger = await device.send(alarm("sos", "g-4", token=token), device="SOS-9999")
    assert garbage == {"id": None, "status": "rejected", "error": "invalid-alarm",
                       "retry": False, "problems": garbage["problems"]}
    assert no_token["id"] == "g-2" and no_token["error"] == "invalid-alarm"
    assert ["token"] in [p["loc"] for p in no_token["problems"]]
    assert wrong == {"id": "g-3", "status": "rejected", "error": "device-unauthorized",
                     "retry": False}
    assert stranger["error"] == "device-unauthorized"
    rejected = [e for e in logs if e["event"] == "mqtt alarm rejected"]
    assert [(e["device_id"], e["reason"]) for e in rejected] == [
        (DEVICE, "invalid-alarm"), (DEVICE, "invalid-alarm"), (DEVICE, "device-unauthorized"),
        ("SOS-9999", "device-unauthorized"),
    ]
    assert "wrong-token" not in repr(logs) and token not in repr(logs)
    assert nothing_started(sos)



async def test_the_subscriber_reconnects_after_a_broker_restart(
    sos: SosHarness, intake: AlarmIntake, token: str
) -> None:
    port = free_port()
    address = BrokerAddress("127.0.0.1", port)
    alarms = MqttAlarms(address, intake, backoff=(0.05, 0.5))
    try:
        async with private_broker(port):
            alarms.start()
            await asyncio.wait_for(alarms.wait_connections(1), WAIT)
        # The broker was killed on leaving the block above; it comes back on the same port.
        async with private_broker(port):
            await asyncio.wait_for(alarms.wait_connections(2), WAIT)
            async with device_on(address, "devices") as one:
                ack = await one.send(alarm("fall", "r-1", token=token))
    finally:
        await alarms.close()
    assert ack["status"] == "accepted"
    assert ack["incident"] in sos.app.conferences


async def test_the_calls_role_owns_the_mqtt_subscriber(
    sim: PbxSimulator, settings: Settings
) -> None:
    port = free_port()
    configured = settings.model_copy(update={
        "ari_url": sim.ari_url, "ami_port": sim.ami_port, "mqtt_url": f"mqtt://127.0.0.1:{port}",
    })
    async with private_broker(port):
        async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()) as product:
            mqtt = product.get(MQTT)
            assert product.get(ALARMS) is not None and mqtt is not None
            await asyncio.wait_for(mqtt.wait_connections(1), WAIT)
            subscriber_task = mqtt._task
        assert subscriber_task is not None and subscriber_task.done()
        assert not mqtt.connected.is_set()




# -- several calls processes: one shared subscription, persistent sessions -------------------


class CountingIntake:
    """An intake that only notes which subscriber handled which alarm."""

    def __init__(self, name: str, handled: list[tuple[str, str]]) -> None:
        self.name = name
        self.handled = handled

    def parse(self, raw: bytes, model: type[AlarmPayload] = AlarmPayload) -> AlarmPayload:
        return parse_alarm(raw, model)

    async def submit(self, device_id: str, token: str, alarm: AlarmPayload, *, via: str,
                     client: str | None = None) -> AlarmReceipt:
        self.handled.append((self.name, alarm.id))
        return AlarmReceipt(id=alarm.id, incident=f"i-{alarm.id}", kind=alarm.type)


async def test_two_processes_on_a_shared_subscription_handle_each_alarm_once() -> None:
    root = f"test-{uuid.uuid4().hex[:8]}/devices"
    group = f"g{uuid.uuid4().hex[:8]}"
    handled: list[tuple[str, str]] = []
    ids = [f"s-{n}" for n in range(20)]
    async with (
        subscriber(BROKER, CountingIntake("a", handled), root, share_group=group,
                   client_id=f"{group}-a", session_expiry=30) as first,
        subscriber(BROKER, CountingIntake("b", handled), root, share_group=group,
                   client_id=f"{group}-b", session_expiry=30),
        device_on(BROKER, root) as device,
    ):
        assert first.subscription == f"$share/{group}/{root}/+/alarm"
        acks = [await device.send(alarm("fall", alarm_id, token="t")) for alarm_id in ids]
    assert [a["incident"] for a in acks] == [f"i-{i}" for i in ids]
    assert sorted(alarm_id for _, alarm_id in handled) == sorted(ids)  # each exactly once
    assert {name for name, _ in handled} == {"a", "b"}  # and both processes took some


async def test_an_alarm_sent_while_the_process_reconnects_is_kept_for_it() -> None:
    root = f"test-{uuid.uuid4().hex[:8]}/devices"
    group = f"g{uuid.uuid4().hex[:8]}"
    handled: list[tuple[str, str]] = []
    options: dict[str, Any] = {"share_group": group, "client_id": f"{group}-a",
                               "session_expiry": 30}
    async with subscriber(BROKER, CountingIntake("a", handled), root, **options):
        pass  # subscribed once, then away: the broker keeps the session
    async with device_on(BROKER, root) as device:
        await device.client.publish(f"{root}/{DEVICE}/alarm",
                                    orjson.dumps(alarm("gas", "while-away", token="t")), qos=1)
        async with subscriber(BROKER, CountingIntake("a", handled), root, **options):
            async with asyncio.timeout(WAIT):
                async for message in device.client.messages:
                    assert isinstance(message.payload, bytes)
                    ack = orjson.loads(message.payload)
                    break
    assert ack["id"] == "while-away" and ack["status"] == "accepted"
    assert handled == [("a", "while-away")]
