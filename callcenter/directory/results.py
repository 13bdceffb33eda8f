"""What an import found and did: row errors, checked rows, the report."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ImportKind(enum.StrEnum):
    """What a file holds; areas first, then providers, elders, contacts."""

    AREAS = "areas"
    PROVIDERS = "providers"
    ELDERS = "elders"
    CONTACTS = "contacts"


@dataclass(frozen=True, order=True)
class RowError:
    """One problem with one row."""

    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"


class ImportFailed(Exception):
    """The file was refused; ``errors`` lists every problem found, in line order."""

    def __init__(self, path: Path, errors: list[RowError]) -> None:
        self.path = path
        self.errors = sorted(errors)
        super().__init__(f"{path}: {len(self.errors)} problem(s), nothing imported")


@dataclass
class ImportReport:
    """What a successful import did."""

    kind: ImportKind
    path: Path
    sha256: str
    encoding: str
    rows: int
    inserted: int = 0
    updated: int = 0
    linked: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The audit entry's ``after`` and the CLI's closing line."""
        return {
            "kind": self.kind.value,
            "file": self.path.name,
            "sha256": self.sha256,
            "encoding": self.encoding,
            "rows": self.rows,
            "inserted": self.inserted,
            "updated": self.updated,
            **self.linked,
        }


@dataclass
class ParsedRows:
    """The rows that passed their own checks, with their line numbers, and the errors."""

    rows: list[tuple[int, Any]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    def error(self, line: int, column: str, message: str) -> None:
        self.errors.append(RowError(line, column, message))
