"""care: plans, tasks, campaigns, timeline

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 12:20:08.965451
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('care_campaigns',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('changed_by', sa.String(length=64), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('wellbeing', 'medication', 'birthday', 'weather')", name=op.f('ck_care_campaigns_kind')),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_care_campaigns'))
    )
    op.create_table('care_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('task_id', sa.String(length=40), nullable=True),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_care_events_elder_id_elders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_events'))
    )
    with op.batch_alter_table('care_events', schema=None) as batch_op:
        batch_op.create_index('ix_care_events_elder_at', ['elder_id', 'at'], unique=False)
        batch_op.create_index(batch_op.f('ix_care_events_task_id'), ['task_id'], unique=False)

    op.create_table('care_hours',
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('start', sa.String(length=5), nullable=False),
    sa.Column('end', sa.String(length=5), nullable=False),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_care_hours_elder_id_elders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('elder_id', name=op.f('pk_care_hours'))
    )
    op.create_table('care_plans',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('repeat', sa.String(length=8), nullable=False),
    sa.Column('at_time', sa.String(length=5), nullable=False),
    sa.Column('weekdays', sa.String(length=20), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=True),
    sa.Column('medicine', sa.String(length=100), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('report_to_kin', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('wellbeing', 'medication', 'birthday', 'weather')", name=op.f('ck_care_plans_kind')),
    sa.CheckConstraint("repeat IN ('daily', 'weekly', 'once')", name=op.f('ck_care_plans_repeat')),
    sa.CheckConstraint("source IN ('console', 'import', 'default')", name=op.f('ck_care_plans_source')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_care_plans_elder_id_elders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_plans')),
    sa.UniqueConstraint('code', name=op.f('uq_care_plans_code'))
    )
    with op.batch_alter_table('care_plans', schema=None) as batch_op:
        batch_op.create_index('ix_care_plans_elder', ['elder_id'], unique=False)

    op.create_table('care_tasks',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('plan_id', sa.Integer(), nullable=True),
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('local_date', sa.Date(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('unanswered_keys', sa.Integer(), nullable=False),
    sa.Column('result', sa.String(length=16), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('escalation', sa.String(length=16), nullable=False),
    sa.Column('owner', sa.String(length=128), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.CheckConstraint("escalation IN ('none', 'alerted', 'visit', 'resolved', 'kin_reported')", name=op.f('ck_care_tasks_escalation')),
    sa.CheckConstraint("kind IN ('wellbeing', 'medication', 'birthday', 'weather')", name=op.f('ck_care_tasks_kind')),
    sa.CheckConstraint("result IS NULL OR result IN ('answered_well', 'wants_to_talk', 'confirmed', 'no_answer', 'busy', 'failed', 'no_response')", name=op.f('ck_care_tasks_result')),
    sa.CheckConstraint("state IN ('scheduled', 'queued', 'calling', 'done', 'cancelled')", name=op.f('ck_care_tasks_state')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_care_tasks_elder_id_elders'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['plan_id'], ['care_plans.id'], name=op.f('fk_care_tasks_plan_id_care_plans'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_care_tasks'))
    )
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_care_tasks_day', ['local_date', 'kind'], unique=False)
        batch_op.create_index('ix_care_tasks_elder', ['elder_id', 'due_at'], unique=False)
        batch_op.create_index('ix_care_tasks_state', ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('care_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_care_tasks_state')
        batch_op.drop_index('ix_care_tasks_elder')
        batch_op.drop_index('ix_care_tasks_day')

    op.drop_table('care_tasks')
    with op.batch_alter_table('care_plans', schema=None) as batch_op:
        batch_op.drop_index('ix_care_plans_elder')

    op.drop_table('care_plans')
    op.drop_table('care_hours')
    with op.batch_alter_table('care_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_care_events_task_id'))
        batch_op.drop_index('ix_care_events_elder_at')

    op.drop_table('care_events')
    op.drop_table('care_campaigns')
