"""``POST /api/alarms``: device alarms over HTTP (C §5.1.2), authenticated by device token.

A device call needs no console session and no CSRF token (the route is public; the
device's own token authenticates it):

    POST /api/alarms
    Authorization: Bearer <token>          (from `callcenter device token DEVICE_ID`)
    X-Device-Id: <device id>
    Content-Type: application/json
    {"type": "fall", "id": "<device's alarm id>", "at": "2025-03-03T08:00:00+08:00",
     "detail": {...}}

Answers: 202 ``{"id", "status": "accepted", "incident", "kind", "duplicate"}`` (a repeat
of the same alarm id gets the same incident); 401 ``device-unauthorized``; 409
``device-stopped``; 404 ``unknown-device``; 413 ``alarm-too-large``; 422
``invalid-alarm`` with every problem in ``details.errors``, or ``alarm-too-old``; 429
``too-many-attempts`` with ``Retry-After`` (too many bad tokens for the device or from
the address); 503 ``store-unavailable`` or ``call-control-unavailable``: send the same
alarm again later.
"""

from __future__ import annotations

import re

from aiohttp import web

from ari_apps.alarms.exceptions import AlarmTooLarge, DeviceUnauthorized, TooManyAttempts
from ari_apps.alarms.schemas import DEVICE_ID_PATTERN, MAX_ALARM_BYTES, AlarmPayload, AlarmReceipt
from ari_apps.alarms.services import AlarmIntake
from ari_apps.sos.exceptions import CallControlUnavailable
from callcenter.errors import DomainError
from callcenter.logs import get_logger
from webui.openapi import API, ApiRoute

log = get_logger(__name__)

ALARM_INTAKE: web.AppKey[AlarmIntake | None] = web.AppKey("alarm_intake")
#: Set on a request refused with 429: the error middleware's answer gets ``Retry-After``.
RETRY_AFTER = web.RequestKey("alarms_retry_after", int)
DEVICE_HEADER = "X-Device-Id"
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


def device_credentials(request: web.Request) -> tuple[str, str]:
    """The device id and token of a request, or 401."""
    device_id = request.headers.get(DEVICE_HEADER, "")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 128 or not _DEVICE_ID.match(device_id):
        raise DeviceUnauthorized("send Authorization: Bearer <token> and X-Device-Id")
    return device_id, token


async def post_alarm(request: web.Request) -> web.Response:
    """POST /api/alarms: one alarm from a device."""
    intake = request.app[ALARM_INTAKE]
    if intake is None:
        raise CallControlUnavailable("this process runs no call control")
    device_id, token = device_credentials(request)
    try:
        if (request.content_length or 0) > MAX_ALARM_BYTES:
            raise AlarmTooLarge("alarm message too large", {"max_bytes": MAX_ALARM_BYTES})
        alarm = intake.parse(await request.read())
        receipt = await intake.submit(device_id, token, alarm, via="http",
                                      client=request.remote)
    except DomainError as err:  # logged for operators, then answered by the error middleware
        log.warning("http alarm refused", device_id=device_id, reason=err.error_id)
        if isinstance(err, TooManyAttempts):
            request[RETRY_AFTER] = err.details["retry_after"]
        raise
    return web.json_response(text=receipt.model_dump_json(), status=202)


async def add_retry_after(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: ``Retry-After`` on a 429 ``too-many-attempts``."""
    seconds = request.get(RETRY_AFTER)
    if seconds is not None and response.status == TooManyAttempts.status:
        response.headers["Retry-After"] = str(seconds)


def install_web(app: web.Application, intake: AlarmIntake | None) -> None:
    """Device alarms on the console's API; ``intake`` None without call control (503)."""
    app[ALARM_INTAKE] = intake
    app.on_response_prepare.append(add_retry_after)
    app[API].add(ApiRoute(
        "POST", "/api/alarms", post_alarm,
        "A device alarm (Authorization: Bearer <device token>, X-Device-Id: <device id>); "
        "answers 202 with the incident it started or joined",
        AlarmReceipt, body=AlarmPayload, errors=(401, 404, 409, 413, 422, 429, 503),
        public=True, tag="devices", status=202, security=("deviceToken",),
    ))
