"""Device alarms over HTTP, the policy per type, device tokens and their commands."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp.test_utils import TestServer
from click.testing import CliRunner
from sqlalchemy import select

from ari_apps.alarms.exceptions import StoreUnavailable
from ari_apps.alarms.flows import AlarmConference
from ari_apps.alarms.http import install_web
from ari_apps.alarms.services import AlarmIntake, conference_for
from ari_apps.alarms.tokens import token_hash, token_matches
from ari_apps.sos.models import LegRole, LegState
from callcenter.alarm_types import ALARM_KINDS
from callcenter.bus import MemoryBus
from callcenter.cli import main
from callcenter.directory.status import set_elder_status
from callcenter.runtime import open_runtime
from callcenter.settings import Settings, SettingsError, load_settings
from callcenter.store.models import AuditEntry, ElderStatus, SosDevice
from tests.alarms.support import Post, alarm, nothing_started
from tests.sos.conftest import DEVICE, ELDER_PHONE, EMERGENCY, SosHarness, leg_states
from webui import create_app


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
    await sos.advance(1)  # 120 and the others answer: 120 joins the elder at once …
    await conference.wait_for(lambda c: leg_states(c, LegRole.EMERGENCY)[0][1]
                              is LegState.JOINED)
    await sos.advance(2)  # … the others press 1 and join
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
        # JSON has no NaN or Infinity (PostgreSQL's jsonb refuses them): never accepted.
        (orjson.dumps(alarm("water")).replace(b'"id"', b'"detail": {"level": NaN}, "id"'), 422,
         [["detail"]]),
        (orjson.dumps(alarm("health")).replace(
            b'"id"', b'"detail": {"metric": "heart_rate", "value": Infinity}, "id"'), 422,
         [["detail"]]),
        (orjson.dumps(alarm("water")).replace(b'"id"', b'"detail": {"level": -Infinity}, "id"'),
         422, [["detail"]]),
    ],
    ids=["malformed-json", "unknown-type", "oversized-detail", "nested-detail",
         "health-without-value", "future-timestamp", "every-problem-listed", "oversized-body",
         "nan-detail", "infinity-detail", "minus-infinity-detail"],
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
        app = create_app(runtime, features=[lambda app: install_web(app, None)])
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


# -- policy, tokens, command line ------------------------------------------------------------


def test_the_policy_per_type_comes_from_the_settings(settings: Settings) -> None:
    assert [k for k in ALARM_KINDS if conference_for(settings, k)] == [
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
