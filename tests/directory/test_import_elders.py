"""Importing elders: stored sealed and linked; any bad row refuses the whole file."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callcenter.crypto import FieldCipher
from callcenter.directory.csvfile import CsvFileError
from callcenter.directory.results import ImportFailed, ImportKind
from callcenter.store.engine import SessionFactory
from callcenter.store.models import AuditEntry, Elder, ElderPhone, SosDevice

from .conftest import ELDER_HEADER, Importer, elder_line, id_number

pytestmark = pytest.mark.usefixtures("hierarchy")


async def _count(sessions: SessionFactory, model: type) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_good_file_stores_elders_sealed_with_phones_and_devices(
    run_import: Importer, sessions: SessionFactory, cipher: FieldCipher
) -> None:
    text = "\n".join([
        ELDER_HEADER,
        elder_line("E1", phones="13900001234; 022-55501234", devices="SOS-1;FALL-1", provider="P001"),
        elder_line("E2", name="张建国", gender="男", birth="19400115", seq=3, phones="+86 139 0000 5678",
                   area="120104001002"),
    ]) + "\n"
    report = await run_import(ImportKind.ELDERS, text)
    assert (report.rows, report.inserted, report.updated) == (2, 2, 0)
    async with sessions() as session:
        elder = (await session.execute(select(Elder).where(Elder.code == "E1"))).scalar_one()
        number = id_number("19450302", 2)
        assert number not in (elder.id_number_sealed or "")
        assert cipher.open(elder.id_number_sealed or "") == number
        assert elder.id_number_index == cipher.blind_index(number)
        assert elder.id_number_tail == number[-4:]
        assert (elder.gender, elder.lives_alone, elder.disabled) == ("F", True, False)
        assert elder.provider_id is not None
        phones = (await session.execute(
            select(ElderPhone.number).where(ElderPhone.elder_id == elder.id).order_by(ElderPhone.number)
        )).scalars().all()
        assert phones == ["02255501234", "13900001234"]
        devices = (await session.execute(
            select(SosDevice.device_id).where(SosDevice.elder_id == elder.id).order_by(SosDevice.device_id)
        )).scalars().all()
        assert devices == ["FALL-1", "SOS-1"]
        e2_phone = await session.scalar(
            select(ElderPhone.number).join(Elder).where(Elder.code == "E2")
        )
        assert e2_phone == "13900005678"
        entry = (await session.execute(
            select(AuditEntry).where(AuditEntry.action == "directory.import", AuditEntry.entity == "elders")
        )).scalar_one()
        assert entry.actor == "test"
        assert entry.after is not None and entry.after["inserted"] == 2
        assert entry.entity_id == report.sha256


async def test_bad_rows_import_nothing_and_each_is_reported_with_its_line(
    run_import: Importer, sessions: SessionFactory
) -> None:
    good = id_number("19450302", 2)
    bad_check = good[:-1] + ("0" if good[-1] != "0" else "1")
    text = "\n".join([
        ELDER_HEADER,
        elder_line("E1"),                                            # line 2: good
        elder_line("E2", seq=4, id_override=bad_check),              # line 3: check digit
        elder_line("E3", seq=6, area="999999"),                      # line 4: unknown area
        elder_line("E4", seq=8, phones="12345"),                     # line 5: phone
        elder_line("E5", seq=10, birth="19450302", gender="男"),     # line 6: gender vs ID
        elder_line("E1", seq=12),                                    # line 7: duplicate code
        elder_line("E7", seq=2),                                     # line 8: duplicate ID
        elder_line("E8", seq=14, area="120104001"),                  # line 9: not a community
        elder_line("E9", seq=16, provider="NOPE"),                   # line 10: unknown provider
    ]) + "\n"
    with pytest.raises(ImportFailed) as caught:
        await run_import(ImportKind.ELDERS, text)
    by_line = {error.line: error for error in caught.value.errors}
    assert 2 not in by_line
    assert "check digit" in by_line[3].message and by_line[3].column == "id_number"
    assert by_line[4].column == "area_code" and "no such area" in by_line[4].message
    assert by_line[5].column == "phones"
    assert "does not match the ID number" in by_line[6].message
    assert by_line[7].column == "code" and "already on line 2" in by_line[7].message
    assert by_line[8].column == "id_number" and "already on line 2" in by_line[8].message
    assert "belongs to a community" in by_line[9].message
    assert by_line[10].column == "provider_code"
    assert sorted(by_line) == list(range(3, 11))
    assert await _count(sessions, Elder) == 0
    assert await _count(sessions, ElderPhone) == 0


async def test_utf8_bom_and_gb18030_files_are_read(run_import: Importer, sessions: SessionFactory,
                                                   write_csv, cipher: FieldCipher) -> None:
    from callcenter.directory.importer import import_file

    text = ELDER_HEADER + "\n" + elder_line("E1") + "\n"
    report = await run_import(ImportKind.ELDERS, "\ufeff" + text)
    assert report.encoding == "utf-8-sig" and report.inserted == 1
    path = write_csv("gbk.csv", ELDER_HEADER + "\n" + elder_line("E2", seq=4, name="赵桂兰") + "\n",
                     encoding="gb18030")
    report = await import_file(sessions, cipher, ImportKind.ELDERS, path, actor="test")
    assert report.encoding == "gb18030"
    async with sessions() as session:
        assert await session.scalar(select(Elder.name).where(Elder.code == "E2")) == "赵桂兰"


async def test_undecodable_file_is_refused_with_a_clear_error(write_csv, sessions: SessionFactory,
                                                              cipher: FieldCipher) -> None:
    from callcenter.directory.importer import import_file

    path = write_csv("junk.csv", "")
    path.write_bytes(ELDER_HEADER.encode() + b"\n\xff\xff\xff\n")
    with pytest.raises(CsvFileError, match="neither UTF-8 nor GB18030"):
        await import_file(sessions, cipher, ImportKind.ELDERS, path, actor="test")


async def test_unknown_and_missing_columns_are_refused(run_import: Importer) -> None:
    with pytest.raises(CsvFileError, match=r"unknown column\(s\) nickname.*missing column\(s\) id_number"):
        await run_import(ImportKind.ELDERS, "code,name,gender,birth_date,area_code,nickname\n")


async def test_id_number_already_in_store_under_another_code_is_refused(
    run_import: Importer, sessions: SessionFactory
) -> None:
    await run_import(ImportKind.ELDERS, ELDER_HEADER + "\n" + elder_line("E1", devices="SOS-1") + "\n")
    text = ELDER_HEADER + "\n" + elder_line("E2", devices="SOS-1") + "\n"
    with pytest.raises(ImportFailed) as caught:
        await run_import(ImportKind.ELDERS, text)
    messages = {(e.line, e.column): e.message for e in caught.value.errors}
    assert messages[(2, "id_number")] == "already belongs to elder E1"
    assert messages[(2, "sos_devices")] == "SOS-1 is bound to elder E1"
    assert await _count(sessions, Elder) == 1


async def test_reimport_updates_in_place_and_is_idempotent(
    run_import: Importer, sessions: SessionFactory
) -> None:
    text = ELDER_HEADER + "\n" + elder_line("E1", phones="13900001234;13900009999", devices="SOS-1") + "\n"
    await run_import(ImportKind.ELDERS, text)
    again = await run_import(ImportKind.ELDERS, text)
    assert (again.inserted, again.updated) == (0, 1)
    assert (await _count(sessions, Elder), await _count(sessions, ElderPhone),
            await _count(sessions, SosDevice)) == (1, 2, 1)
    changed = ELDER_HEADER + "\n" + elder_line("E1", name="王淑贞", phones="13900001111", devices="SOS-2") + "\n"
    await run_import(ImportKind.ELDERS, changed)
    async with sessions() as session:
        assert await session.scalar(select(Elder.name)) == "王淑贞"
        assert (await session.execute(select(ElderPhone.number))).scalars().all() == ["13900001111"]
        assert (await session.execute(select(SosDevice.device_id))).scalars().all() == ["SOS-2"]


async def test_columns_absent_from_the_file_are_left_unchanged(
    run_import: Importer, sessions: SessionFactory
) -> None:
    await run_import(ImportKind.ELDERS, ELDER_HEADER + "\n" + elder_line("E1", phones="13900001234") + "\n")
    number = id_number("19450302", 2)
    await run_import(
        ImportKind.ELDERS,
        f"code,name,gender,birth_date,id_number,area_code,status\n"
        f"E1,王淑珍,F,1945-03-02,{number},120104001001,deceased\n",
    )
    async with sessions() as session:
        elder = (await session.execute(select(Elder))).scalar_one()
        assert (elder.status, elder.health_notes, elder.lives_alone) == ("deceased", "高血压", True)
    assert await _count(sessions, ElderPhone) == 1


async def test_language_and_hearing_columns_are_read_and_bad_values_named_by_row_and_column(
    run_import: Importer, sessions: SessionFactory
) -> None:
    header = ELDER_HEADER + ",language,hearing"
    text = "\n".join([
        header,
        elder_line("E1") + ",粤语,重听",
        elder_line("E2", seq=4) + ",shanghainese,deaf",
        elder_line("E3", seq=6) + ",,",
    ]) + "\n"
    await run_import(ImportKind.ELDERS, text)
    async with sessions() as session:
        rows = (await session.execute(
            select(Elder.code, Elder.language, Elder.hearing).order_by(Elder.code))).all()
    assert [tuple(r) for r in rows] == [("E1", "cantonese", "hard_of_hearing"),
                                        ("E2", "shanghainese", "deaf"), ("E3", "", "normal")]
    bad = "\n".join([header, elder_line("E1") + ",火星语,重听",
                     elder_line("E2", seq=4) + ",普通话,half"]) + "\n"
    with pytest.raises(ImportFailed) as caught:
        await run_import(ImportKind.ELDERS, bad)
    messages = {(e.line, e.column): e.message for e in caught.value.errors}
    assert sorted(messages) == [(2, "language"), (3, "hearing")]
    assert "'火星语' is not a known language" in messages[(2, "language")]
    assert "'half' is not normal, hard_of_hearing or deaf" in messages[(3, "hearing")]
    async with sessions() as session:  # nothing changed
        assert (await session.execute(select(Elder.language).where(Elder.code == "E1"))
                ).scalar_one() == "cantonese"
    # A file without the columns leaves what was recorded.
    await run_import(ImportKind.ELDERS, ELDER_HEADER + "\n" + elder_line("E1") + "\n")
    async with sessions() as session:
        assert tuple((await session.execute(select(Elder.language, Elder.hearing).where(
            Elder.code == "E1"))).one()) == ("cantonese", "hard_of_hearing")
