"""Helpers for directory tests: CSV files and a small imported hierarchy."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from callcenter.crypto import FieldCipher
from callcenter.directory.importer import import_file
from callcenter.directory.results import ImportKind, ImportReport
from callcenter.directory.validators import id_check_char
from callcenter.store.engine import SessionFactory

AREAS_CSV = """code,name,level,parent_code
120104,南开区,district,
120104001,长虹街道,street,120104
120104001001,居华里社区,community,120104001
120104001002,天华里社区,community,120104001
"""
PROVIDERS_CSV = """code,name,service_types,area_codes,capacity,rating,phone
P001,南开区乐龄居家养老服务中心,meal;cleaning,120104,100,4.5,022-55701234
"""
ELDER_HEADER = (
    "code,name,gender,birth_date,id_number,phones,sos_devices,address,area_code,"
    "lives_alone,disabled,health_notes,provider_code,status"
)

Importer = Callable[[ImportKind, str], Awaitable[ImportReport]]


def id_number(birth: str, seq: int, region: str = "120104") -> str:
    """A valid ID number for a birth date YYYYMMDD (odd ``seq``: male)."""
    first17 = f"{region}{birth}{seq:03d}"
    return first17 + id_check_char(first17)


def elder_line(code: str, *, name: str = "王淑珍", gender: str = "女", birth: str = "19450302",
               seq: int = 2, phones: str = "13900001234", devices: str = "", area: str = "120104001001",
               provider: str = "", id_override: str | None = None) -> str:
    """One elders.csv line with sensible defaults."""
    born = f"{birth[:4]}-{birth[4:6]}-{birth[6:]}"
    number = id_override or id_number(birth, seq)
    return (f"{code},{name},{gender},{born},{number},{phones},{devices},长虹路1号,{area},"
            f"是,否,高血压,{provider},")


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[[str, str], Path]:
    """Write ``text`` as UTF-8 to a file named ``name`` in the test's directory."""

    def write(name: str, text: str, encoding: str = "utf-8") -> Path:
        path = tmp_path / name
        path.write_bytes(text.encode(encoding))
        return path

    return write  # type: ignore[return-value]


@pytest.fixture
def run_import(
    sessions: SessionFactory, cipher: FieldCipher, write_csv: Callable[[str, str], Path]
) -> Importer:
    """Import CSV text of a kind, as the test user."""

    async def run(kind: ImportKind, text: str) -> ImportReport:
        path = write_csv(f"{kind.value}.csv", text)
        return await import_file(sessions, cipher, kind, path, actor="test")

    return run


@pytest.fixture
async def hierarchy(run_import: Importer) -> None:
    """Areas and one provider in the store."""
    await run_import(ImportKind.AREAS, AREAS_CSV)
    await run_import(ImportKind.PROVIDERS, PROVIDERS_CSV)
