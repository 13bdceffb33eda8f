"""Directory read services: elder search and profile, within the user's jurisdiction.

Jurisdiction (C §4.2.2): a user scoped to an area sees only elders whose area path
lies inside that area's subtree. An elder outside it is reported exactly like a
missing one, so that an id probe learns nothing.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import ColumnElement, exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import audit
from callcenter.crypto import FieldCipher, mask_id_number
from callcenter.directory.exceptions import ElderNotVisible, IdNumberMissing, InvalidSearch
from callcenter.directory.schemas import (
    AreaRef,
    ContactView,
    DeviceView,
    ElderProfile,
    ElderSearchResult,
    ElderSummary,
    IdNumberRevealed,
    ProviderView,
)
from callcenter.store.models import Area, Contact, Elder, ElderPhone, Provider, SosDevice

_SEPARATORS = re.compile(r"[\s\-()]")
_DIGITS = re.compile(r"^\+?\d+$")
_ID_TAIL = re.compile(r"^\d{3}[Xx]$")
MIN_PHONE_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """The subtree of areas a user may see; ``area_path`` None means all of them."""

    area_path: str | None

    def covers(self, path: str | None) -> bool:
        """True when an area path lies inside this jurisdiction."""
        if self.area_path is None:
            return True
        return path is not None and path.startswith(self.area_path)

    def clause(self) -> ColumnElement[bool]:
        """The SQL condition on ``Area.path`` matching this jurisdiction."""
        if self.area_path is None:
            return true()
        # autoescape: area codes may hold LIKE wildcards such as "_".
        return Area.path.startswith(self.area_path, autoescape=True)


def classify_query(raw: str) -> tuple[str, str]:
    """Read a search query as ``(kind, needle)``: name, phone, id_tail or phone_or_id_tail."""
    text = raw.strip()
    if not text:
        raise InvalidSearch("empty query", {"field": "q"})
    compact = _SEPARATORS.sub("", text)
    if _ID_TAIL.match(compact):
        return "id_tail", compact.upper()
    if _DIGITS.match(compact):
        digits = compact.lstrip("+")
        if len(digits) < MIN_PHONE_DIGITS:
            raise InvalidSearch(
                "a number search needs at least 4 digits", {"field": "q", "min_digits": 4}
            )
        return ("phone_or_id_tail" if len(digits) == 4 else "phone"), digits
    return "name", text


async def search_elders(
    session: AsyncSession, scope: Jurisdiction, query: str, *, limit: int = 20
) -> ElderSearchResult:
    """Elders matching a name prefix, phone digits or ID tail, inside ``scope`` only."""
    kind, needle = classify_query(query)
    phone_match = exists(
        select(ElderPhone.id).where(
            ElderPhone.elder_id == Elder.id,
            ElderPhone.number.endswith(needle, autoescape=True),
        )
    )
    match: ColumnElement[bool]
    if kind == "name":
        match = Elder.name.startswith(needle, autoescape=True)
    elif kind == "id_tail":
        match = Elder.id_number_tail == needle
    elif kind == "phone_or_id_tail":
        match = or_(Elder.id_number_tail == needle, phone_match)
    else:
        match = phone_match
    rows = (
        await session.execute(
            select(Elder, Area.name, Area.path)
            .join(Area, Elder.area_id == Area.id)
            .where(scope.clause(), match)
            .order_by(Elder.name, Elder.id)
            .limit(limit)
        )
    ).all()
    phones = await _phones_of(session, [elder.id for elder, _, _ in rows])
    items = [
        ElderSummary(
            id=elder.id,
            code=elder.code,
            name=elder.name,
            gender=elder.gender,
            birth_date=elder.birth_date,
            area_name=area_name,
            area_path=area_path,
            phones=phones.get(elder.id, []),
            status=elder.status,
            lives_alone=elder.lives_alone,
            disabled=elder.disabled,
        )
        for elder, area_name, area_path in rows
    ]
    return ElderSearchResult(query=query.strip(), kind=kind, items=items)


async def _phones_of(session: AsyncSession, elder_ids: list[int]) -> dict[int, list[str]]:
    if not elder_ids:
        return {}
    found: dict[int, list[str]] = defaultdict(list)
    rows = await session.execute(
        select(ElderPhone.elder_id, ElderPhone.number)
        .where(ElderPhone.elder_id.in_(elder_ids))
        .order_by(ElderPhone.elder_id, ElderPhone.id)
    )
    for elder_id, number in rows:
        found[elder_id].append(number)
    return found


async def _visible_elder(session: AsyncSession, scope: Jurisdiction, elder_id: int) -> tuple[Elder, str]:
    row = (
        await session.execute(
            select(Elder, Area.path)
            .join(Area, Elder.area_id == Area.id)
            .where(Elder.id == elder_id, scope.clause())
        )
    ).first()
    if row is None:
        raise ElderNotVisible("elder not found", {"elder_id": elder_id})
    return row[0], row[1]


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


async def elder_profile(
    session: AsyncSession,
    scope: Jurisdiction,
    elder_id: int,
    cipher: FieldCipher,
    *,
    today: date,
) -> ElderProfile:
    """The elder's full profile with the ID number masked; 404-style error outside ``scope``."""
    elder, area_path = await _visible_elder(session, scope, elder_id)
    codes = [part for part in area_path.split("/") if part]
    areas = (
        await session.execute(select(Area).where(Area.code.in_(codes)))
    ).scalars().all()
    by_code = {area.code: area for area in areas}
    contacts = (
        await session.execute(
            select(Contact)
            .where(Contact.elder_id == elder_id)
            .order_by(Contact.role, Contact.priority)
        )
    ).scalars().all()
    devices = (
        await session.execute(
            select(SosDevice).where(SosDevice.elder_id == elder_id).order_by(SosDevice.device_id)
        )
    ).scalars().all()
    provider = await session.get(Provider, elder.provider_id) if elder.provider_id else None
    phones = await _phones_of(session, [elder_id])
    masked = mask_id_number(cipher.open(elder.id_number_sealed)) if elder.id_number_sealed else None
    return ElderProfile(
        id=elder.id,
        code=elder.code,
        name=elder.name,
        gender=elder.gender,
        birth_date=elder.birth_date,
        age=_age(elder.birth_date, today),
        id_number_masked=masked,
        address=elder.address,
        area_path=area_path,
        areas=[
            AreaRef(code=a.code, name=a.name, level=a.level)
            for a in (by_code[c] for c in codes if c in by_code)
        ],
        phones=phones.get(elder_id, []),
        devices=[DeviceView(device_id=d.device_id, active=d.active) for d in devices],
        contacts=[
            ContactView(
                id=c.id,
                role=c.role,
                priority=c.priority,
                name=c.name,
                relation=c.relation,
                phone=c.phone,
                email=c.email,
            )
            for c in contacts
        ],
        provider=ProviderView(code=provider.code, name=provider.name, phone=provider.phone)
        if provider
        else None,
        lives_alone=elder.lives_alone,
        disabled=elder.disabled,
        health_notes=elder.health_notes,
        status=elder.status,
    )


async def reveal_id_number(
    session: AsyncSession,
    scope: Jurisdiction,
    elder_id: int,
    cipher: FieldCipher,
    *,
    actor: str,
    reason: str,
) -> IdNumberRevealed:
    """Decrypt the elder's ID number and write the access to the audit trail (same transaction)."""
    elder, _ = await _visible_elder(session, scope, elder_id)
    if not elder.id_number_sealed:
        raise IdNumberMissing("no ID number on file", {"elder_id": elder_id})
    number = cipher.open(elder.id_number_sealed)
    await audit.record(
        session,
        actor=actor,
        action="elder.id_number.reveal",
        entity="elder",
        entity_id=elder_id,
        reason=reason,
    )
    return IdNumberRevealed(elder_id=elder_id, id_number=number)
