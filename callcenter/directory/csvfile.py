"""Read a directory CSV: detect its encoding, check its header, number its records."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Key of the only cell of a record whose width does not match the header.
WIDTH_ERROR = "__width__"


class CsvFileError(Exception):
    """The file as a whole cannot be read (encoding, header); no row was looked at."""


@dataclass(frozen=True)
class CsvRecord:
    """One data record: the line it starts on (header = line 1) and its cells by column."""

    line: int
    cells: dict[str, str]


@dataclass(frozen=True)
class CsvFile:
    """A decoded CSV file with its header checked."""

    path: Path
    sha256: str
    encoding: str
    columns: tuple[str, ...]
    records: list[CsvRecord]


def decode(raw: bytes) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (BOM tolerated), else GB18030 (Excel in a Chinese locale)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError(
            "the file is UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' instead"
        )
    if raw.startswith(codecs.BOM_UTF8):
        try:
            return raw[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as err:
            raise CsvFileError(f"the file starts with a UTF-8 BOM but {err}") from None
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as utf8_error:
        try:
            return raw.decode("gb18030"), "gb18030"
        except UnicodeDecodeError:
            raise CsvFileError(
                f"the file is neither UTF-8 nor GB18030/GBK text "
                f"(bad byte at offset {utf8_error.start}); save it as 'CSV UTF-8'"
            ) from None


def _records(reader: Any) -> Iterator[CsvRecord]:
    """Yield the data records with the line each starts on (quoted cells may span lines)."""
    columns: tuple[str, ...] = tuple(name.strip().lower() for name in next(reader))
    previous_end = reader.line_num
    for cells in reader:
        start, previous_end = previous_end + 1, reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, or ",,,," rows Excel leaves at the end
        if len(cells) != len(columns):
            width = f"has {len(cells)} cells, the header has {len(columns)}"
            yield CsvRecord(start, {WIDTH_ERROR: width})
            continue
        yield CsvRecord(start, dict(zip(columns, cells, strict=True)))


def read_csv(path: Path, allowed: tuple[str, ...], required: tuple[str, ...]) -> CsvFile:
    """Read ``path`` whole; raise :class:`CsvFileError` for a bad encoding or header."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise CsvFileError(f"cannot read the file: {err.strerror}") from None
    text, encoding = decode(raw)
    try:
        header = next(csv.reader(io.StringIO(text, newline=""), strict=True))
    except StopIteration:
        raise CsvFileError("the file is empty; line 1 must be the header") from None
    except csv.Error as err:
        raise CsvFileError(f"line 1: {err}") from None
    columns = tuple(name.strip().lower() for name in header)
    problems = []
    unknown = [name for name in columns if name not in allowed]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
    missing = [name for name in required if name not in columns]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    doubled = sorted({name for name in columns if columns.count(name) > 1})
    if doubled:
        problems.append(f"column(s) listed twice: {', '.join(doubled)}")
    if problems:
        raise CsvFileError("line 1 (header): " + "; ".join(problems))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = list(_records(reader))
    except csv.Error as err:
        raise CsvFileError(f"line {reader.line_num}: {err}") from None
    return CsvFile(
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        encoding=encoding,
        columns=columns,
        records=records,
    )
