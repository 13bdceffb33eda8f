"""recordings: CDR events kept in the store from arrival until applied (none lost to a crash)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cdr_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('node', sa.String(length=64), nullable=False),
    sa.Column('linkedid', sa.String(length=64), nullable=False),
    sa.Column('headers', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cdr_events'))
    )
    with op.batch_alter_table('cdr_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cdr_events_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cdr_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cdr_events_received_at'))

    op.drop_table('cdr_events')
