"""workflow: the closed loop (work orders extended; consults, complaints, timeline,
supervision, urgings, calendar overrides and imported years, complaint-call holds)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('calendar_days',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('holiday', 'workday')", name=op.f('ck_calendar_days_kind')),
    sa.CheckConstraint("source IN ('override', 'import')", name=op.f('ck_calendar_days_source')),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_calendar_days'))
    )
    op.create_table('calendar_years',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('imported_by', sa.String(length=64), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_calendar_years'))
    )
    op.create_table('case_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_kind', sa.String(length=16), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=32), nullable=False),
    sa.Column('from_status', sa.String(length=24), nullable=True),
    sa.Column('to_status', sa.String(length=24), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_events'))
    )
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.create_index('ix_case_events_case', ['case_kind', 'case_id', 'at'], unique=False)

    op.create_table('supervisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_kind', sa.String(length=16), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('case_number', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.Column('area_path', sa.String(length=255), nullable=True),
    sa.Column('provider_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('overdue', 'repeated', 'unsatisfied')", name=op.f('ck_supervisions_reason')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_supervisions')),
    sa.UniqueConstraint('case_kind', 'case_id', 'reason', name=op.f('uq_supervisions_case_kind'))
    )
    with op.batch_alter_table('supervisions', schema=None) as batch_op:
        batch_op.create_index('ix_supervisions_raised', ['raised_at'], unique=False)

    op.create_table('urgings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('supervision_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.CheckConstraint("channel IN ('phone', 'online')", name=op.f('ck_urgings_channel')),
    sa.ForeignKeyConstraint(['supervision_id'], ['supervisions.id'], name=op.f('fk_urgings_supervision_id_supervisions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_urgings'))
    )
    with op.batch_alter_table('urgings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_urgings_supervision_id'), ['supervision_id'], unique=False)

    op.create_table('consults',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('area_path', sa.String(length=255), nullable=True),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_provisional', sa.Boolean(), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('received', 'pending', 'awaiting_elder', 'answered', 'closed')", name=op.f('ck_consults_status')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_consults_elder_id_elders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consults')),
    sa.UniqueConstraint('number', name=op.f('uq_consults_number'))
    )
    with op.batch_alter_table('consults', schema=None) as batch_op:
        batch_op.create_index('ix_consults_area_created', ['area_path', 'created_at'], unique=False, postgresql_ops={'area_path': 'varchar_pattern_ops'})
        batch_op.create_index(batch_op.f('ix_consults_elder_id'), ['elder_id'], unique=False)

    op.create_table('complaints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=24), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('area_path', sa.String(length=255), nullable=True),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('provider_id', sa.Integer(), nullable=True),
    sa.Column('work_order_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('satisfaction', sa.Integer(), nullable=True),
    sa.Column('valid', sa.Boolean(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('due_provisional', sa.Boolean(), nullable=False),
    sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("source IN ('direct', 'consumer_association', 'authority', 'media')", name=op.f('ck_complaints_source')),
    sa.CheckConstraint("status IN ('received', 'investigating', 'awaiting_complainant', 'proposal', 'replied', 'closed')", name=op.f('ck_complaints_status')),
    sa.CheckConstraint('satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5', name=op.f('ck_complaints_satisfaction')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_complaints_elder_id_elders'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_complaints_provider_id_providers'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['work_order_id'], ['work_orders.id'], name=op.f('fk_complaints_work_order_id_work_orders'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaints')),
    sa.UniqueConstraint('number', name=op.f('uq_complaints_number'))
    )
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.create_index('ix_complaints_area_created', ['area_path', 'created_at'], unique=False, postgresql_ops={'area_path': 'varchar_pattern_ops'})
        batch_op.create_index(batch_op.f('ix_complaints_elder_id'), ['elder_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaints_provider_id'), ['provider_id'], unique=False)

    op.create_table('complaint_calls',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('complaint_id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('recording_name', sa.String(length=128), nullable=True),
    sa.Column('linked_by', sa.String(length=64), nullable=False),
    sa.Column('linked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['complaint_id'], ['complaints.id'], name=op.f('fk_complaint_calls_complaint_id_complaints'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_complaint_calls')),
    sa.UniqueConstraint('complaint_id', 'call_id', name=op.f('uq_complaint_calls_complaint_id'))
    )
    with op.batch_alter_table('complaint_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_complaint_calls_complaint_id'), ['complaint_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_complaint_calls_recording_name'), ['recording_name'], unique=False)

    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('version', sa.Integer(), server_default='1', nullable=False))
        batch_op.add_column(sa.Column('area_path', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('call_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('service_type', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('provider_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('provider_reason', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('provider_override', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('staff_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('satisfaction', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('due_provisional', sa.Boolean(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('paused_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index('ix_work_orders_area_created', ['area_path', 'created_at'], unique=False, postgresql_ops={'area_path': 'varchar_pattern_ops'})
        batch_op.create_index('ix_work_orders_created', ['created_at'], unique=False)
        batch_op.create_index('ix_work_orders_elder_type', ['elder_id', 'service_type', 'created_at'], unique=False)
        batch_op.create_index('ix_work_orders_provider_status', ['provider_id', 'status'], unique=False)
        batch_op.create_index('ix_work_orders_number_prefix', ['number'], unique=False, postgresql_ops={'number': 'varchar_pattern_ops'})
        batch_op.create_foreign_key(batch_op.f('fk_work_orders_provider_id_providers'), 'providers', ['provider_id'], ['id'], ondelete='RESTRICT')
        batch_op.drop_constraint(op.f('ck_work_orders_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_work_orders_status'), "status IN ('accepted', 'amending', 'reviewed', 'dispatched', 'taken', 'in_service', 'returned', 'visited', 'closed', 'cancelled')")
        batch_op.create_check_constraint(op.f('ck_work_orders_satisfaction'),
                                         'satisfaction IS NULL OR satisfaction BETWEEN 1 AND 5')
    # Orders the SOS opened before the closed loop: their area, for jurisdiction.
    op.execute("UPDATE work_orders SET area_path = (SELECT areas.path FROM elders JOIN areas "
               "ON areas.id = elders.area_id WHERE elders.id = work_orders.elder_id) "
               "WHERE elder_id IS NOT NULL")



def downgrade() -> None:
    # States the old loop did not know go back to where it would have them.
    op.execute("UPDATE work_orders SET status = 'accepted' WHERE status NOT IN ('accepted', 'reviewing', 'dispatched', 'in_service', 'returned', 'visited', 'closed')")
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_work_orders_satisfaction'), type_='check')
        batch_op.drop_constraint(op.f('ck_work_orders_status'), type_='check')
        batch_op.create_check_constraint(op.f('ck_work_orders_status'), "status IN ('accepted', 'reviewing', 'dispatched', 'in_service', 'returned', 'visited', 'closed')")
        batch_op.drop_constraint(batch_op.f('fk_work_orders_provider_id_providers'), type_='foreignkey')
        batch_op.drop_index('ix_work_orders_provider_status')
        batch_op.drop_index('ix_work_orders_number_prefix', postgresql_ops={'number': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_work_orders_elder_type')
        batch_op.drop_index('ix_work_orders_created')
        batch_op.drop_index('ix_work_orders_area_created', postgresql_ops={'area_path': 'varchar_pattern_ops'})
        batch_op.drop_column('updated_at')
        batch_op.drop_column('paused_at')
        batch_op.drop_column('due_provisional')
        batch_op.drop_column('satisfaction')
        batch_op.drop_column('staff_name')
        batch_op.drop_column('provider_override')
        batch_op.drop_column('provider_reason')
        batch_op.drop_column('provider_id')
        batch_op.drop_column('service_type')
        batch_op.drop_column('call_id')
        batch_op.drop_column('area_path')
        batch_op.drop_column('version')

    with op.batch_alter_table('complaint_calls', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaint_calls_recording_name'))
        batch_op.drop_index(batch_op.f('ix_complaint_calls_complaint_id'))

    op.drop_table('complaint_calls')
    with op.batch_alter_table('complaints', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_complaints_provider_id'))
        batch_op.drop_index(batch_op.f('ix_complaints_elder_id'))
        batch_op.drop_index('ix_complaints_area_created', postgresql_ops={'area_path': 'varchar_pattern_ops'})

    op.drop_table('complaints')
    with op.batch_alter_table('consults', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consults_elder_id'))
        batch_op.drop_index('ix_consults_area_created', postgresql_ops={'area_path': 'varchar_pattern_ops'})

    op.drop_table('consults')
    with op.batch_alter_table('urgings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_urgings_supervision_id'))

    op.drop_table('urgings')
    with op.batch_alter_table('supervisions', schema=None) as batch_op:
        batch_op.drop_index('ix_supervisions_raised')

    op.drop_table('supervisions')
    with op.batch_alter_table('case_events', schema=None) as batch_op:
        batch_op.drop_index('ix_case_events_case')

    op.drop_table('case_events')
    op.drop_table('calendar_years')
    op.drop_table('calendar_days')
