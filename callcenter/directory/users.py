"""Console user accounts: creation with a strong password, audited (B §5.9, E §5.4.2)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter import audit
from callcenter.passwords import Passwords, check_password_strength
from callcenter.store.models import Area, Role, User

_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9_./@:-]{1,64}$")
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
_CN_MOBILE = re.compile(r"^(?:\+?86)?(1[3-9]\d{9})$")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+$")


class UserError(ValueError):
    """A user account that cannot be created as asked; the message says why."""


def check_new_user(username: str, password: str, role: str, endpoint: str | None) -> None:
    """Checks that need no store: name, password strength, role, endpoint."""
    if not _USERNAME.match(username):
        raise UserError(
            f"user name {username!r}: 2-64 characters, lower-case letters, digits, '_.-'"
        )
    if role not in {r.value for r in Role}:
        raise UserError(f"role {role!r}: must be one of {', '.join(r.value for r in Role)}")
    weakness = check_password_strength(password)
    if weakness:
        raise UserError(f"password too weak: {weakness}")
    if password.strip().lower() == username.lower() or username.lower() in password.lower():
        raise UserError("password too weak: it must not contain the user name")
    if endpoint is not None and not _ENDPOINT.match(endpoint):
        raise UserError(f"endpoint {endpoint!r}: letters, digits and _./@:- only, ≤ 64")


def normalise_phone(phone: str) -> str:
    """``phone`` as E.164: a Chinese mobile number (13800138000, +86 138 0013 8000) gets
    +86; any other number must be given with its + and country code. Raises UserError."""
    compact = re.sub(r"[\s()-]", "", phone)
    mobile = _CN_MOBILE.match(compact)
    if mobile:
        return f"+86{mobile.group(1)}"
    if _E164.match(compact):
        return compact
    raise UserError(f"phone {phone!r}: a Chinese mobile number (13800138000) or an "
                    "international number with its country code (+85291234567)")


def normalise_email(email: str) -> str:
    """``email`` trimmed, or UserError when it is not a mail address."""
    address = email.strip()
    if len(address) > 254 or not _EMAIL.match(address):
        raise UserError(f"email {email!r}: not a mail address (name@example.com)")
    return address


def _contact(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    """Both checked before anything is written; "" (or None) means none."""
    return (normalise_phone(phone) if phone else None,
            normalise_email(email) if email else None)


async def set_contact(session: AsyncSession, username: str, *, actor: str,
                      phone: str | None = None, email: str | None = None) -> User:
    """Change a user's phone and/or email (``""`` clears one), audited; both are checked
    before either is changed."""
    new_phone, new_email = _contact(phone, email)
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"user {username!r}: no such user")
    before = {"phone": user.phone, "email": user.email}
    if phone is not None:
        user.phone = new_phone
    if email is not None:
        user.email = new_email
    after = {"phone": user.phone, "email": user.email}
    if after != before:
        await audit.record(session, actor=actor, action="user.contact", entity="user",
                           entity_id=user.id, before=before, after=after)
    return user


async def add_user(
    session: AsyncSession,
    passwords: Passwords,
    *,
    username: str,
    password: str,
    role: str,
    actor: str,
    area_code: str | None = None,
    display_name: str = "",
    endpoint: str | None = None,
    phone: str | None = None,
    email: str | None = None,
) -> User:
    """Create a console user inside the caller's transaction and audit it."""
    check_new_user(username, password, role, endpoint)
    phone, email = _contact(phone, email)
    # Hashed before the transaction's first statement: the hash takes a good part of a
    # second on purpose, and on SQLite the first statement takes the store's write lock.
    password_hash = await passwords.hash(password)
    taken = await session.scalar(select(User.id).where(User.username == username))
    if taken is not None:
        raise UserError(f"user {username!r} already exists")
    area_id = None
    if area_code is not None:
        area_id = await session.scalar(select(Area.id).where(Area.code == area_code))
        if area_id is None:
            raise UserError(f"area {area_code!r}: no such area (import areas first)")
    user = User(
        username=username,
        display_name=display_name,
        password_hash=password_hash,
        role=role,
        area_id=area_id,
        endpoint=endpoint,
        phone=phone,
        email=email,
    )
    session.add(user)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="user.add",
        entity="user",
        entity_id=user.id,
        after={
            "username": username,
            "role": role,
            "area": area_code,
            "display_name": display_name,
            "endpoint": endpoint,
            "phone": phone,
            "email": email,
        },
    )
    return user
