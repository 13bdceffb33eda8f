"""foundation: directory, users, sessions, audit

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The audit chain starts from this hash (callcenter.audit.GENESIS; copied, not imported,
# so the migration never changes with the code).
GENESIS = "0" * 64


def upgrade() -> None:
    op.create_table('areas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('level', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('path', sa.String(length=255), nullable=False),
    sa.CheckConstraint("level IN ('district', 'street', 'community')", name=op.f('ck_areas_level')),
    sa.ForeignKeyConstraint(['parent_id'], ['areas.id'], name=op.f('fk_areas_parent_id_areas'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_areas')),
    sa.UniqueConstraint('code', name=op.f('uq_areas_code'))
    )
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_areas_path'), ['path'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_audit_head_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity', sa.String(length=64), nullable=False),
    sa.Column('entity_id', sa.String(length=64), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action'), ['action'], unique=False)
        batch_op.create_index('ix_audit_log_entity', ['entity', 'entity_id'], unique=False)

    op.create_table('providers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('service_types', sa.JSON(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('rating', sa.Float(), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.CheckConstraint('capacity >= 0', name=op.f('ck_providers_capacity')),
    sa.CheckConstraint('rating >= 0 AND rating <= 5', name=op.f('ck_providers_rating')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_providers')),
    sa.UniqueConstraint('code', name=op.f('uq_providers_code'))
    )
    op.create_table('elders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('gender', sa.String(length=1), nullable=False),
    sa.Column('birth_date', sa.Date(), nullable=False),
    sa.Column('id_number_sealed', sa.String(length=255), nullable=True),
    sa.Column('id_number_index', sa.String(length=64), nullable=True),
    sa.Column('id_number_tail', sa.String(length=4), nullable=True),
    sa.Column('address', sa.String(length=255), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.Column('lives_alone', sa.Boolean(), nullable=False),
    sa.Column('disabled', sa.Boolean(), nullable=False),
    sa.Column('health_notes', sa.Text(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("gender IN ('M', 'F')", name=op.f('ck_elders_gender')),
    sa.CheckConstraint("status IN ('active', 'suspended', 'deceased')", name=op.f('ck_elders_status')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_elders_area_id_areas'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_elders_provider_id_providers'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elders')),
    sa.UniqueConstraint('code', name=op.f('uq_elders_code')),
    sa.UniqueConstraint('id_number_index', name=op.f('uq_elders_id_number_index'))
    )
    with op.batch_alter_table('elders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_elders_area_id'), ['area_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_elders_id_number_tail'), ['id_number_tail'], unique=False)
        # LIKE 'prefix%' can only use a PostgreSQL B-tree index with pattern ops under a
        # non-C collation; equality still uses it.
        batch_op.create_index(
            'ix_elders_name', ['name'], unique=False, postgresql_ops={'name': 'varchar_pattern_ops'}
        )

    op.create_table('provider_areas',
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_provider_areas_area_id_areas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_provider_areas_provider_id_providers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('provider_id', 'area_id', name=op.f('pk_provider_areas'))
    )
    op.create_table('provider_staff',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('provider_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['provider_id'], ['providers.id'], name=op.f('fk_provider_staff_provider_id_providers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_provider_staff'))
    )
    with op.batch_alter_table('provider_staff', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_provider_staff_provider_id'), ['provider_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=100), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('area_id', sa.Integer(), nullable=True),
    sa.Column('endpoint', sa.String(length=64), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('agent', 'supervisor', 'auditor', 'admin')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_users_area_id_areas'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('relation', sa.String(length=32), nullable=False),
    sa.Column('phone', sa.String(length=32), nullable=False),
    sa.Column('email', sa.String(length=255), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.CheckConstraint("role IN ('kin', 'doctor', 'social_worker', 'other')", name=op.f('ck_contacts_role')),
    sa.CheckConstraint('priority >= 1', name=op.f('ck_contacts_priority')),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_contacts_elder_id_elders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contacts')),
    sa.UniqueConstraint('elder_id', 'role', 'priority', name=op.f('uq_contacts_elder_id'))
    )
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_contacts_elder_id'), ['elder_id'], unique=False)

    op.create_table('elder_phones',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_elder_phones_elder_id_elders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_elder_phones')),
    sa.UniqueConstraint('elder_id', 'number', name=op.f('uq_elder_phones_elder_id'))
    )
    with op.batch_alter_table('elder_phones', schema=None) as batch_op:
        batch_op.create_index(
            'ix_elder_phones_number',
            ['number'],
            unique=False,
            postgresql_ops={'number': 'varchar_pattern_ops'},
        )

    op.create_table('sos_devices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('elder_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=255), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['elder_id'], ['elders.id'], name=op.f('fk_sos_devices_elder_id_elders'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sos_devices')),
    sa.UniqueConstraint('device_id', name=op.f('uq_sos_devices_device_id'))
    )
    with op.batch_alter_table('sos_devices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sos_devices_elder_id'), ['elder_id'], unique=False)

    op.create_table('web_sessions',
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_web_sessions_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_web_sessions'))
    )
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_web_sessions_expires_at'), ['expires_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_web_sessions_user_id'), ['user_id'], unique=False)



    op.execute(
        sa.text("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, :genesis)").bindparams(
            genesis=GENESIS
        )
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_log is append-only';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log "
            "FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()"
        )
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_log_no_{verb.lower()} BEFORE {verb} ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
            )

def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_log_no_change ON audit_log")
        op.execute("DROP FUNCTION audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER audit_log_no_update")
        op.execute("DROP TRIGGER audit_log_no_delete")
    with op.batch_alter_table('web_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_web_sessions_user_id'))
        batch_op.drop_index(batch_op.f('ix_web_sessions_expires_at'))

    op.drop_table('web_sessions')
    with op.batch_alter_table('sos_devices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sos_devices_elder_id'))

    op.drop_table('sos_devices')
    with op.batch_alter_table('elder_phones', schema=None) as batch_op:
        batch_op.drop_index('ix_elder_phones_number')

    op.drop_table('elder_phones')
    with op.batch_alter_table('contacts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contacts_elder_id'))

    op.drop_table('contacts')
    op.drop_table('users')
    with op.batch_alter_table('provider_staff', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_provider_staff_provider_id'))

    op.drop_table('provider_staff')
    op.drop_table('provider_areas')
    with op.batch_alter_table('elders', schema=None) as batch_op:
        batch_op.drop_index('ix_elders_name')
        batch_op.drop_index(batch_op.f('ix_elders_id_number_tail'))
        batch_op.drop_index(batch_op.f('ix_elders_area_id'))

    op.drop_table('elders')
    op.drop_table('providers')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_entity')
        batch_op.drop_index(batch_op.f('ix_audit_log_action'))

    op.drop_table('audit_log')
    op.drop_table('audit_head')
    with op.batch_alter_table('areas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_areas_path'))

    # With foreign keys on, SQLite empties a table before dropping it, and an ON DELETE
    # RESTRICT reference fails at once, even to a row the same DELETE removes: a child
    # area would block its parent (areas.parent_id). Detach the tree first; PostgreSQL
    # drops without deleting, this only costs it one UPDATE.
    op.execute("UPDATE areas SET parent_id = NULL")
    op.drop_table('areas')
