"""What an alarm must pass before it starts calls: its age, the bad-token limit, its first receipt."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson

from ari_apps.alarms.services import AlarmIntake
from callcenter.settings import Settings
from tests.alarms.support import (
    BROKER,
    Clock,
    Device,
    Post,
    alarm,
    device_on,
    nothing_started,
    poster,
    serve_alarms,
    subscriber,
)
from tests.sos.conftest import DEVICE, SosHarness


def _ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


def _limited(sos: SosHarness) -> Settings:
    return sos.app.settings.model_copy(update={
        "alarm_auth_max_failures": 3, "alarm_auth_window_seconds": 60,
        "alarm_auth_lockout_seconds": 120,
    })


# -- age -------------------------------------------------------------------------------------


async def test_an_alarm_older_than_the_max_age_is_refused_over_http(
    sos: SosHarness, post: Post
) -> None:
    status, body = await post(alarm("fall", "old-1", at=_ago(11)))
    assert status == 422, body
    assert body["error_id"] == "alarm-too-old"
    assert body["details"]["max_age_seconds"] == 600 and body["details"]["age_seconds"] >= 660
    assert nothing_started(sos)
    status, body = await post(alarm("fall", "late-1", at=_ago(9)))  # late, but not too late
    assert status == 202, body


async def test_an_alarm_older_than_the_max_age_is_rejected_over_mqtt_without_retry(
    sos: SosHarness, device: Device, token: str
) -> None:
    ack = await device.send(alarm("smoke", "old-2", at=_ago(11), token=token))
    assert ack == {"id": "old-2", "status": "rejected", "error": "alarm-too-old", "retry": False}
    assert nothing_started(sos)


# -- bad tokens ------------------------------------------------------------------------------


async def test_bad_tokens_lock_the_device_out_over_http_even_with_the_right_token(
    sos: SosHarness, token: str
) -> None:
    clock = Clock()
    limited = _limited(sos)
    intake = AlarmIntake(sos.app, sos.sessions, limited, clock=clock)
    async with serve_alarms(limited, intake) as http:
        post = poster(http, token)
        for n in range(3):
            status, body = await post(alarm("sos", f"b-{n}"), bearer="guessed")
            assert (status, body["error_id"]) == (401, "device-unauthorized")
        async with http.post("/api/alarms", data=orjson.dumps(alarm("sos", "b-9")), headers={
            "Authorization": f"Bearer {token}", "X-Device-Id": DEVICE,
            "Content-Type": "application/json",
        }) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "120"
            body = await response.json()
        assert body["error_id"] == "too-many-attempts" and body["details"] == {"retry_after": 120}
        assert nothing_started(sos)

        clock.advance(121)  # the lockout is over: the right token works again
        status, body = await post(alarm("sos", "b-10"))
        assert status == 202, body


async def test_bad_tokens_from_one_address_lock_it_out_for_every_device(
    sos: SosHarness, token: str
) -> None:
    limited = _limited(sos)
    intake = AlarmIntake(sos.app, sos.sessions, limited)
    async with serve_alarms(limited, intake) as http:
        post = poster(http, token)
        for n in range(3):  # a different (unknown) device each time, from the same address
            status, _ = await post(alarm("sos", "s-1"), device=f"SOS-90{n}", bearer="guessed")
            assert status == 401
        status, body = await post(alarm("sos", "s-2"))  # the real device, the right token
    assert status == 429 and body["error_id"] == "too-many-attempts"
    assert nothing_started(sos)


async def test_bad_tokens_lock_the_device_out_over_mqtt(sos: SosHarness, token: str) -> None:
    intake = AlarmIntake(sos.app, sos.sessions, _limited(sos))
    root = f"test-{uuid.uuid4().hex[:8]}/devices"
    async with subscriber(BROKER, intake, root), device_on(BROKER, root) as device:
        for n in range(3):
            ack = await device.send(alarm("gas", f"m-{n}", token="guessed"))
            assert ack["error"] == "device-unauthorized"
        ack = await device.send(alarm("gas", "m-9", token=token))
    assert ack == {"id": "m-9", "status": "rejected", "error": "too-many-attempts",
                   "retry": True, "retry_after": 120}
    assert nothing_started(sos)


# -- repeats after a restart -----------------------------------------------------------------


async def test_a_repeat_after_a_restart_and_the_end_of_its_incident_gets_the_first_receipt(
    sos: SosHarness, intake: AlarmIntake, token: str
) -> None:
    raw = orjson.dumps(alarm("door", "d-1"))
    first = await intake.submit(DEVICE, token, intake.parse(raw), via="mqtt")
    alert = sos.app.conferences[first.incident]
    await sos.advance(1)  # kin 1 answers …
    await alert.wait_for(lambda c: c.legs[f"{c.id}-k0"].state.value == "answered"
                         or c.done.is_set())
    await sos.advance(3)  # … and hears the message to the end: the incident is over
    await alert.wait_for(lambda c: c.done.is_set())

    restarted = AlarmIntake(sos.app, sos.sessions, sos.app.settings)  # no memory of d-1
    again = await restarted.submit(DEVICE, token, restarted.parse(raw), via="http")
    assert again.duplicate and again.incident == first.incident and again.kind == "door"
    assert [m.topic for m in sos.published].count("sos.started") == 1
    assert first.incident not in sos.app.conferences and not sos.app.conferences

