"""``callcenter demo``: what it tells a newcomer, and ``--reset``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from callcenter import demo as demo_module
from callcenter.cli import main
from callcenter.demo import demo_instructions, reset_demo_data
from callcenter.settings import Settings, load_settings

PHONE = "13800138000"
SECRET = "demo-test-secret-0123456789abcdef0123"


def _demo_files(data_dir: Path) -> Settings:
    """Settings on a SQLite store under ``data_dir``, with a store, its WAL and a recording."""
    settings = load_settings(data_dir=data_dir, secret_key=SECRET)
    data_dir.mkdir(parents=True)
    with sqlite3.connect(data_dir / "callcenter.db") as db:
        db.execute("CREATE TABLE marker (id INTEGER)")
    (data_dir / "callcenter.db-wal").write_bytes(b"")
    assert settings.recordings_dir is not None
    settings.recordings_dir.mkdir()
    (settings.recordings_dir / "incident-1.wav").write_bytes(b"RIFF")
    return settings


def test_instructions_name_the_elder_phone_and_how_to_reset() -> None:
    lines = demo_instructions("http://127.0.0.1:18089", PHONE, "callcenter")
    assert PHONE in lines[0]
    assert "callcenter demo --reset" in lines[-1]


def test_instructions_without_an_elder_still_say_how_to_reset() -> None:
    lines = demo_instructions("http://127.0.0.1:18089", None, "callcenter")
    assert not [line for line in lines if "curl" in line]
    assert "--reset" in lines[-1]


def test_reset_deletes_the_sqlite_store_and_recordings_and_nothing_else(tmp_path: Path) -> None:
    settings = _demo_files(tmp_path / "var")
    (tmp_path / "var" / "secret.key").write_text("kept")
    removed = reset_demo_data(settings)
    assert sorted(path.name for path in removed) == [
        "callcenter.db", "callcenter.db-wal", "recordings"]
    assert [path.name for path in (tmp_path / "var").iterdir()] == ["secret.key"]


def test_demo_reset_starts_from_a_fresh_store(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    settings = _demo_files(tmp_path / "var")
    started: list[Settings] = []

    async def run_demo(settings: Settings, *args: object) -> None:
        started.append(settings)

    monkeypatch.setattr(demo_module, "run_demo", run_demo)
    result = CliRunner().invoke(main, ["demo", "--reset"], env={
        "CALLCENTER_DATA_DIR": str(settings.data_dir), "CALLCENTER_SECRET_KEY": SECRET})
    assert result.exit_code == 0, result.output
    assert "deleted" in result.output and len(started) == 1
    with sqlite3.connect(settings.data_dir / "callcenter.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "marker" not in tables and "elders" in tables
    assert settings.recordings_dir is not None and not settings.recordings_dir.exists()


def test_demo_reset_refuses_a_server_database_and_deletes_nothing(tmp_path: Path) -> None:
    settings = _demo_files(tmp_path / "var")
    result = CliRunner().invoke(main, ["demo", "--reset"], env={
        "CALLCENTER_DATA_DIR": str(settings.data_dir), "CALLCENTER_SECRET_KEY": SECRET,
        "CALLCENTER_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"})
    assert result.exit_code == 2
    assert "SQLite store only" in result.output
    assert (settings.data_dir / "callcenter.db").exists()
    assert settings.recordings_dir is not None and settings.recordings_dir.exists()
