"""Small test-data helpers: areas, elders with phones/contacts/devices, console users."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.store.models import (
    Area,
    AreaLevel,
    Contact,
    ContactRole,
    Elder,
    ElderPhone,
    Provider,
    SosDevice,
    User,
)

DEFAULT_PASSWORD = "Correct-Horse-42"
_counter = itertools.count(1)
_LEVELS = (AreaLevel.DISTRICT, AreaLevel.STREET, AreaLevel.COMMUNITY)


async def make_area(
    session: AsyncSession, code: str, name: str, parent: Area | None = None
) -> Area:
    """An area under ``parent`` (a district when None), with its materialised path."""
    level = _LEVELS[0] if parent is None else _LEVELS[_LEVELS.index(AreaLevel(parent.level)) + 1]
    area = Area(
        code=code,
        name=name,
        level=level.value,
        parent_id=parent.id if parent else None,
        path=f"{parent.path if parent else '/'}{code}/",
    )
    session.add(area)
    await session.flush()
    return area


@dataclass(frozen=True)
class ContactSpec:
    """A contact to create with an elder."""

    role: ContactRole
    name: str
    phone: str
    priority: int = 1
    relation: str = ""
    email: str | None = None


async def make_provider(session: AsyncSession, code: str, name: str, phone: str = "") -> Provider:
    """A service provider."""
    provider = Provider(code=code, name=name, phone=phone, service_types=["home_care"])
    session.add(provider)
    await session.flush()
    return provider


async def make_elder(
    session: AsyncSession,
    cipher: FieldCipher,
    area: Area,
    name: str,
    *,
    id_number: str | None = None,
    phones: Sequence[str] = (),
    contacts: Sequence[ContactSpec] = (),
    devices: Sequence[str] = (),
    provider: Provider | None = None,
    lives_alone: bool = False,
    disabled: bool = False,
    health_notes: str = "",
    birth_date: date = date(1940, 5, 17),
) -> Elder:
    """An elder in ``area`` with a sealed ID number, phones, contacts and devices."""
    n = next(_counter)
    elder = Elder(
        code=f"E{n:05d}",
        name=name,
        gender="F" if n % 2 else "M",
        birth_date=birth_date,
        id_number_sealed=cipher.seal(id_number) if id_number else None,
        id_number_index=cipher.blind_index(id_number) if id_number else None,
        id_number_tail=id_number[-4:].upper() if id_number else None,
        address=f"{area.name} {n}号",
        area_id=area.id,
        lives_alone=lives_alone,
        disabled=disabled,
        health_notes=health_notes,
        provider_id=provider.id if provider else None,
    )
    elder.phones = [ElderPhone(number=p) for p in phones]
    elder.contacts = [
        Contact(role=c.role.value, name=c.name, phone=c.phone, priority=c.priority,
                relation=c.relation, email=c.email)
        for c in contacts
    ]
    elder.devices = [SosDevice(device_id=d) for d in devices]
    session.add(elder)
    await session.flush()
    return elder


async def make_user(
    session: AsyncSession,
    passwords: Passwords,
    username: str,
    role: str,
    *,
    area: Area | None = None,
    password: str = DEFAULT_PASSWORD,
    display_name: str = "",
    active: bool = True,
    endpoint: str | None = None,
) -> User:
    """A console user with an argon2 password hash, scoped to ``area`` (None: everything)."""
    user = User(
        username=username,
        display_name=display_name or username,
        password_hash=await passwords.hash(password),
        role=role,
        area_id=area.id if area else None,
        active=active,
        endpoint=endpoint,
    )
    session.add(user)
    await session.flush()
    return user
