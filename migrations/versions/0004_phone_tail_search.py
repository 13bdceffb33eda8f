"""elder_phones.number_reversed: indexable search by a number's trailing digits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Rows per backfill UPDATE batch.
_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table('elder_phones', schema=None) as batch_op:
        batch_op.add_column(sa.Column('number_reversed', sa.String(length=32), nullable=True))

    # Backfilled in Python, not with SQL reverse(): SQLite has no such function, and one
    # code path gives the same result on both backends.
    phones = sa.table(
        'elder_phones', sa.column('id', sa.Integer()), sa.column('number', sa.String()),
        sa.column('number_reversed', sa.String()),
    )
    bind = op.get_bind()
    update = (
        sa.update(phones)
        .where(phones.c.id == sa.bindparam('phone_id'))
        .values(number_reversed=sa.bindparam('reversed'))
    )
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(phones.c.id, phones.c.number)
            .where(phones.c.id > last_id)
            .order_by(phones.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        bind.execute(update, [{'phone_id': id_, 'reversed': number[::-1]} for id_, number in rows])
        last_id = rows[-1][0]

    with op.batch_alter_table('elder_phones', schema=None) as batch_op:
        batch_op.alter_column('number_reversed', existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(
            'ix_elder_phones_number_reversed',
            ['number_reversed'],
            unique=False,
            postgresql_ops={'number_reversed': 'varchar_pattern_ops'},
        )


def downgrade() -> None:
    with op.batch_alter_table('elder_phones', schema=None) as batch_op:
        batch_op.drop_index('ix_elder_phones_number_reversed')
        batch_op.drop_column('number_reversed')
