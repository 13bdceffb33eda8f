"""A PostgreSQL login role the test can refuse connections to, as a full server would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import make_url

from callcenter.store import create_engine


class LimitedRole:
    """A non-superuser role on the test database whose connection limit the test sets."""

    def __init__(self, admin_url: str, name: str) -> None:
        self.admin_url = admin_url
        self.name = name
        self.url = (make_url(admin_url).set(username=name, password=None)
                    .render_as_string(hide_password=False))

    async def _run(self, *statements: str) -> None:
        engine = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                for statement in statements:
                    await conn.execute(text(statement))
        finally:
            await engine.dispose()

    async def refuse(self) -> None:
        """Every new connection now fails with PostgreSQL's "too many connections" (53300)."""
        await self._run(f'ALTER ROLE "{self.name}" CONNECTION LIMIT 0')

    async def admit(self) -> None:
        """Connections are accepted again (the pool or the server was "restarted")."""
        await self._run(f'ALTER ROLE "{self.name}" CONNECTION LIMIT -1')


@asynccontextmanager
async def limited_role(database_url: str) -> AsyncIterator[LimitedRole]:
    """A login role with every right on the test database's tables, dropped after."""
    role = LimitedRole(database_url, f"cc_limited_{uuid.uuid4().hex[:8]}")
    await role._run(
        f'CREATE ROLE "{role.name}" LOGIN',
        f'GRANT USAGE ON SCHEMA public TO "{role.name}"',
        f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role.name}"',
        f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role.name}"',
    )
    try:
        yield role
    finally:
        await role._run(f'DROP OWNED BY "{role.name}"', f'DROP ROLE "{role.name}"')
