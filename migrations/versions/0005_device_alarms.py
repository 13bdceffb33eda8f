"""device_alarms: accepted device alarm ids, so that a retry never opens a second incident

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_alarms',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('alarm_id', sa.String(length=64), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('via', sa.String(length=8), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('device_id', 'alarm_id', name=op.f('pk_device_alarms'))
    )
    with op.batch_alter_table('device_alarms', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_alarms_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device_alarms', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_alarms_received_at'))
    op.drop_table('device_alarms')
