"""``callcenter import …``: check every row of a directory CSV, then write all or nothing.

Every row is checked (its cells, duplicates within the file, references and clashes
with the store) before anything is written; one bad row means nothing is imported
and every problem is reported with its line number (DESIGN invariant 6). A good file
is written in one transaction through :class:`DirectoryWriter`, with one audit entry
summarising it. Re-importing a code updates that record (upsert): columns absent from
the file's header are left as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from callcenter import audit
from callcenter.crypto import FieldCipher, mask_id_number
from callcenter.directory.csvfile import WIDTH_ERROR, CsvFile, read_csv
from callcenter.directory.plans import StoreChecks
from callcenter.directory.results import (
    ImportFailed,
    ImportKind,
    ImportReport,
    ParsedRows,
)
from callcenter.directory.rows import (
    AreaRow,
    ContactRow,
    CsvRow,
    ElderRow,
    ProviderRow,
    describe_errors,
)
from callcenter.store.engine import SessionFactory

ROW_SCHEMAS: dict[ImportKind, type[CsvRow]] = {
    ImportKind.AREAS: AreaRow,
    ImportKind.PROVIDERS: ProviderRow,
    ImportKind.ELDERS: ElderRow,
    ImportKind.CONTACTS: ContactRow,
}


class Progress(Protocol):
    """Where the importer reports how far it got (the CLI draws a bar from it)."""

    def phase(self, label: str, total: int) -> None: ...

    def advance(self, count: int) -> None: ...


class _Silent:
    def phase(self, label: str, total: int) -> None:
        return None

    def advance(self, count: int) -> None:
        return None


def parse_rows(csv_file: CsvFile, schema: type[CsvRow], advance: Callable[[int], None]) -> ParsedRows:
    """Validate each record against ``schema``; collect every error."""
    parsed = ParsedRows()
    for count, record in enumerate(csv_file.records, start=1):
        if WIDTH_ERROR in record.cells:
            parsed.error(record.line, "", record.cells[WIDTH_ERROR])
        else:
            try:
                parsed.rows.append((record.line, schema.model_validate(record.cells)))
            except ValidationError as err:
                for column, message in describe_errors(err):
                    parsed.error(record.line, column, message)
        if count % 1000 == 0:
            advance(1000)
    advance(len(csv_file.records) % 1000)
    return parsed


def find_duplicates(parsed: ParsedRows, column: str, keys: Callable[[Any], list[str]]) -> None:
    """Report every row reusing a ``keys`` value already used by an earlier row of the file."""
    first_line: dict[str, int] = {}
    for line, row in parsed.rows:
        for value in keys(row):
            if value in first_line:
                shown = mask_id_number(value) if column == "id_number" else value
                parsed.error(line, column, f"{shown} is already on line {first_line[value]}")
            else:
                first_line[value] = line


_UNIQUE_IN_FILE: dict[ImportKind, list[tuple[str, Callable[[Any], list[str]]]]] = {
    ImportKind.AREAS: [("code", lambda row: [row.code])],
    ImportKind.PROVIDERS: [("code", lambda row: [row.code])],
    ImportKind.ELDERS: [
        ("code", lambda row: [row.code]),
        ("id_number", lambda row: [row.id_number]),
        ("sos_devices", lambda row: list(row.sos_devices)),
    ],
    ImportKind.CONTACTS: [
        ("priority", lambda row: [f"{row.role.value} #{row.priority} of elder {row.elder_code}"]),
    ],
}


async def import_file(
    sessions: SessionFactory,
    cipher: FieldCipher,
    kind: ImportKind,
    path: Path,
    *,
    actor: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Import ``path`` as ``kind``; raise :class:`ImportFailed` (nothing written) on any problem.

    :class:`callcenter.directory.csvfile.CsvFileError` is raised when the file as a
    whole cannot be read.
    """
    progress = progress or _Silent()
    schema = ROW_SCHEMAS[kind]
    csv_file = read_csv(path, schema.columns(), schema.required)
    progress.phase(f"checking {path.name}", len(csv_file.records))
    parsed = parse_rows(csv_file, schema, progress.advance)
    for column, key in _UNIQUE_IN_FILE[kind]:
        find_duplicates(parsed, column, key)
    report = ImportReport(kind, path, csv_file.sha256, csv_file.encoding, len(csv_file.records))
    async with sessions.begin() as session:
        conn = await session.connection()
        checks = StoreChecks(conn, cipher, parsed, set(csv_file.columns), report)
        plan = await checks.plan(kind)
        if parsed.errors:
            raise ImportFailed(path, parsed.errors)
        progress.phase(f"writing {path.name}", plan.rows_to_write)
        await plan.write(progress.advance)
        await audit.record(
            session,
            actor=actor,
            action="directory.import",
            entity=kind.value,
            entity_id=csv_file.sha256,
            after=report.summary(),
            reason=f"import of {path.name}",
        )
    return report
