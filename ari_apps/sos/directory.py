"""What an SOS needs from the directory: who is calling, whom to call, who is on duty."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.models import LegRole
from ari_apps.sos.plan import Candidate
from callcenter.store.direct import Reader
from callcenter.store.engine import Prebuilt
from callcenter.store.models import (
    Area,
    Contact,
    Elder,
    ElderPhone,
    ElderStatus,
    Role,
    SosDevice,
    User,
    WebSession,
    utcnow,
)

_ROLE_OF_CONTACT = {
    "kin": LegRole.KIN,
    "doctor": LegRole.DOCTOR,
    "social_worker": LegRole.SOCIAL_WORKER,
}
_NON_DIGITS = re.compile(r"[^\d+]")


def normalise_number(raw: str) -> str:
    """Digits of a caller number, without +86 / 0086, as the directory stores them."""
    number = _NON_DIGITS.sub("", raw or "")
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            return number[len(prefix) :]
    return number.lstrip("+")


@dataclass(frozen=True, slots=True)
class ElderCard:
    """The SOS pop: who is in trouble, where, what the responders must know."""

    elder_id: int
    name: str
    gender: str
    age: int
    address: str
    area_path: str
    area_names: list[str]
    lives_alone: bool
    disabled: bool
    health_notes: str
    status: str
    contacts: list[Candidate] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)

    def to_public(self) -> dict[str, object]:
        """The card as the console shows it (contacts' numbers included: agents call them)."""
        return {
            "elder_id": self.elder_id,
            "name": self.name,
            "gender": self.gender,
            "age": self.age,
            "address": self.address,
            "area": " / ".join(self.area_names),
            "lives_alone": self.lives_alone,
            "disabled": self.disabled,
            "health_notes": self.health_notes,
            "status": self.status,
        }


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


Executor = AsyncSession | Reader

#: The card's columns, read in the same query that finds the elder.
_CARD_COLUMNS = (
    Elder.id, Elder.name, Elder.gender, Elder.birth_date, Elder.address, Elder.lives_alone,
    Elder.disabled, Elder.health_notes, Elder.status, Area.path,
)


def _card_query(*joins: Any) -> Any:
    statement = select(*_CARD_COLUMNS).join(Area, Area.id == Elder.area_id)
    for target, on in joins:
        statement = statement.join(target, on)
    return statement


# Built once: compiling statements per call costs more than running them.
_BY_DEVICE = _card_query((SosDevice, SosDevice.elder_id == Elder.id)).where(
    SosDevice.device_id == bindparam("device_id"), SosDevice.active.is_(True)
)
_BY_PHONE = (
    _card_query((ElderPhone, ElderPhone.elder_id == Elder.id))
    .where(ElderPhone.number == bindparam("number"),
           Elder.status != ElderStatus.DECEASED.value)
    .order_by(Elder.status, Elder.id)
    .limit(1)
)
_BY_ID = _card_query().where(Elder.id == bindparam("elder_id"))
_TEXT, _INT = cast(null(), String), cast(null(), Integer)
_DETAILS: Any = union_all(
    select(literal_column("'c'").label("kind"), Contact.role, Contact.name, Contact.phone,
           Contact.email, Contact.id, Contact.priority)
    .where(Contact.elder_id == bindparam("elder_id")),
    select(literal_column("'p'"), _TEXT, _TEXT, ElderPhone.number, _TEXT, ElderPhone.id, _INT)
    .where(ElderPhone.elder_id == bindparam("elder_id")),
    select(literal_column("'a'"), _TEXT, Area.name, Area.code, _TEXT, Area.id, _INT)
    # The area path's three levels (district, street, community) as fixed parameters: one
    # SQL text, compiled once (an expanding IN would be compiled per call).
    .where(Area.code.in_([bindparam("district"), bindparam("street"), bindparam("community")])),
)
# Straight to the driver on PostgreSQL: the SOS's critical path (see Prebuilt).
_FAST = {name: Prebuilt(statement) for name, statement in
         (("device", _BY_DEVICE), ("phone", _BY_PHONE), ("id", _BY_ID), ("details", _DETAILS))}


async def _rows(db: Executor, name: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of a prebuilt look-up, as tuples, on a direct reader or a session."""
    prebuilt = _FAST[name]
    if isinstance(db, AsyncSession):
        return [tuple(row) for row in (await db.execute(prebuilt.statement, params)).all()]
    return [tuple(row.values()) for row in await db.fetch(prebuilt, params)]


async def warm_identify(db: Executor) -> None:
    """Each look-up of the identification, once, with values that match nothing: compiled,
    and prepared on ``db``'s connection, before the first SOS of a start needs them."""
    for name, params in (("device", {"device_id": ""}), ("phone", {"number": ""}),
                         ("id", {"elder_id": -1}),
                         ("details", {"elder_id": -1, "district": None, "street": None,
                                      "community": None})):
        await _rows(db, name, params)


async def identify(
    db: Executor, *, caller_number: str, device_id: str | None
) -> ElderCard | None:
    """The elder calling from ``device_id`` or ``caller_number``; None when unknown.

    A stopped device (a deceased elder's, B §7.3.6) identifies nobody. Two queries in
    all: this one finds the elder with their card; the second brings contacts, phones and
    area names together (every round trip is on the SOS's critical path).
    """
    rows: list[tuple[Any, ...]] = []
    if device_id:
        rows = await _rows(db, "device", {"device_id": device_id})
    number = normalise_number(caller_number)
    if not rows and number:
        rows = await _rows(db, "phone", {"number": number})
    return await _card(db, rows[0]) if rows else None


async def elder_card(db: Executor, elder_id: int) -> ElderCard | None:
    """The card of one elder with their contacts in role and priority order."""
    rows = await _rows(db, "id", {"elder_id": elder_id})
    return await _card(db, rows[0]) if rows else None


async def _card(db: Executor, row: Any) -> ElderCard:
    elder_id, name, gender, born, address, lives_alone, disabled, notes, status, path = row
    codes = [code for code in path.split("/") if code]
    levels = (codes + [None, None, None])[:3]
    details = await _rows(db, "details", {"elder_id": elder_id, "district": levels[0],
                                          "street": levels[1], "community": levels[2]})
    contacts: list[tuple[str, int, Candidate]] = []
    phones: list[tuple[int, str]] = []
    names: dict[str, str] = {}
    for kind, role, who, number, email, ident, priority in details:
        if kind == "c" and role in _ROLE_OF_CONTACT:
            candidate = Candidate(_ROLE_OF_CONTACT[role], number, who, contact_id=ident,
                                  email=email)
            contacts.append((role, priority, candidate))
        elif kind == "p":
            phones.append((ident, number))
        elif kind == "a":
            names[number] = who
    contacts.sort(key=lambda c: (c[0], c[1]))
    return ElderCard(
        elder_id=elder_id,
        name=name,
        gender=gender,
        age=_age(born, utcnow().date()),
        address=address,
        area_path=path,
        area_names=[names.get(code, code) for code in codes],
        lives_alone=lives_alone,
        disabled=disabled,
        health_notes=notes,
        status=status,
        contacts=[candidate for _, _, candidate in contacts],
        phones=[number for _, number in sorted(phones)],
    )


async def device_owner(session: AsyncSession, device_id: str) -> tuple[str, ElderCard | None]:
    """``("active", card)`` for a working device; ``("stopped"|"unknown", None)`` otherwise."""
    row = (
        await session.execute(
            select(SosDevice.elder_id, SosDevice.active).where(SosDevice.device_id == device_id)
        )
    ).first()
    if row is None:
        return "unknown", None
    elder_id, active = row
    if not active:  # B §7.3.6: a deceased elder's device is stopped
        return "stopped", None
    return "active", await elder_card(session, elder_id)


async def on_duty(session: AsyncSession, role: Role, area_path: str | None) -> list[Candidate]:
    """Users of ``role`` logged in now with a softphone, whose jurisdiction covers the area."""
    now = utcnow()
    rows = await session.execute(
        select(User.id, User.display_name, User.username, User.endpoint, Area.path)
        .join(WebSession, WebSession.user_id == User.id)
        .outerjoin(Area, Area.id == User.area_id)
        .where(
            User.role == role.value,
            User.active.is_(True),
            User.endpoint.is_not(None),
            WebSession.expires_at > now,
        )
        .distinct()
        .order_by(User.id)
    )
    leg_role = LegRole.AGENT if role is Role.AGENT else LegRole.SUPERVISOR
    return [
        Candidate(leg_role, endpoint, display or username, user_id=user_id, endpoint=True)
        for user_id, display, username, endpoint, scope in rows
        if endpoint and (scope is None or area_path is None or area_path.startswith(scope))
    ]
