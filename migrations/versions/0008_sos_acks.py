"""sos_acks: which console user has acknowledged which incident

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sos_acks',
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['sos_incidents.id'], name=op.f('fk_sos_acks_incident_id_sos_incidents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_sos_acks_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('incident_id', 'user_id', name=op.f('pk_sos_acks'))
    )
    with op.batch_alter_table('sos_acks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sos_acks_user_id'), ['user_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sos_acks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sos_acks_user_id'))

    op.drop_table('sos_acks')
