"""The operator commands through click: import, user add, audit verify, db current."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text

from callcenter.cli import main
from callcenter.settings import Settings
from callcenter.store import create_engine, session_factory
from callcenter.store.models import AuditEntry, Elder, User

from .conftest import AREAS_CSV, ELDER_HEADER, elder_line

STRONG = "Correct-Horse-42"


@pytest.fixture
def cli(settings: Settings):  # type: ignore[no-untyped-def]
    """Run ``callcenter ARGS`` against the test store."""
    assert settings.secret_key is not None
    env = {
        "CALLCENTER_DATABASE_URL": settings.database_url,
        "CALLCENTER_SECRET_KEY": settings.secret_key.get_secret_value(),
        "CALLCENTER_DATA_DIR": str(settings.data_dir),
    }

    def run(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(main, list(args), input=stdin, env=env, catch_exceptions=False)

    return run


def _query(database_url: str, statement):  # type: ignore[no-untyped-def]
    async def go():  # type: ignore[no-untyped-def]
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return (await session.execute(statement)).all()
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _import_areas(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "areas.csv"
    path.write_text(AREAS_CSV, encoding="utf-8")
    assert cli("import", "areas", str(path)).exit_code == 0


def test_import_reports_every_bad_line_on_stderr_and_exits_1(cli, tmp_path: Path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    _import_areas(cli, tmp_path)
    path = tmp_path / "elders.csv"
    path.write_text("\n".join([ELDER_HEADER, elder_line("E1"), elder_line("E2", seq=4, area="404"),
                               elder_line("E3", seq=6, phones="999")]) + "\n", encoding="utf-8")
    result = cli("import", "elders", str(path))
    assert result.exit_code == 1
    assert f"{path}: line 3: area_code: 404: no such area" in result.stderr
    assert f"{path}: line 4: phones:" in result.stderr
    assert "2 problem(s); nothing imported" in result.stderr
    assert _query(database_url, select(Elder.id)) == []


def test_import_good_file_prints_counts_and_audits_the_actor(cli, tmp_path: Path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    _import_areas(cli, tmp_path)
    path = tmp_path / "elders.csv"
    path.write_text(ELDER_HEADER + "\n" + elder_line("E1") + "\n", encoding="utf-8")
    result = cli("import", "elders", str(path), "--actor", "ops-li")
    assert result.exit_code == 0, result.output
    assert "imported 1 elders (1 new, 0 updated" in result.stdout
    actors = _query(database_url, select(AuditEntry.actor).where(AuditEntry.entity == "elders"))
    assert actors == [("ops-li",)]


def test_user_add_with_password_on_stdin_creates_an_audited_user(cli, tmp_path: Path, database_url: str) -> None:  # type: ignore[no-untyped-def]
    _import_areas(cli, tmp_path)
    result = cli("user", "add", "li.ming", "--role", "agent", "--area", "120104001",
                 "--endpoint", "1001", "--password-stdin", stdin=STRONG + "\n")
    assert result.exit_code == 0, result.output
    (user,) = _query(database_url, select(User))
    assert (user[0].role, user[0].endpoint) == ("agent", "1001")
    assert STRONG not in user[0].password_hash and user[0].password_hash.startswith("$argon2id$")
    assert _query(database_url, select(AuditEntry.action).where(AuditEntry.entity == "user")) == [("user.add",)]


def test_user_add_prompts_twice_for_the_password(cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("user", "add", "admin2", "--role", "admin", stdin=f"{STRONG}\n{STRONG}\n")
    assert result.exit_code == 0, result.output
    assert _query(database_url, select(User.username)) == [("admin2",)]


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["--role", "agent"], "short1!", "password too weak: at least 10 characters"),
        (["--role", "agent"], "alllowercaseletters", "password too weak: at least three of"),
        (["--role", "agent", "--area", "999"], STRONG, "area '999': no such area"),
        (["--role", "boss"], STRONG, "Invalid value for '--role'"),
    ],
)
def test_user_add_refuses_weak_passwords_bad_roles_and_unknown_areas(  # type: ignore[no-untyped-def]
    cli, database_url: str, args: list[str], password: str, message: str
) -> None:
    result = cli("user", "add", "wang", *args, "--password-stdin", stdin=password + "\n")
    assert result.exit_code != 0
    assert message in result.output
    assert _query(database_url, select(User.id)) == []


def test_user_add_refuses_an_existing_name(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("user", "add", "wang", "--role", "agent", "--password-stdin", stdin=STRONG).exit_code == 0
    result = cli("user", "add", "wang", "--role", "agent", "--password-stdin", stdin=STRONG)
    assert result.exit_code == 1 and "already exists" in result.stderr


def test_user_add_stores_the_phone_as_e164_and_the_email(cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("user", "add", "wang", "--role", "supervisor", "--phone", "138 0013 8000",
                 "--email", "wang@example.cn", "--password-stdin", stdin=STRONG)
    assert result.exit_code == 0, result.output
    assert _query(database_url, select(User.phone, User.email)) == [("+8613800138000", "wang@example.cn")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--phone", "12345"], "phone '12345': a Chinese mobile number"),
        (["--phone", "0085291234567"], "phone '0085291234567'"),
        (["--email", "wang@"], "email 'wang@': not a mail address"),
        (["--phone", "+85291234567", "--email", "wang at example.cn"], "email 'wang at example.cn'"),
    ],
)
def test_user_add_refuses_a_bad_phone_or_email_and_creates_nothing(  # type: ignore[no-untyped-def]
    cli, database_url: str, args: list[str], message: str
) -> None:
    result = cli("user", "add", "wang", "--role", "agent", *args, "--password-stdin", stdin=STRONG)
    assert result.exit_code == 1 and message in result.stderr
    assert _query(database_url, select(User.id)) == []


def test_user_contact_sets_and_clears_audited_and_a_bad_value_changes_nothing(  # type: ignore[no-untyped-def]
    cli, database_url: str
) -> None:
    assert cli("user", "add", "wang", "--role", "agent", "--password-stdin", stdin=STRONG).exit_code == 0
    result = cli("user", "contact", "wang", "--phone", "+85291234567", "--email", "w@example.cn")
    assert result.exit_code == 0, result.output
    assert "phone +85291234567, email w@example.cn" in result.stdout
    # A good phone with a bad email: neither changes.
    bad = cli("user", "contact", "wang", "--phone", "13900139000", "--email", "nope")
    assert bad.exit_code == 1 and "email 'nope'" in bad.stderr
    assert _query(database_url, select(User.phone, User.email)) == [("+85291234567", "w@example.cn")]
    assert cli("user", "contact", "wang", "--email", "").exit_code == 0
    assert _query(database_url, select(User.phone, User.email)) == [("+85291234567", None)]
    assert cli("user", "contact", "ghost", "--phone", "13900139000").exit_code == 1
    actions = _query(database_url, select(AuditEntry.action).where(AuditEntry.entity == "user"))
    assert actions == [("user.add",), ("user.contact",), ("user.contact",)]


def _tamper(database_url: str) -> None:
    async def go() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    await conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change"))
                    await conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
                    await conn.execute(text("ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_change"))
                else:
                    await conn.execute(text("DROP TRIGGER audit_log_no_update"))
                    await conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 1"))
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_audit_verify_exits_0_on_an_intact_chain_and_1_on_a_broken_one(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, database_url: str
) -> None:
    _import_areas(cli, tmp_path)
    cli("user", "add", "wang", "--role", "agent", "--password-stdin", stdin=STRONG)
    intact = cli("audit", "verify")
    assert intact.exit_code == 0
    assert "2 audit entries checked" in intact.stdout
    _tamper(database_url)
    broken = cli("audit", "verify")
    assert broken.exit_code == 1
    assert "problem: entry 1: content was altered" in broken.stdout


def test_db_current_names_the_head_revision(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("db", "current")
    assert result.exit_code == 0
    assert result.stdout.strip() not in ("", "none")


def test_demo_data_generate_prints_the_logins(cli, database_url: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("demo-data", "generate", "--elders", "25", "--seed", "3")
    assert result.exit_code == 0, result.output
    assert "25 elders" in result.stdout
    for role in ("admin", "supervisor", "auditor", "agent"):
        assert f" {role}" in result.stdout
    assert _query(database_url, select(func.count()).select_from(Elder)) == [(25,)]
