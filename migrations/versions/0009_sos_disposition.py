"""sos_disposition: how staff closed an incident (disposition, note, who)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('sos_incidents', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disposition', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('note', sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column('ended_by', sa.String(length=64), nullable=True))
        batch_op.create_check_constraint(
            op.f('ck_sos_incidents_disposition'),
            "disposition IS NULL OR disposition IN ('resolved', 'false_alarm', "
            "'transferred_to_120', 'elder_unreachable', 'other')",
        )


def downgrade() -> None:
    with op.batch_alter_table('sos_incidents', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_sos_incidents_disposition'), type_='check')
        batch_op.drop_column('ended_by')
        batch_op.drop_column('note')
        batch_op.drop_column('disposition')
