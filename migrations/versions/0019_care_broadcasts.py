"""care: weather-warning broadcasts for an area, the days laid out

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('care_layouts',
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('laid_out_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('calls', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('local_date', name=op.f('pk_care_layouts'))
    )
    op.create_table('care_broadcasts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('valid_until', sa.DateTime(timezone=True), nullable=False),
    sa.Column('elders', sa.Integer(), nullable=False),
    sa.Column('without_phone', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('cancelled_by', sa.String(length=64), nullable=True),
    sa.Column('cancelled_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_care_broadcasts_area_id_areas'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_broadcasts'))
    )
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('broadcast_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_care_tasks_broadcast_id'), ['broadcast_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_care_tasks_broadcast_id_care_broadcasts'), 'care_broadcasts', ['broadcast_id'], ['id'], ondelete='CASCADE')



def downgrade() -> None:
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_care_tasks_broadcast_id_care_broadcasts'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_care_tasks_broadcast_id'))
        batch_op.drop_column('broadcast_id')

    op.drop_table('care_broadcasts')
    op.drop_table('care_layouts')
