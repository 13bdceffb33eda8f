"""The rendered Asterisk configuration matches the reviewed golden files byte for byte.

To refresh the goldens after an intended template change, run
``CALLCENTER_TEST_UPDATE_GOLDEN=1 python -m pytest tests/dialplan`` and review the diff
of ``tests/dialplan/golden/`` before committing. (The variable carries the TEST_ prefix
so that ``load_settings`` and the suite's environment cleaning leave it alone.)
"""

from __future__ import annotations

import os

import pytest

from callcenter.settings import Settings
from dialplan.directory import Directory
from dialplan.render import CONFIG_FILES, render_config
from tests.dialplan.conftest import GOLDEN_DIR

UPDATE_GOLDEN = os.environ.get("CALLCENTER_TEST_UPDATE_GOLDEN") == "1"


@pytest.fixture
def rendered(golden_settings: Settings, golden_directory: Directory) -> dict[str, str]:
    """The files rendered from the fixed input, refreshing the goldens when asked to."""
    files = render_config(golden_settings, golden_directory)
    if UPDATE_GOLDEN:
        GOLDEN_DIR.mkdir(exist_ok=True)
        for stale in GOLDEN_DIR.glob("*.conf"):
            if stale.name not in files:
                stale.unlink()
        for name, text in files.items():
            (GOLDEN_DIR / name).write_text(text, encoding="utf-8")
    return files


@pytest.mark.parametrize("name", CONFIG_FILES)
def test_rendered_file_matches_golden(rendered: dict[str, str], name: str) -> None:
    """Each rendered file is exactly its golden file."""
    golden = GOLDEN_DIR / name
    assert golden.exists(), f"no golden {golden}; run with CALLCENTER_TEST_UPDATE_GOLDEN=1"
    assert rendered[name] == golden.read_text(encoding="utf-8")


def test_golden_directory_holds_exactly_the_rendered_files(rendered: dict[str, str]) -> None:
    """No golden file is left over from a template that no longer exists."""
    assert sorted(p.name for p in GOLDEN_DIR.glob("*.conf")) == sorted(rendered)


def test_rendering_is_deterministic(golden_settings: Settings, golden_directory: Directory) -> None:
    """Two renders of the same input are identical (no timestamps, no set ordering)."""
    assert render_config(golden_settings, golden_directory) == render_config(
        golden_settings, golden_directory
    )
