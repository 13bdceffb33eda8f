"""wallboard: the screen-pops showing now (one row per agent rung for a call), agent
events by time, and calls that continue another by time (the supervisor's figures)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('screen_pops',
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('ringing', sa.JSON(), nullable=False),
    sa.Column('rung_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('call_id', 'agent', name=op.f('pk_screen_pops'))
    )
    with op.batch_alter_table('screen_pops', schema=None) as batch_op:
        batch_op.create_index('ix_screen_pops_agent', ['agent'], unique=False)
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.create_index('ix_agent_events_at', ['at'], unique=False)
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_parts_started_at', ['started_at'], unique=False,
                              postgresql_where=sa.text('parent_id IS NOT NULL'),
                              sqlite_where=sa.text('parent_id IS NOT NULL'))


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_parts_started_at')
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_events_at')
    with op.batch_alter_table('screen_pops', schema=None) as batch_op:
        batch_op.drop_index('ix_screen_pops_agent')

    op.drop_table('screen_pops')
