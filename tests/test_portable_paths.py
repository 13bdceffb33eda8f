"""The repository carries its own data: no tracked file points at this machine or beside the clone."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# An absolute path under the machine's work folder ("[k]" keeps this file from matching itself).
MACHINE_PATH = re.compile(rb"(?<![\w.~-])/wor[k]/")
# Data beside the clone (e.g. the shared Asterisk traces); the project's shared design documents
# (REQUIREMENTS.md, DESIGN.md, STYLE.md) are references for readers, not data the code reads.
SIBLING_DATA = re.compile(rb"\.\./shared/(?!(?:REQUIREMENTS|DESIGN|STYLE)\.md)")


def tracked_files() -> list[Path]:
    """Every file git tracks in this checkout."""
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    return [ROOT / name.decode() for name in out.split(b"\0") if name]


def path_offences(text: bytes) -> list[tuple[int, str]]:
    """(line number, line) of every line naming a machine path or data beside the clone."""
    return [
        (number, line.decode(errors="replace").strip())
        for number, line in enumerate(text.splitlines(), 1)
        if MACHINE_PATH.search(line) or SIBLING_DATA.search(line)
    ]


def test_the_scan_catches_machine_and_sibling_data_paths() -> None:
    machine = b"TRACES = Path('/wor" + b"k/" + b"shared/asterisk/traces')"
    sibling = b"see ../shar" + b"ed/asterisk/traces/README.md"
    ok = b"docs in ../shared/DESIGN.md; TRACES = ROOT / 'tests/data/asterisk/traces'"
    assert path_offences(b"\n".join([ok, machine, ok, sibling])) == [
        (2, machine.decode()), (4, sibling.decode())
    ]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout")
def test_no_tracked_file_names_a_machine_path_or_data_beside_the_clone() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line}"
        for path in tracked_files()
        if path.is_file()
        for number, line in path_offences(path.read_bytes())
    ]
    assert found == [], "\n".join(found)
