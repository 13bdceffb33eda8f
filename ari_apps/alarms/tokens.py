"""Per-device API tokens for alarms (POST /api/alarms, MQTT): issue, revoke, verify.

A token is 32 random bytes, shown once when issued. The store keeps only
``hmac-sha256$<hex>``: an HMAC-SHA256 keyed with the product secret over the device id
and the token. A keyed hash, not a slow password hash: tokens are random (nothing to
brute-force), and a busy centre verifies many alarms a second. Binding the device id
means a hash copied onto another device's row does not authenticate it. Comparison is
constant-time, and an unknown device is checked against a dummy so timing does not tell.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.alarms.exceptions import DeviceNotRegistered
from callcenter import audit
from callcenter.store.models import SosDevice

SCHEME = "hmac-sha256$"
_DUMMY = SCHEME + "0" * 64


def token_hash(key: bytes, device_id: str, token: str) -> str:
    """What the store keeps for ``token`` of ``device_id``."""
    digest = hmac.new(key, f"{device_id}\x00{token}".encode(), hashlib.sha256).hexdigest()
    return SCHEME + digest


def token_matches(key: bytes, device_id: str, token: str, stored: str | None) -> bool:
    """Constant-time check of a presented token against the stored hash (None: no token)."""
    expected = stored if stored and stored.startswith(SCHEME) else _DUMMY
    ok = hmac.compare_digest(token_hash(key, device_id, token), expected)
    return ok and expected is stored


async def issue_token(
    session: AsyncSession, key: bytes, device_id: str, *, actor: str
) -> str:
    """A new token for ``device_id`` (the previous one stops working); audited."""
    device = await _device(session, device_id)
    token = secrets.token_urlsafe(32)
    had_token = device.token_hash is not None
    device.token_hash = token_hash(key, device_id, token)
    await audit.record(
        session, actor=actor, action="device.token_issued", entity="sos_device",
        entity_id=device_id, before={"token": had_token}, after={"token": True},
    )
    return token


async def revoke_token(session: AsyncSession, device_id: str, *, actor: str) -> bool:
    """Remove ``device_id``'s token (its alarms are refused until a new one); audited.

    Returns whether there was a token to revoke.
    """
    device = await _device(session, device_id)
    had_token = device.token_hash is not None
    device.token_hash = None
    await audit.record(
        session, actor=actor, action="device.token_revoked", entity="sos_device",
        entity_id=device_id, before={"token": had_token}, after={"token": False},
    )
    return had_token


async def _device(session: AsyncSession, device_id: str) -> SosDevice:
    device = (
        await session.execute(
            select(SosDevice).where(SosDevice.device_id == device_id).with_for_update()
        )
    ).scalar_one_or_none()
    if device is None:
        raise DeviceNotRegistered("no such device", {"device": device_id})
    return device
