"""The store refuses inconsistent rows, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from callcenter import audit
from callcenter.crypto import FieldCipher
from callcenter.directory.status import set_elder_status
from callcenter.store.engine import SessionFactory
from callcenter.store.models import (
    Area,
    AuditEntry,
    Contact,
    Elder,
    ElderStatus,
    Provider,
    SosDevice,
    User,
)


async def _community(sessions: SessionFactory) -> int:
    async with sessions.begin() as session:
        district = Area(code="120104", name="南开区", level="district", path="/120104/")
        session.add(district)
        await session.flush()
        street = Area(
            code="120104001", name="长虹街道", level="street", parent_id=district.id,
            path="/120104/120104001/",
        )
        session.add(street)
        await session.flush()
        community = Area(
            code="120104001001", name="鹏欣社区", level="community", parent_id=street.id,
            path="/120104/120104001/120104001001/",
        )
        session.add(community)
        await session.flush()
        return community.id


def _elder(area_id: int, cipher: FieldCipher, **overrides: Any) -> Elder:
    id_number = overrides.pop("id_number", "120104194501011234")
    values: dict[str, Any] = {
        "code": "E0001",
        "name": "王秀英",
        "gender": "F",
        "birth_date": date(1945, 1, 1),
        "id_number_sealed": cipher.seal(id_number),
        "id_number_index": cipher.blind_index(id_number),
        "id_number_tail": id_number[-4:],
        "area_id": area_id,
    }
    values.update(overrides)
    return Elder(**values)


async def _expect_refused(sessions: SessionFactory, *rows: object) -> None:
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            session.add_all(rows)


async def test_id_number_is_sealed_at_rest(sessions: SessionFactory, cipher: FieldCipher) -> None:
    area_id = await _community(sessions)
    async with sessions.begin() as session:
        session.add(_elder(area_id, cipher))
    async with sessions() as session:
        elder = (await session.execute(select(Elder))).scalar_one()
    assert elder.id_number_sealed is not None
    assert "120104194501011234" not in elder.id_number_sealed
    assert cipher.open(elder.id_number_sealed) == "120104194501011234"


async def test_check_constraints_refuse_bad_values(
    sessions: SessionFactory, cipher: FieldCipher
) -> None:
    area_id = await _community(sessions)
    await _expect_refused(sessions, _elder(area_id, cipher, gender="X"))
    await _expect_refused(sessions, _elder(area_id, cipher, status="missing"))
    await _expect_refused(sessions, Area(code="x", name="x", level="city", path="/x/"))
    await _expect_refused(sessions, Provider(code="P1", name="p", rating=7.5))
    await _expect_refused(sessions, User(username="u", password_hash="h", role="root"))


async def test_unique_codes_and_id_numbers(sessions: SessionFactory, cipher: FieldCipher) -> None:
    area_id = await _community(sessions)
    async with sessions.begin() as session:
        session.add(_elder(area_id, cipher))
    await _expect_refused(sessions, _elder(area_id, cipher, id_number="120104194501019999"))
    await _expect_refused(sessions, _elder(area_id, cipher, code="E0002"))


async def test_contact_priority_is_unique_per_role(
    sessions: SessionFactory, cipher: FieldCipher
) -> None:
    area_id = await _community(sessions)
    async with sessions.begin() as session:
        elder = _elder(area_id, cipher)
        session.add(elder)
        await session.flush()
        session.add(Contact(elder_id=elder.id, role="kin", name="王强", phone="13800000001"))
        elder_id = elder.id
    await _expect_refused(
        sessions, Contact(elder_id=elder_id, role="kin", name="王伟", phone="13800000002")
    )
    await _expect_refused(
        sessions, Contact(elder_id=elder_id, role="kin", name="王伟", phone="1", priority=0)
    )


async def test_area_in_use_cannot_be_deleted(sessions: SessionFactory, cipher: FieldCipher) -> None:
    area_id = await _community(sessions)
    async with sessions.begin() as session:
        session.add(_elder(area_id, cipher))
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.delete(await session.get(Area, area_id))


async def test_deceased_elder_devices_stop_and_it_is_audited(
    sessions: SessionFactory, cipher: FieldCipher
) -> None:
    area_id = await _community(sessions)
    async with sessions.begin() as session:
        elder = _elder(area_id, cipher)
        session.add(elder)
        await session.flush()
        session.add_all(
            [
                SosDevice(device_id="SOS-1", elder_id=elder.id),
                SosDevice(device_id="SOS-2", elder_id=elder.id),
            ]
        )
        elder_id = elder.id
    async with sessions.begin() as session:
        await set_elder_status(
            session, elder_id, ElderStatus.DECEASED, actor="admin", reason="death certificate"
        )
    async with sessions() as session:
        devices = (await session.execute(select(SosDevice))).scalars().all()
        assert [d.active for d in devices] == [False, False]
        assert (await session.get(Elder, elder_id)).status == "deceased"
        report = await audit.verify_chain(session)
        assert report.ok and report.entries == 1
        entry = (await session.execute(select(AuditEntry))).scalar_one()
        assert entry.after == {"status": "deceased", "devices_stopped": ["SOS-1", "SOS-2"]}
        assert entry.reason == "death certificate"
