"""API tokens for other systems and scripts: issue, list, revoke, resolve (``callcenter api-token``).

A token is ``cc_`` and 32 random bytes, shown once. As with device tokens
(ari_apps/sos/device_tokens.py), the store keeps only a keyed hash,
``hmac-sha256$<hex>`` of the token under a key derived from the product secret: tokens
are random, so a slow password hash would buy nothing, and an indexed exact look-up
answers each API call in one query. A stolen table without the secret yields nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from callcenter import audit
from callcenter.errors import DomainError
from callcenter.store.models import ApiClient, Area, Role, utcnow

SCHEME = "hmac-sha256$"
TOKEN_PREFIX = "cc_"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ApiClientNotFound(DomainError):
    """No API client by that name."""

    error_id = "api-client-not-found"
    status = 404


class ApiClientExists(DomainError):
    """An active API client already has that name."""

    error_id = "api-client-exists"
    status = 409


class AreaNotFound(DomainError):
    """No area with that code."""

    error_id = "area-not-found"
    status = 404


@dataclass(frozen=True, slots=True)
class ApiCaller:
    """Who an API token speaks for: a name, a role, an area path (None: the whole service)."""

    client_id: int
    name: str
    role: str
    area_path: str | None

    @property
    def actor(self) -> str:
        """The name the audit trail records for this caller."""
        return f"api:{self.name}"


def hashing_key(secret: bytes) -> bytes:
    """The HMAC key for API tokens, apart from every other use of the product secret."""
    return hashlib.sha256(b"callcenter/api-tokens/" + secret).digest()


def token_hash(key: bytes, token: str) -> str:
    """What the store keeps for ``token``."""
    return SCHEME + hmac.new(key, token.encode(), hashlib.sha256).hexdigest()


async def create_client(
    session: AsyncSession, key: bytes, name: str, role: Role, area_code: str | None, *, actor: str
) -> str:
    """A new API client (or a revoked one of that name re-issued); returns its token. Audited."""
    area_id = None
    if area_code is not None:
        area_id = (
            await session.execute(select(Area.id).where(Area.code == area_code))
        ).scalar_one_or_none()
        if area_id is None:
            raise AreaNotFound("no such area", {"area": area_code})
    client = (
        await session.execute(select(ApiClient).where(ApiClient.name == name).with_for_update())
    ).scalar_one_or_none()
    if client is not None and client.revoked_at is None:
        raise ApiClientExists("an active API client has that name", {"name": name})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    if client is None:
        client = ApiClient(name=name, token_hash="", role=role.value)
        session.add(client)
    client.token_hash = token_hash(key, token)
    client.role = role.value
    client.area_id = area_id
    client.created_at = utcnow()
    client.revoked_at = None
    await session.flush()
    await audit.record(session, actor=actor, action="api_token.created", entity="api_client",
                       entity_id=name, after={"role": role.value, "area": area_code})
    return token


async def revoke_client(session: AsyncSession, name: str, *, actor: str) -> bool:
    """Revoke ``name``'s token at once; False when it was already revoked. Audited."""
    client = (
        await session.execute(select(ApiClient).where(ApiClient.name == name).with_for_update())
    ).scalar_one_or_none()
    if client is None:
        raise ApiClientNotFound("no such API client", {"name": name})
    if client.revoked_at is not None:
        return False
    client.revoked_at = utcnow()
    await audit.record(session, actor=actor, action="api_token.revoked", entity="api_client",
                       entity_id=name, before={"revoked": False}, after={"revoked": True})
    return True


@dataclass(frozen=True, slots=True)
class ApiClientRow:
    """One API client as ``api-token list`` shows it (never the token)."""

    name: str
    role: str
    area_code: str | None
    created_at: datetime
    revoked_at: datetime | None


async def list_clients(session: AsyncSession) -> list[ApiClientRow]:
    """Every API client, active and revoked, by name."""
    rows = await session.execute(
        select(ApiClient.name, ApiClient.role, Area.code, ApiClient.created_at,
               ApiClient.revoked_at)
        .outerjoin(Area, Area.id == ApiClient.area_id)
        .order_by(ApiClient.name)
    )
    return [ApiClientRow(*row) for row in rows]


async def resolve_token(conn: AsyncConnection, key: bytes, token: str) -> ApiCaller | None:
    """The caller behind a presented token, or None when unknown or revoked."""
    row = (
        await conn.execute(
            select(ApiClient.id, ApiClient.name, ApiClient.role, ApiClient.revoked_at, Area.path)
            .outerjoin(Area, Area.id == ApiClient.area_id)
            .where(ApiClient.token_hash == token_hash(key, token))
        )
    ).first()
    if row is None or row.revoked_at is not None:
        return None
    return ApiCaller(client_id=row.id, name=row.name, role=row.role, area_path=row.path)
