"""What an SOS needs from the directory: who is calling, whom to call, who is on duty."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.sos.models import LegRole
from ari_apps.sos.plan import Candidate
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


async def identify(
    session: AsyncSession, *, caller_number: str, device_id: str | None
) -> ElderCard | None:
    """The elder calling from ``device_id`` or ``caller_number``; None when unknown.

    A stopped device (a deceased elder's, B §7.3.6) identifies nobody.
    """
    elder_id: int | None = None
    if device_id:
        elder_id = (
            await session.execute(
                select(SosDevice.elder_id).where(
                    SosDevice.device_id == device_id, SosDevice.active.is_(True)
                )
            )
        ).scalar_one_or_none()
    number = normalise_number(caller_number)
    if elder_id is None and number:
        elder_id = (
            await session.execute(
                select(ElderPhone.elder_id)
                .join(Elder, Elder.id == ElderPhone.elder_id)
                .where(ElderPhone.number == number, Elder.status != ElderStatus.DECEASED.value)
                .order_by(Elder.status, ElderPhone.elder_id)
                .limit(1)
            )
        ).scalar_one_or_none()
    if elder_id is None:
        return None
    return await elder_card(session, elder_id)


async def elder_card(session: AsyncSession, elder_id: int) -> ElderCard | None:
    """The card of one elder with their contacts in role and priority order."""
    row = (
        await session.execute(
            select(Elder, Area.path).join(Area, Area.id == Elder.area_id).where(Elder.id == elder_id)
        )
    ).first()
    if row is None:
        return None
    elder, path = row
    codes = [code for code in path.split("/") if code]
    rows = await session.execute(select(Area.code, Area.name).where(Area.code.in_(codes)))
    names = {code: name for code, name in rows}
    contacts = (
        await session.execute(
            select(Contact)
            .where(Contact.elder_id == elder_id)
            .order_by(Contact.role, Contact.priority)
        )
    ).scalars()
    return ElderCard(
        elder_id=elder.id,
        name=elder.name,
        gender=elder.gender,
        age=_age(elder.birth_date, utcnow().date()),
        address=elder.address,
        area_path=path,
        area_names=[names.get(code, code) for code in codes],
        lives_alone=elder.lives_alone,
        disabled=elder.disabled,
        health_notes=elder.health_notes,
        status=elder.status,
        contacts=[
            Candidate(_ROLE_OF_CONTACT[c.role], c.phone, c.name, contact_id=c.id, email=c.email)
            for c in contacts
            if c.role in _ROLE_OF_CONTACT
        ],
        phones=list(
            (
                await session.execute(
                    select(ElderPhone.number)
                    .where(ElderPhone.elder_id == elder_id)
                    .order_by(ElderPhone.id)
                )
            ).scalars()
        ),
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
