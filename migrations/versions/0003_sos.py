"""sos incidents and work orders

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sos_incidents',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('identified', sa.Boolean(), nullable=False),
    sa.Column('caller_number', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('area_path', sa.String(length=255), nullable=True),
    sa.Column('node', sa.String(length=64), nullable=False),
    sa.Column('bridge_id', sa.String(length=64), nullable=False),
    sa.Column('recording_name', sa.String(length=128), nullable=True),
    sa.Column('work_order_number', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_answer_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'ended')", name=op.f('ck_sos_incidents_status')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_sos_incidents_elder_id_elders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sos_incidents'))
    )
    with op.batch_alter_table('sos_incidents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sos_incidents_elder_id'), ['elder_id'], unique=False)
        batch_op.create_index('ix_sos_incidents_status_started', ['status', 'started_at'], unique=False)

    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('incident_id', sa.String(length=32), nullable=True),
    sa.Column('recording_name', sa.String(length=128), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('accepted', 'reviewing', 'dispatched', 'in_service', 'returned', 'visited', 'closed')", name=op.f('ck_work_orders_status')),
    sa.CheckConstraint("type IN ('sos', 'alarm', 'service', 'consult')", name=op.f('ck_work_orders_type')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_work_orders_elder_id_elders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders')),
    sa.UniqueConstraint('incident_id', name=op.f('uq_work_orders_incident_id')),
    sa.UniqueConstraint('number', name=op.f('uq_work_orders_number'))
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_orders_elder_id'), ['elder_id'], unique=False)
        batch_op.create_index('ix_work_orders_status_due', ['status', 'due_at'], unique=False)

    op.create_table('sos_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('kind', sa.String(length=48), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['sos_incidents.id'], name=op.f('fk_sos_events_incident_id_sos_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sos_events')),
    sa.UniqueConstraint('key', name=op.f('uq_sos_events_key'))
    )
    with op.batch_alter_table('sos_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sos_events_incident_id'), ['incident_id'], unique=False)

    op.create_table('sos_legs',
    sa.Column('id', sa.String(length=96), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('cause', sa.Integer(), nullable=True),
    sa.Column('cause_text', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("role IN ('elder', 'emergency', 'doctor', 'kin', 'social_worker', 'agent', 'supervisor')", name=op.f('ck_sos_legs_role')),
    sa.CheckConstraint("state IN ('dialing', 'ringing', 'answered', 'joined', 'left', 'failed')", name=op.f('ck_sos_legs_state')),
    sa.ForeignKeyConstraint(['incident_id'], ['sos_incidents.id'], name=op.f('fk_sos_legs_incident_id_sos_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sos_legs'))
    )
    with op.batch_alter_table('sos_legs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sos_legs_incident_id'), ['incident_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('sos_legs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sos_legs_incident_id'))

    op.drop_table('sos_legs')
    with op.batch_alter_table('sos_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sos_events_incident_id'))

    op.drop_table('sos_events')
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_work_orders_status_due')
        batch_op.drop_index(batch_op.f('ix_work_orders_elder_id'))

    op.drop_table('work_orders')
    with op.batch_alter_table('sos_incidents', schema=None) as batch_op:
        batch_op.drop_index('ix_sos_incidents_status_started')
        batch_op.drop_index(batch_op.f('ix_sos_incidents_elder_id'))

    op.drop_table('sos_incidents')
