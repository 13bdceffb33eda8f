"""elders: the language or dialect they speak, and how they hear (the screen-pop shows both);
calls: the care call a hotline call came from (an elder who pressed 2)

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LANGUAGES = ("'mandarin', 'cantonese', 'shanghainese', 'minnan', 'hakka', 'sichuanese', "
             "'tianjin', 'northeastern', 'other'")


def upgrade() -> None:
    with op.batch_alter_table('elders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('language', sa.String(length=16), server_default='',
                                      nullable=False))
        batch_op.add_column(sa.Column('hearing', sa.String(length=16), server_default='normal',
                                      nullable=False))
        batch_op.create_check_constraint(
            op.f('ck_elders_language'), f"language = '' OR language IN ({LANGUAGES})")
        batch_op.create_check_constraint(
            op.f('ck_elders_hearing'), "hearing IN ('normal', 'hard_of_hearing', 'deaf')")
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('care_call_id', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_calls_care_call_id'), ['care_call_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calls_care_call_id'))
        batch_op.drop_column('care_call_id')
    with op.batch_alter_table('elders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_elders_hearing'), type_='check')
        batch_op.drop_constraint(op.f('ck_elders_language'), type_='check')
        batch_op.drop_column('hearing')
        batch_op.drop_column('language')
