"""recordings: the store's rows, holds, call-record tombstones, retention sweeps

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('call_tombstones',
    sa.Column('call_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('policy', sa.String(length=64), nullable=False),
    sa.CheckConstraint("action IN ('anonymised', 'purged')", name=op.f('ck_call_tombstones_action')),
    sa.PrimaryKeyConstraint('call_id', name=op.f('pk_call_tombstones'))
    )
    op.create_table('recording_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('incident_id', sa.String(length=32), nullable=True),
    sa.Column('recording_id', sa.Integer(), nullable=True),
    sa.Column('case_ref', sa.String(length=64), nullable=True),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('placed_by', sa.String(length=64), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('released_by', sa.String(length=64), nullable=True),
    sa.CheckConstraint("kind IN ('complaint', 'incident', 'legal')", name=op.f('ck_recording_holds_kind')),
    sa.CheckConstraint('call_id IS NOT NULL OR incident_id IS NOT NULL OR recording_id IS NOT NULL', name=op.f('ck_recording_holds_target')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recording_holds'))
    )
    with op.batch_alter_table('recording_holds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_recording_holds_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_holds_case_ref'), ['case_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_holds_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index('ix_recording_holds_open', ['released_at', 'expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_recording_holds_recording_id'), ['recording_id'], unique=False)

    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('serial', sa.String(length=32), nullable=False),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('node', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('call_id', sa.String(length=64), nullable=True),
    sa.Column('incident_id', sa.String(length=32), nullable=True),
    sa.Column('case_ref', sa.String(length=64), nullable=True),
    sa.Column('elder_id', sa.Integer(), nullable=True),
    sa.Column('agent', sa.String(length=64), nullable=True),
    sa.Column('area_path', sa.String(length=255), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('captured_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('problem', sa.String(length=32), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('encrypted', sa.Boolean(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('sample_rate', sa.Integer(), nullable=False),
    sa.Column('shape', sa.JSON(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delete_reason', sa.String(length=64), nullable=True),
    sa.Column('delete_policy', sa.String(length=64), nullable=True),
    sa.CheckConstraint("source IN ('ari', 'spool')", name=op.f('ck_recordings_source')),
    sa.CheckConstraint("state IN ('stored', 'deleting', 'deleted', 'missing', 'corrupt')", name=op.f('ck_recordings_state')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('serial', name=op.f('uq_recordings_serial')),
    sa.UniqueConstraint('source', 'node', 'name', name='uq_recordings_origin')
    )
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.create_index('ix_recordings_agent_started_at', ['agent', 'started_at'], unique=False)
        batch_op.create_index('ix_recordings_area_started_at', ['area_path', 'started_at'], unique=False, postgresql_ops={'area_path': 'varchar_pattern_ops'})
        batch_op.create_index(batch_op.f('ix_recordings_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_case_ref'), ['case_ref'], unique=False)
        batch_op.create_index('ix_recordings_elder_started_at', ['elder_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_incident_id'), ['incident_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_recordings_sha256'), ['sha256'], unique=False)
        batch_op.create_index('ix_recordings_started_at', ['started_at'], unique=False)
        batch_op.create_index('ix_recordings_state_started_at', ['state', 'started_at'], unique=False)

    op.create_table('retention_sweeps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('as_of', sa.String(length=10), nullable=False),
    sa.Column('dry_run', sa.Boolean(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_sweeps'))
    )


def downgrade() -> None:
    op.drop_table('retention_sweeps')
    with op.batch_alter_table('recordings', schema=None) as batch_op:
        batch_op.drop_index('ix_recordings_state_started_at')
        batch_op.drop_index('ix_recordings_started_at')
        batch_op.drop_index(batch_op.f('ix_recordings_sha256'))
        batch_op.drop_index(batch_op.f('ix_recordings_incident_id'))
        batch_op.drop_index('ix_recordings_elder_started_at')
        batch_op.drop_index(batch_op.f('ix_recordings_case_ref'))
        batch_op.drop_index(batch_op.f('ix_recordings_call_id'))
        batch_op.drop_index('ix_recordings_area_started_at')
        batch_op.drop_index('ix_recordings_agent_started_at')

    op.drop_table('recordings')
    with op.batch_alter_table('recording_holds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_recording_holds_recording_id'))
        batch_op.drop_index('ix_recording_holds_open')
        batch_op.drop_index(batch_op.f('ix_recording_holds_case_ref'))
        batch_op.drop_index(batch_op.f('ix_recording_holds_incident_id'))
        batch_op.drop_index(batch_op.f('ix_recording_holds_call_id'))

    op.drop_table('recording_holds')
    op.drop_table('call_tombstones')
