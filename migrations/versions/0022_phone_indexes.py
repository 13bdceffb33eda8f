"""contacts, providers, provider_staff: indexes on phone (the route's who-is-calling read)

Each hotline call's route asks whose number calls: without these indexes PostgreSQL read
every contact of the directory for it (15 000 rows for 3 000 elders, 1.2 ms a call).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ('contacts', 'providers', 'provider_staff')


def upgrade() -> None:
    for table in _TABLES:
        op.create_index(f'ix_{table}_phone', table, ['phone'], unique=False)


def downgrade() -> None:
    for table in _TABLES:
        op.drop_index(f'ix_{table}_phone', table_name=table)
