"""Device alarms in: HTTP and MQTT (real Mosquitto), a real store, the SOS app on the simulator."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import aiomqtt
import orjson
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner
from sqlalchemy import select
from structlog.testing import capture_logs

from ari_apps.sos.alarm_flows import AlarmConference, KinAlert
from ari_apps.sos.alarm_http import alarm_feature
from ari_apps.sos.alarms import AlarmIntake, StoreUnavailable, conference_for
from ari_apps.sos.device_tokens import issue_token, token_hash, token_matches
from ari_apps.sos.models import LegRole, LegState
from ari_apps.sos.mqtt import BrokerAddress, MqttAlarms
from callcenter.bus import MemoryBus
from callcenter.cli import main
from callcenter.composition import open_product
from callcenter.directory.status import set_elder_status
from callcenter.notify.models import Notification
from callcenter.pbxsim.server import PbxSimulator
from callcenter.runtime import open_runtime
from callcenter.settings import Settings, SettingsError, load_settings
from callcenter.store.models import AuditEntry, ElderStatus, SosDevice
from tests.sos.conftest import DEVICE, ELDER_PHONE, EMERGENCY, KIN, SosHarness, leg_states
from webui import create_app

BROKER = BrokerAddress("127.0.0.1", 1883)
WAIT = 10.0


def alarm(kind: str = "sos", alarm_id: str = "a-1", **extra: Any) -> dict[str, Any]:
    return {"type": kind, "id": alarm_id, "at": datetime.now(UTC).isoformat(), **extra}


def nothing_started(sos: SosHarness) -> bool:
    return not sos.app.conferences and not sos.sim.model.channels and not sos.published


@pytest.fixture
async def token(sos: SosHarness) -> str:
    async with sos.sessions.begin() as session:
        return await issue_token(session, sos.app.settings.secret_key_bytes(), DEVICE,
                                 actor="test")


@pytest.fixture
def intake(sos: SosHarness) -> AlarmIntake:
    return AlarmIntake(sos.app, sos.sessions, sos.app.settings)


Post = Callable[..., Awaitable[tuple[int, dict[str, Any]]]]


@pytest.fixture
async def http(settings: Settings, intake: AlarmIntake) -> AsyncIterator[aiohttp.ClientSession]:
    """A device's HTTP client on the console with the alarm feature (no cookies, no CSRF)."""
    async with open_runtime(settings, bus=MemoryBus()) as runtime:
        app = create_app(runtime, features=[alarm_feature(intake)])
        async with TestServer(app) as server, aiohttp.ClientSession(
            base_url=server.make_url("")
        ) as client:
            yield client


@pytest.fixture
def post(http: aiohttp.ClientSession, token: str) -> Post:
    async def send(body: Any, *, device: str = DEVICE, bearer: str | None = None,
                   raw: bytes | None = None) -> tuple[int, dict[str, Any]]:
        headers = {"Authorization": f"Bearer {bearer or token}", "X-Device-Id": device,
                   "Content-Type": "application/json"}
        data = raw if raw is not None else orjson.dumps(body)
        async with http.post("/api/alarms", data=data, headers=headers) as response:
            return response.status, await response.json()

    return send


# -- HTTP ------------------------------------------------------------------------------------


async def test_sos_alarm_over_http_calls_the_elder_back_first_then_every_role(
    sos: SosHarness, post: Post
) -> None:
    sos.person(ELDER_PHONE)  # the elder answers the callback
    status, body = await post(alarm("sos"))
    assert status == 202, body
    assert body["status"] == "accepted" and body["id"] == "a-1" and not body["duplicate"]
    conference = sos.app.conferences[body["incident"]]
    assert isinstance(conference, AlarmConference)

    await conference.wait_for(lambda c: f"{c.id}-c0" in c.legs)
    first = conference.legs[f"{conference.id}-c0"]
    assert first.role is LegRole.ELDER and first.candidate is not None
    assert first.candidate.number == ELDER_PHONE
    assert not leg_states(conference, LegRole.EMERGENCY)  # nobody else before the elder

    await sos.advance(1)  # the elder answers the callback
    await conference.wait_for(lambda c: bool(leg_states(c, LegRole.EMERGENCY))
                              and len(leg_states(c, LegRole.KIN)) == 2)
    assert leg_states(conference, LegRole.EMERGENCY)[0][0] == EMERGENCY
    assert leg_states(conference, LegRole.SOCIAL_WORKER)
    await sos.advance(1)  # 120 and the others answer …
    await conference.wait_for(lambda c: leg_states(c, LegRole.EMERGENCY)[0][1]
                              is LegState.ANSWERED)
    await sos.advance(2)  # … hear the announcement and join the elder's conference
    emergency = f"{conference.id}-e0"
    await conference.wait_for(lambda c: {f"{c.id}-c0", emergency} <= set(c.parties))
    assert len(sos.app.conferences) == 1 and len(sos.sim.model.bridges) == 1
    timeline = await sos.timeline(conference.id)
    assert timeline.index("leg.answered") < timeline.index("dial.roles")
    started = next(m for m in sos.published if m.topic == "sos.started")
    assert started.payload["kind"] == "sos"


async def test_the_same_alarm_twice_gives_one_incident(sos: SosHarness, post: Post) -> None:
    (s1, first), (s2, second) = await asyncio.gather(post(alarm("fall")), post(alarm("fall")))
    assert s1 == s2 == 202
    assert first["incident"] == second["incident"]
    assert sorted([first["duplicate"], second["duplicate"]]) == [False, True]
    status, third = await post(alarm("fall"))  # a later retry: the same answer
    assert status == 202 and third["incident"] == first["incident"] and third["duplicate"]
    # Another alarm of the same elder while the incident is open joins it.
    status, other = await post(alarm("smoke", "a-2"))
    assert status == 202 and other["incident"] == first["incident"] and not other["duplicate"]
    assert len(sos.app.conferences) == 1
    assert [m.topic for m in sos.published].count("sos.started") == 1


async def test_a_deceased_elders_device_is_refused(sos: SosHarness, post: Post) -> None:
    async with sos.sessions.begin() as session:
        await set_elder_status(session, sos.elder_id, ElderStatus.DECEASED, actor="test",
                               reason="died")
    status, body = await post(alarm("sos"))
    assert status == 409 and body["error_id"] == "device-stopped"
    assert nothing_started(sos)


async def test_a_bad_token_is_refused_like_an_unknown_device(
    sos: SosHarness, post: Post, http: aiohttp.ClientSession
) -> None:
    wrong = await post(alarm("sos"), bearer="not-the-token")
    unknown = await post(alarm("sos"), device="SOS-9999")
    assert wrong[0] == unknown[0] == 401
    assert wrong[1] == unknown[1]  # nothing tells whether the device exists
    assert wrong[1]["error_id"] == "device-unauthorized"
    async with http.post("/api/alarms", json=alarm("sos"), headers={"X-Device-Id": DEVICE}) as r:
        assert r.status == 401
    assert nothing_started(sos)


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        (b'{"type": "sos", "id": ', 422, [[]]),
        (orjson.dumps(alarm("earthquake")), 422, [["type"]]),
        (orjson.dumps(alarm("water", detail={f"k{n}": "x" * 100 for n in range(12)})), 422,
         [["detail"]]),
        (orjson.dumps(alarm("water", detail={"nested": {"a": 1}})), 422, [["detail", "nested"]]),
        (orjson.dumps(alarm("health", detail={"metric": "heart_rate"})), 422, [[]]),
        (orjson.dumps(alarm("sos", at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())),
         422, [["at"]]),
        (orjson.dumps({"type": "sos", "id": "bad id!", "at": "yesterday", "extra": 1}), 422,
         [["id"], ["at"], ["extra"]]),
        (orjson.dumps(alarm("sos", detail={"note": "x" * 256}, pad="y" * 5000)), 413, []),
    ],
    ids=["malformed-json", "unknown-type", "oversized-detail", "nested-detail",
         "health-without-value", "future-timestamp", "every-problem-listed", "oversized-body"],
)
async def test_bad_input_gets_a_clear_error_and_starts_nothing(
    sos: SosHarness, post: Post, body: bytes, status: int, where: list[list[str]]
) -> None:
    answer_status, answer = await post(None, raw=body)
    assert answer_status == status, answer
    if status == 422:
        assert answer["error_id"] == "invalid-alarm"
        errors = answer["details"]["errors"]
        assert all(any(e["loc"][: len(w)] == w for e in errors) for w in where), errors
        assert all(e["msg"] for e in errors)
    else:
        assert answer["error_id"] == "alarm-too-large"
    assert nothing_started(sos)


async def test_the_device_route_is_public_and_documented(http: aiohttp.ClientSession) -> None:
    async with http.get("/api/openapi.json") as response:
        document = await response.json()
    operation = document["paths"]["/api/alarms"]["post"]
    # Public (no session), authenticated by the device's own token: documented as such.
    assert operation["tags"] == ["devices"] and operation["security"] == [{"deviceToken": []}]
    assert "202" in operation["responses"]
    assert "X-CSRF-Token" not in [p["name"] for p in operation["parameters"]]
    assert {"401", "409", "422", "503"} <= set(operation["responses"])


async def test_without_call_control_device_alarms_answer_503(settings: Settings) -> None:
    async with open_runtime(settings, bus=MemoryBus()) as runtime:
        app = create_app(runtime, features=[alarm_feature(None)])
        async with TestServer(app) as server, aiohttp.ClientSession() as client:
            async with client.post(server.make_url("/api/alarms"), json=alarm()) as response:
                assert response.status == 503
                assert (await response.json())["error_id"] == "call-control-unavailable"


async def test_a_store_outage_refuses_the_alarm_so_the_device_retries(
    sos: SosHarness, token: str, settings: Settings
) -> None:
    from callcenter.store import create_engine, session_factory

    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        down = AlarmIntake(sos.app, session_factory(engine), sos.app.settings)
        with pytest.raises(StoreUnavailable) as caught:
            await down.submit(DEVICE, token, down.parse(orjson.dumps(alarm())), via="http")
    finally:
        await engine.dispose()
    assert caught.value.status == 503 and caught.value.details == {"retry": True}
    assert nothing_started(sos)


# -- MQTT ------------------------------------------------------------------------------------


class Device:
    """A device on MQTT: publishes alarms, reads the acks."""

    def __init__(self, client: aiomqtt.Client, root: str) -> None:
        self.client = client
        self.root = root

    async def send(self, payload: bytes | dict[str, Any], device: str = DEVICE) -> dict[str, Any]:
        raw = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        await self.client.publish(f"{self.root}/{device}/alarm", raw, qos=1)
        async with asyncio.timeout(WAIT):
            async for message in self.client.messages:
                assert isinstance(message.payload, bytes)
                ack: dict[str, Any] = orjson.loads(message.payload)
                return ack
        raise AssertionError("no ack")


@contextlib.asynccontextmanager
async def device_on(address: BrokerAddress, root: str) -> AsyncIterator[Device]:
    async with aiomqtt.Client(address.host, address.port) as client:
        await client.subscribe(f"{root}/+/alarm/ack", qos=1)
        yield Device(client, root)


@contextlib.asynccontextmanager
async def subscriber(address: BrokerAddress, intake: AlarmIntake, root: str
                     ) -> AsyncIterator[MqttAlarms]:
    alarms = MqttAlarms(address, intake, topic_root=root, backoff=(0.05, 0.5))
    alarms.start()
    try:
        await asyncio.wait_for(alarms.wait_connections(1), WAIT)
        yield alarms
    finally:
        await alarms.close()


@pytest.fixture
async def device(intake: AlarmIntake) -> AsyncIterator[Device]:
    """The product's subscriber and a device, on the real broker under a private topic root."""
    root = f"test-{uuid.uuid4().hex[:8]}/devices"
    async with subscriber(BROKER, intake, root), device_on(BROKER, root) as one:
        yield one


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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def private_broker(port: int) -> AsyncIterator[None]:
    """``mosquitto -p PORT``, up once it says it is running; killed on exit."""
    process = await asyncio.create_subprocess_exec(
        "mosquitto", "-p", str(port), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(WAIT):
            while b" running" not in (line := await process.stderr.readline()):
                assert line, "mosquitto exited"
        yield
    finally:
        process.kill()
        await process.wait()


async def test_the_subscriber_reconnects_after_a_broker_restart(
    sos: SosHarness, intake: AlarmIntake, token: str
) -> None:
    port = _free_port()
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
    port = _free_port()
    configured = settings.model_copy(update={
        "ari_url": sim.ari_url, "ami_port": sim.ami_port, "mqtt_url": f"mqtt://127.0.0.1:{port}",
    })
    async with private_broker(port):
        async with open_product(configured, frozenset({"calls"}), bus=MemoryBus()) as product:
            assert product.alarms is not None and product.mqtt is not None
            await asyncio.wait_for(product.mqtt.wait_connections(1), WAIT)
            subscriber_task = product.mqtt._task
        assert subscriber_task is not None and subscriber_task.done()
        assert not product.mqtt.connected.is_set()


# -- policy, tokens, command line ------------------------------------------------------------


def test_the_policy_per_type_comes_from_the_settings(settings: Settings) -> None:
    assert [k for k in ("sos", "fall", "smoke", "gas", "inactivity", "door", "water",
                        "geofence", "health") if conference_for(settings, k)] == [
        "sos", "fall", "smoke", "gas"]
    custom = load_settings(alarm_conference_types=["sos", "water"])
    assert conference_for(custom, "water") and not conference_for(custom, "fall")
    with pytest.raises(SettingsError) as caught:
        load_settings(alarm_conference_types=["fall", "smok"])
    assert "ALARM_CONFERENCE_TYPES" in str(caught.value)
    with pytest.raises(SettingsError, match="sos"):
        load_settings(alarm_conference_types=["fall"])


def test_a_token_hash_is_keyed_and_bound_to_its_device() -> None:
    key = b"k" * 32
    stored = token_hash(key, "SOS-1", "secret-token")
    assert token_matches(key, "SOS-1", "secret-token", stored)
    assert not token_matches(key, "SOS-2", "secret-token", stored)
    assert not token_matches(b"x" * 32, "SOS-1", "secret-token", stored)
    assert not token_matches(key, "SOS-1", "secret-token", None)
    assert "secret-token" not in stored


async def test_device_token_and_revoke_commands(
    sos: SosHarness, settings: Settings, post: Post
) -> None:
    assert settings.secret_key is not None
    env = {"CALLCENTER_DATABASE_URL": settings.database_url,
           "CALLCENTER_SECRET_KEY": settings.secret_key.get_secret_value(),
           "CALLCENTER_DATA_DIR": str(settings.data_dir)}

    def cli(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    issued = await asyncio.to_thread(cli, "device", "token", DEVICE, "--actor", "ops")
    assert issued.exit_code == 0, issued.output
    new_token = issued.stdout.strip().splitlines()[-1]
    async with sos.sessions() as session:
        stored = (await session.execute(
            select(SosDevice.token_hash).where(SosDevice.device_id == DEVICE))).scalar_one()
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert stored is not None and new_token not in stored
    assert "device.token_issued" in actions
    status, _ = await post(alarm("door"), bearer=new_token)
    assert status == 202

    revoked = await asyncio.to_thread(cli, "device", "revoke", DEVICE)
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    status, _ = await post(alarm("door", "a-9"), bearer=new_token)
    assert status == 401
    missing = await asyncio.to_thread(cli, "device", "token", "NO-SUCH")
    assert missing.exit_code == 1 and "no device" in missing.stderr
