"""hotline: the callback list and high-risk elders

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('hotline_callbacks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_result', sa.String(length=64), nullable=False),
    sa.Column('connected_call_id', sa.String(length=64), nullable=True),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('pending', 'dialling', 'connected', 'failed', 'cleared')", name=op.f('ck_hotline_callbacks_status')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_hotline_callbacks_elder_id_elders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_callbacks')),
    sa.UniqueConstraint('call_id', name=op.f('uq_hotline_callbacks_call_id'))
    )
    with op.batch_alter_table('hotline_callbacks', schema=None) as batch_op:
        batch_op.create_index('ix_hotline_callbacks_number', ['number'], unique=False)
        batch_op.create_index('ix_hotline_callbacks_status_place', ['status', 'priority', 'queued_at'], unique=False)

    op.create_table('hotline_high_risk',
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('set_by', sa.String(length=64), nullable=False),
    sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_hotline_high_risk_elder_id_elders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('elder_id', name=op.f('pk_hotline_high_risk'))
    )


def downgrade() -> None:
    op.drop_table('hotline_high_risk')
    with op.batch_alter_table('hotline_callbacks', schema=None) as batch_op:
        batch_op.drop_index('ix_hotline_callbacks_status_place')
        batch_op.drop_index('ix_hotline_callbacks_number')
    op.drop_table('hotline_callbacks')
