"""``callcenter import …`` and ``callcenter user add``: the directory's operator commands."""

from __future__ import annotations

import asyncio
import getpass
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.exc import DBAPIError

from callcenter.clitools import settings_or_exit
from callcenter.crypto import FieldCipher
from callcenter.directory.csvfile import CsvFileError
from callcenter.directory.importer import import_file
from callcenter.directory.results import ImportFailed, ImportKind, ImportReport
from callcenter.directory.users import UserError, add_user, set_contact
from callcenter.passwords import Passwords
from callcenter.settings import Settings
from callcenter.store.cli import open_store, store_failure
from callcenter.store.models import Role


def _settings() -> Settings:

    return settings_or_exit()


def default_actor() -> str:
    """Who the audit trail names for a command run at a shell: the OS user."""
    try:
        return f"os:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry, e.g. in a bare container
        return "os:unknown"


actor_option = click.option(
    "--actor", default=None, help="Name recorded in the audit trail (default: the OS user)."
)


class BarProgress:
    """A click progress bar per import phase, drawn on stderr."""

    def __init__(self) -> None:
        self._bar: Any = None

    def phase(self, label: str, total: int) -> None:
        self.close()
        self._bar = click.progressbar(length=max(total, 1), label=label, file=sys.stderr)
        self._bar.__enter__()

    def advance(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


async def _import(settings: Settings, kind: ImportKind, path: Path, actor: str) -> ImportReport:
    progress = BarProgress() if sys.stderr.isatty() else None
    try:
        async with open_store(settings) as sessions:
            cipher = FieldCipher(settings.secret_key_bytes())
            return await import_file(sessions, cipher, kind, path, actor=actor, progress=progress)
    finally:
        if progress is not None:
            progress.close()


@click.group("import")
def import_group() -> None:
    """Import directory CSV files: areas, then providers, elders, contacts.

    Every row is checked first; any bad row is reported with its line number and
    nothing is imported. An existing code is updated (columns absent from the file
    are left as they are).
    """


def _import_command(kind: ImportKind) -> click.Command:
    @click.command(kind.value, help=f"Import {kind.value} from FILE (CSV, UTF-8 or GB18030).")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @actor_option
    def command(file: Path, actor: str | None) -> None:
        settings = _settings()
        try:
            report = asyncio.run(_import(settings, kind, file, actor or default_actor()))
        except CsvFileError as err:
            click.echo(f"{file}: {err}; nothing imported", err=True)
            sys.exit(1)
        except ImportFailed as err:
            for error in err.errors:
                click.echo(f"{file}: {error}", err=True)
            click.echo(f"{file}: {len(err.errors)} problem(s); nothing imported", err=True)
            sys.exit(1)
        except (DBAPIError, OSError) as err:
            click.echo(f"callcenter: {store_failure(err)}; nothing imported", err=True)
            sys.exit(1)
        extra = "".join(f", {name} {count}" for name, count in report.linked.items())
        click.echo(
            f"{file}: imported {report.rows} {kind.value} "
            f"({report.inserted} new, {report.updated} updated{extra}; {report.encoding})"
        )

    return command


for _kind in ImportKind:
    import_group.add_command(_import_command(_kind))


_PHONE_HELP = "Mobile for deadline warnings by SMS: 13800138000 or +<country><number>."
_EMAIL_HELP = "Address for deadline warnings by email."


@click.group("user")
def user_group() -> None:
    """Console user accounts."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


async def _add_user(settings: Settings, **fields: Any) -> int:
    async with open_store(settings) as sessions, sessions.begin() as session:
        user = await add_user(session, Passwords(), **fields)
        return user.id


@user_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--area", "area_code", default=None, help="Code of the area the user is scoped to.")
@click.option("--display-name", default="", help="Name shown in the console.")
@click.option("--endpoint", default=None, help="The agent's softphone endpoint, e.g. PJSIP/1001.")
@click.option("--phone", default=None, help=_PHONE_HELP)
@click.option("--email", default=None, help=_EMAIL_HELP)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@actor_option
def user_add(
    name: str,
    role: str,
    area_code: str | None,
    display_name: str,
    endpoint: str | None,
    phone: str | None,
    email: str | None,
    password_stdin: bool,
    actor: str | None,
) -> None:
    """Create console user NAME; the password is prompted for (hidden, twice)."""
    settings = _settings()
    password = _read_password(password_stdin)
    try:
        user_id = asyncio.run(
            _add_user(
                settings,
                username=name,
                password=password,
                role=role,
                actor=actor or default_actor(),
                area_code=area_code,
                display_name=display_name,
                endpoint=endpoint,
                phone=phone,
                email=email,
            )
        )
    except UserError as err:
        click.echo(f"callcenter: {err}", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(1)
    scope = f" in area {area_code}" if area_code else ""
    click.echo(f"user {name} ({role}{scope}) created with id {user_id}")


async def _set_contact(settings: Settings, name: str, **fields: Any) -> tuple[str | None, str | None]:
    async with open_store(settings) as sessions, sessions.begin() as session:
        user = await set_contact(session, name, **fields)
        return user.phone, user.email


@user_group.command("contact")
@click.argument("name")
@click.option("--phone", default=None, help=_PHONE_HELP + ' "" removes it.')
@click.option("--email", default=None, help=_EMAIL_HELP + ' "" removes it.')
@actor_option
def user_contact(name: str, phone: str | None, email: str | None, actor: str | None) -> None:
    """Set or remove user NAME's phone and email (audited; both checked before either changes)."""
    if phone is None and email is None:
        raise click.UsageError("give --phone and/or --email")
    try:
        now = asyncio.run(_set_contact(_settings(), name, actor=actor or default_actor(),
                                       phone=phone, email=email))
    except UserError as err:
        click.echo(f"callcenter: {err}", err=True)
        sys.exit(1)
    except (DBAPIError, OSError) as err:
        click.echo(f"callcenter: {store_failure(err)}", err=True)
        sys.exit(1)
    click.echo(f"user {name}: phone {now[0] or '-'}, email {now[1] or '-'}")
