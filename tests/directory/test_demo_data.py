"""The demo generator: consistent, valid, repeatable data and working logins."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from callcenter.crypto import FieldCipher
from callcenter.demo_data import generate
from callcenter.directory.validators import normalise_phone, parse_id_number
from callcenter.passwords import Passwords
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Contact, Elder, ElderPhone, Provider, SosDevice, User


async def test_every_elder_has_valid_id_kin_doctor_social_worker_and_a_device(
    sessions: SessionFactory, cipher: FieldCipher, passwords: Passwords
) -> None:
    summary = await generate(sessions, cipher, passwords, elders=120, seed=7)
    assert (summary.elders, summary.areas) == (120, 3 + 12 + 60)
    async with sessions() as session:
        elders = (await session.execute(select(Elder))).scalars().all()
        roles: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        for elder_id, role, priority, phone in (await session.execute(
            select(Contact.elder_id, Contact.role, Contact.priority, Contact.phone)
        )).all():
            roles[elder_id][role].append(priority)
            assert normalise_phone(phone) == phone
        levels = dict((await session.execute(select(Area.id, Area.level))).all())
        with_device = set((await session.execute(select(SosDevice.elder_id))).scalars())
        with_phone = set((await session.execute(select(ElderPhone.elder_id))).scalars())
    assert len(elders) == 120
    for elder in elders:
        number, born, gender = parse_id_number(cipher.open(elder.id_number_sealed or ""))
        assert (born, gender.value, number[-4:]) == (elder.birth_date, elder.gender, elder.id_number_tail)
        assert levels[elder.area_id] == "community"
        assert sorted(roles[elder.id]["kin"]) == list(range(1, len(roles[elder.id]["kin"]) + 1))
        assert 1 <= len(roles[elder.id]["kin"]) <= 3
        assert sorted(roles[elder.id]["doctor"]) == [1, 2]
        assert roles[elder.id]["social_worker"] == [1]
        assert elder.id in with_device and elder.id in with_phone


async def test_same_seed_twice_updates_instead_of_duplicating(
    sessions: SessionFactory, cipher: FieldCipher, passwords: Passwords
) -> None:
    first = await generate(sessions, cipher, passwords, elders=30, seed=1)
    second = await generate(sessions, cipher, passwords, elders=30, seed=1)
    assert first.counts() == second.counts()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Elder)) == 30
        assert await session.scalar(select(func.count()).select_from(Contact)) == first.contacts
        assert await session.scalar(select(func.count()).select_from(Provider)) == first.providers
        names = (await session.execute(select(Elder.name).order_by(Elder.code))).scalars().all()
    third = await generate(sessions, cipher, passwords, elders=30, seed=1)
    assert third.contacts == first.contacts
    async with sessions() as session:
        assert (await session.execute(select(Elder.name).order_by(Elder.code))).scalars().all() == names


async def test_demo_logins_cover_every_role_and_their_passwords_work(
    sessions: SessionFactory, cipher: FieldCipher, passwords: Passwords
) -> None:
    summary = await generate(sessions, cipher, passwords, elders=10)
    assert {login.role for login in summary.logins} == {"agent", "supervisor", "auditor", "admin"}
    async with sessions() as session:
        users = {u.username: u for u in (await session.execute(select(User))).scalars()}
    for login in summary.logins:
        assert await passwords.verify(users[login.username].password_hash, login.password)
    assert any(login.area_code for login in summary.logins if login.role == "agent")
