"""calls: call records and the agent state trail

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('agent_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=False),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('productive', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('login', 'logout', 'pause', 'unpause')", name=op.f('ck_agent_events_kind')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_agent_events'))
    )
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.create_index('ix_agent_events_agent_at', ['agent', 'at'], unique=False)

    op.create_table('calls',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('direction', sa.String(length=8), nullable=False),
    sa.Column('caller_number', sa.String(length=32), nullable=False),
    sa.Column('caller_tail', sa.String(length=32), nullable=False),
    sa.Column('called_number', sa.String(length=32), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('caller_kind', sa.String(length=16), nullable=False),
    sa.Column('incident_id', sa.String(length=32), nullable=True),
    sa.Column('queue', sa.String(length=64), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('parent_id', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wait_seconds', sa.Integer(), nullable=False),
    sa.Column('talk_seconds', sa.Integer(), nullable=False),
    sa.Column('hold_seconds', sa.Integer(), nullable=False),
    sa.Column('wrapup_seconds', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=True),
    sa.Column('hangup_cause', sa.String(length=64), nullable=True),
    sa.Column('disposition', sa.String(length=32), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.Column('recording_name', sa.String(length=128), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.CheckConstraint("direction IN ('inbound', 'outbound')", name=op.f('ck_calls_direction')),
    sa.CheckConstraint("kind IN ('hotline', 'callback', 'click_to_dial', 'sos_leg', 'care', 'transfer')", name=op.f('ck_calls_kind')),
    sa.CheckConstraint("outcome IS NULL OR outcome IN ('answered', 'abandoned', 'short_abandon', 'overflow', 'transferred', 'no_answer', 'busy', 'failed')", name=op.f('ck_calls_outcome')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_calls_elder_id_elders'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_calls'))
    )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.create_index('ix_calls_agent_started_at', ['agent', 'started_at'], unique=False)
        batch_op.create_index('ix_calls_caller_tail', ['caller_tail'], unique=False)
        batch_op.create_index('ix_calls_elder_started_at', ['elder_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_calls_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index('ix_calls_queue_started_at', ['queue', 'started_at'], unique=False)
        batch_op.create_index('ix_calls_started_at', ['started_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_index('ix_calls_started_at')
        batch_op.drop_index('ix_calls_queue_started_at')
        batch_op.drop_index(batch_op.f('ix_calls_parent_id'))
        batch_op.drop_index(batch_op.f('ix_calls_incident_id'))
        batch_op.drop_index('ix_calls_elder_started_at')
        batch_op.drop_index('ix_calls_caller_tail')
        batch_op.drop_index('ix_calls_agent_started_at')

    op.drop_table('calls')
    with op.batch_alter_table('agent_events', schema=None) as batch_op:
        batch_op.drop_index('ix_agent_events_agent_at')

    op.drop_table('agent_events')
