"""Importing areas, providers and contacts: references checked, re-import updates."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from callcenter.directory.results import ImportFailed, ImportKind
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Area, Contact, Provider, ProviderArea

from .conftest import AREAS_CSV, ELDER_HEADER, PROVIDERS_CSV, Importer, elder_line

CONTACT_HEADER = "elder_code,role,name,relation,phone,email,priority"


async def test_areas_get_parents_and_materialised_paths(run_import: Importer, sessions: SessionFactory) -> None:
    report = await run_import(ImportKind.AREAS, AREAS_CSV)
    assert report.inserted == 4
    async with sessions() as session:
        paths = dict((await session.execute(select(Area.code, Area.path))).all())
    assert paths["120104001002"] == "/120104/120104001/120104001002/"
    again = await run_import(ImportKind.AREAS, AREAS_CSV.replace("长虹街道", "长虹街"))
    assert (again.inserted, again.updated) == (0, 4)
    async with sessions() as session:
        assert await session.scalar(select(Area.name).where(Area.code == "120104001")) == "长虹街"


async def test_area_with_unknown_or_wrong_level_parent_is_refused(run_import: Importer) -> None:
    text = ("code,name,level,parent_code\n120104,南开区,district,\n"
            "120104009009,某社区,community,120104\n120104002,某街道,street,999\n")
    with pytest.raises(ImportFailed) as caught:
        await run_import(ImportKind.AREAS, text)
    errors = {e.line: e.message for e in caught.value.errors}
    assert "parent must be a street" in errors[3]
    assert "999: no such area" in errors[4]


async def test_providers_link_their_areas_and_unknown_areas_are_refused(
    run_import: Importer, sessions: SessionFactory
) -> None:
    await run_import(ImportKind.AREAS, AREAS_CSV)
    report = await run_import(ImportKind.PROVIDERS, PROVIDERS_CSV)
    assert report.inserted == 1
    async with sessions() as session:
        provider = (await session.execute(select(Provider))).scalar_one()
        assert (provider.service_types, provider.capacity, provider.rating) == (["meal", "cleaning"], 100, 4.5)
        assert provider.phone == "02255701234"
        assert await session.scalar(select(func.count()).select_from(ProviderArea)) == 1
    bad = PROVIDERS_CSV + "P002,另一家,meal,120104;777,10,4,\nP003,第三家,meal,120104,10,6,\n"
    with pytest.raises(ImportFailed) as caught:
        await run_import(ImportKind.PROVIDERS, bad)
    errors = {(e.line, e.column): e.message for e in caught.value.errors}
    assert errors[(3, "area_codes")] == "no such area: 777"
    assert "less than or equal to 5" in errors[(4, "rating")]


@pytest.mark.usefixtures("hierarchy")
async def test_contacts_accept_chinese_roles_and_upsert_by_slot(
    run_import: Importer, sessions: SessionFactory
) -> None:
    await run_import(ImportKind.ELDERS, ELDER_HEADER + "\n" + elder_line("E1") + "\n")
    text = (f"{CONTACT_HEADER}\nE1,亲属,王小明,儿子,13800001111,,1\n"
            "E1,医生,李医生,社区医生,022-55509999,doc@example.cn,1\nE1,社工,赵社工,,13600001111,,1\n")
    report = await run_import(ImportKind.CONTACTS, text)
    assert report.inserted == 3
    again = await run_import(ImportKind.CONTACTS, text.replace("王小明", "王晓明"))
    assert (again.inserted, again.updated) == (0, 3)
    async with sessions() as session:
        rows = (await session.execute(select(Contact.role, Contact.name).order_by(Contact.role))).all()
    assert [tuple(r) for r in rows] == [("doctor", "李医生"), ("kin", "王晓明"), ("social_worker", "赵社工")]


@pytest.mark.usefixtures("hierarchy")
async def test_contacts_for_unknown_elders_and_duplicate_slots_are_refused(
    run_import: Importer, sessions: SessionFactory
) -> None:
    await run_import(ImportKind.ELDERS, ELDER_HEADER + "\n" + elder_line("E1") + "\n")
    text = (f"{CONTACT_HEADER}\nE1,kin,王小明,儿子,13800001111,,1\nE404,kin,某人,,13800002222,,1\n"
            "E1,kin,王小红,女儿,13800003333,,1\nE1,nurse,某人,,13800004444,,1\n"
            "E1,other,某人,,13800004444,not-an-email,0\n")
    with pytest.raises(ImportFailed) as caught:
        await run_import(ImportKind.CONTACTS, text)
    errors = {(e.line, e.column): e.message for e in caught.value.errors}
    assert "E404: no such elder" in errors[(3, "elder_code")]
    assert "already on line 2" in errors[(4, "priority")]
    assert (5, "role") in errors
    assert (6, "email") in errors and (6, "priority") in errors
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Contact)) == 0


@pytest.mark.usefixtures("hierarchy")
async def test_row_with_wrong_number_of_cells_is_reported(run_import: Importer) -> None:
    with pytest.raises(ImportFailed) as caught:
        await run_import(ImportKind.ELDERS, ELDER_HEADER + "\nE1,王淑珍,女\n\n" + elder_line("E2") + ",extra\n")
    assert [(e.line, "cells" in e.message) for e in caught.value.errors] == [(2, True), (4, True)]
