"""The fast batch path into the directory tables, shared by the importer and the demo data.

Rows go in as lists of dicts through SQLAlchemy Core ``INSERT … ON CONFLICT`` executed
many at a time (SQLAlchemy's "insertmanyvalues" batches them into multi-row
statements), never as one ORM object per row. Every method runs inside the caller's
transaction, so an import commits whole or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from callcenter.crypto import FieldCipher
from callcenter.store.engine import dialect_insert
from callcenter.store.models import (
    Area,
    Contact,
    Elder,
    ElderPhone,
    Provider,
    ProviderArea,
    ProviderStaff,
    SosDevice,
)

#: Rows per execute() call: small enough for a live progress bar, large enough to be fast.
BATCH = 2000
#: Values per ``IN (…)`` look-up, under every backend's bound-parameter limit.
LOOKUP_CHUNK = 1000
T = TypeVar("T")
Progress = Callable[[int], None]


def chunked(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sealed_id_columns(cipher: FieldCipher, id_number: str) -> dict[str, str]:
    """The three stored forms of an ID number: sealed, blind index, last four characters."""
    return {
        "id_number_sealed": cipher.seal(id_number),
        "id_number_index": cipher.blind_index(id_number),
        "id_number_tail": id_number[-4:],
    }


def _no_progress(_: int) -> None:
    return None


class DirectoryWriter:
    """Upserts of areas, elders, contacts and providers over one connection."""

    def __init__(self, conn: AsyncConnection, progress: Progress | None = None) -> None:
        self._conn = conn
        self._progress = progress or _no_progress
        self._dialect = conn.dialect.name

    def _insert(self, table: Table) -> Any:
        return dialect_insert(self._dialect)(table)

    async def _upsert(
        self,
        table: Table,
        rows: Sequence[dict[str, Any]],
        conflict: Sequence[str],
        update: Iterable[str],
        returning: tuple[str, ...] = (),
    ) -> list[tuple[Any, ...]]:
        """Insert ``rows``; on a ``conflict`` key clash update the ``update`` columns."""
        stmt = self._insert(table)
        columns = [name for name in update if name not in conflict]
        if columns:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(conflict),
                set_={name: stmt.excluded[name] for name in columns},
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(conflict))
        if returning:
            stmt = stmt.returning(*(table.c[name] for name in returning))
        found: list[tuple[Any, ...]] = []
        for batch in chunked(rows, BATCH):
            result = await self._conn.execute(stmt, list(batch))
            if returning:
                found.extend(tuple(row) for row in result.all())
            self._progress(len(batch))
        return found

    async def _insert_many(self, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        for batch in chunked(rows, BATCH):
            await self._conn.execute(table.insert(), list(batch))
            self._progress(len(batch))

    async def delete_children(self, column: Any, parent_ids: Sequence[int]) -> None:
        """Delete the rows whose foreign key ``column`` is one of ``parent_ids``."""
        for batch in chunked(parent_ids, LOOKUP_CHUNK):
            await self._conn.execute(delete(column.table).where(column.in_(batch)))

    async def upsert_areas(self, rows: Sequence[dict[str, Any]]) -> dict[str, int]:
        """Areas (parents before children, ``parent_id`` and ``path`` set); code → id."""
        table = Area.__table__
        found = await self._upsert(table, rows, ["code"], ["name"], ("code", "id"))  # type: ignore[arg-type]
        return {code: id_ for code, id_ in found}

    async def upsert_elders(
        self, rows: Sequence[dict[str, Any]], update: Iterable[str]
    ) -> dict[str, int]:
        """Elders keyed by ``code``; an existing code gets the ``update`` columns; code → id."""
        table = Elder.__table__
        found = await self._upsert(table, rows, ["code"], update, ("code", "id"))  # type: ignore[arg-type]
        return {code: id_ for code, id_ in found}

    async def replace_phones(self, elder_ids: Sequence[int], rows: Sequence[dict[str, Any]]) -> None:
        """Drop the phones of ``elder_ids`` (elders being updated), then insert ``rows``."""
        await self.delete_children(ElderPhone.__table__.c.elder_id, elder_ids)
        await self._insert_many(ElderPhone.__table__, rows)  # type: ignore[arg-type]

    async def replace_devices(self, elder_ids: Sequence[int], rows: Sequence[dict[str, Any]]) -> None:
        """Drop the SOS devices of ``elder_ids``, then insert ``rows``."""
        await self.delete_children(SosDevice.__table__.c.elder_id, elder_ids)
        await self._insert_many(SosDevice.__table__, rows)  # type: ignore[arg-type]

    async def upsert_contacts(self, rows: Sequence[dict[str, Any]]) -> None:
        """Contacts keyed by (elder, role, priority); an existing slot is overwritten."""
        await self._upsert(
            Contact.__table__,  # type: ignore[arg-type]
            rows,
            ["elder_id", "role", "priority"],
            ["name", "relation", "phone", "email"],
        )

    async def upsert_providers(
        self, rows: Sequence[dict[str, Any]], update: Iterable[str]
    ) -> dict[str, int]:
        """Providers keyed by ``code``; code → id."""
        table = Provider.__table__
        found = await self._upsert(table, rows, ["code"], update, ("code", "id"))  # type: ignore[arg-type]
        return {code: id_ for code, id_ in found}

    async def replace_provider_areas(
        self, provider_ids: Sequence[int], rows: Sequence[dict[str, Any]]
    ) -> None:
        """Set the areas covered by ``provider_ids`` to exactly ``rows``."""
        await self.delete_children(ProviderArea.__table__.c.provider_id, provider_ids)
        await self._insert_many(ProviderArea.__table__, rows)  # type: ignore[arg-type]

    async def insert_staff(self, rows: Sequence[dict[str, Any]]) -> None:
        """Add provider staff."""
        await self._insert_many(ProviderStaff.__table__, rows)  # type: ignore[arg-type]


async def lookup(
    conn: AsyncConnection, key: Any, values: Iterable[Any], *columns: Any
) -> list[tuple[Any, ...]]:
    """Rows of ``columns`` whose ``key`` is one of ``values``, looked up in chunks."""
    distinct = list(dict.fromkeys(values))
    found: list[tuple[Any, ...]] = []
    for batch in chunked(distinct, LOOKUP_CHUNK):
        result = await conn.execute(select(*columns).where(key.in_(batch)))
        found.extend(tuple(row) for row in result.all())
    return found


async def lookup_pairs(
    conn: AsyncConnection, first: Any, second: Any, pairs: Iterable[tuple[Any, Any]], *columns: Any
) -> list[tuple[Any, ...]]:
    """Rows of ``columns`` whose (``first``, ``second``) is one of ``pairs``."""
    distinct = list(dict.fromkeys(pairs))
    found: list[tuple[Any, ...]] = []
    for batch in chunked(distinct, LOOKUP_CHUNK // 2):
        result = await conn.execute(select(*columns).where(tuple_(first, second).in_(batch)))
        found.extend(tuple(row) for row in result.all())
    return found
