"""The directory and security tables: areas, elders, contacts, providers, users, audit."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use datetime.now(UTC)")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base with stable constraint names (Alembic-friendly)."""

    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


def check_in(column: str, values: type[enum.StrEnum]) -> str:
    """A CHECK constraint's text: ``column`` holds one of the enum's values."""
    listed = ", ".join(f"'{v.value}'" for v in values)
    return f"{column} IN ({listed})"


class AreaLevel(enum.StrEnum):
    """District → street (township) → community (village): C §4.2.2."""

    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"


class Area(Base):
    """One node of the administrative hierarchy; ``path`` is its materialised path."""

    __tablename__ = "areas"
    __table_args__ = (CheckConstraint(check_in("level", AreaLevel), name="level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(16))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    # "/<district code>/<street code>/<community code>/": a subtree is a prefix.
    path: Mapped[str] = mapped_column(String(255), index=True)


class Gender(enum.StrEnum):
    """Gender as recorded in the ID register."""

    MALE = "M"
    FEMALE = "F"


class ElderStatus(enum.StrEnum):
    """Active, suspended, or deceased (B §7.3.6: a deceased elder's devices stop)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    DECEASED = "deceased"


class ElderLanguage(enum.StrEnum):
    """The language or dialect an elder speaks best (the pop tells the agent at once).

    Empty in the row: not recorded. Labels in the console's locale (``language.*``).
    """

    MANDARIN = "mandarin"  # 普通话
    CANTONESE = "cantonese"  # 粤语
    SHANGHAINESE = "shanghainese"  # 沪语
    MINNAN = "minnan"  # 闽南语
    HAKKA = "hakka"  # 客家话
    SICHUANESE = "sichuanese"  # 四川话
    TIANJIN = "tianjin"  # 天津话
    NORTHEASTERN = "northeastern"  # 东北话
    OTHER = "other"  # another dialect: see the health notes


class Hearing(enum.StrEnum):
    """How the elder hears on the phone."""

    NORMAL = "normal"
    HARD_OF_HEARING = "hard_of_hearing"  # speak slowly and loudly
    DEAF = "deaf"  # uses text (SMS): a call alone does not reach them


class Elder(Base):
    """An elder served by the platform."""

    __tablename__ = "elders"
    __table_args__ = (
        CheckConstraint(check_in("gender", Gender), name="gender"),
        CheckConstraint(check_in("status", ElderStatus), name="status"),
        CheckConstraint(f"language = '' OR {check_in('language', ElderLanguage)}",
                        name="language"),
        CheckConstraint(check_in("hearing", Hearing), name="hearing"),
        # Pattern ops: PostgreSQL serves LIKE 'prefix%' from it under any collation.
        Index("ix_elders_name", "name", postgresql_ops={"name": "varchar_pattern_ops"}),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    gender: Mapped[str] = mapped_column(String(1))
    birth_date: Mapped[date] = mapped_column(Date)
    # Sealed with FieldCipher; the blind index enforces uniqueness, the tail serves search.
    id_number_sealed: Mapped[str | None] = mapped_column(String(255))
    id_number_index: Mapped[str | None] = mapped_column(String(64), unique=True)
    id_number_tail: Mapped[str | None] = mapped_column(String(4), index=True)
    address: Mapped[str] = mapped_column(String(255), default="")
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), index=True)
    lives_alone: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    health_notes: Mapped[str] = mapped_column(Text, default="")
    #: ElderLanguage, or "" when not recorded (migration 0018).
    language: Mapped[str] = mapped_column(String(16), default="", server_default="")
    hearing: Mapped[str] = mapped_column(String(16), default=Hearing.NORMAL.value,
                                         server_default=Hearing.NORMAL.value)
    provider_id: Mapped[int | None] = mapped_column(
        ForeignKey("providers.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default=ElderStatus.ACTIVE.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    area: Mapped[Area] = relationship(lazy="raise")
    phones: Mapped[list[ElderPhone]] = relationship(
        back_populates="elder", cascade="all, delete-orphan", lazy="raise"
    )
    devices: Mapped[list[SosDevice]] = relationship(
        back_populates="elder", cascade="all, delete-orphan", lazy="raise"
    )
    contacts: Mapped[list[Contact]] = relationship(
        back_populates="elder",
        cascade="all, delete-orphan",
        order_by="(Contact.role, Contact.priority)",
        lazy="raise",
    )


def reversed_number(context: Any) -> str:
    """Column default of ``number_reversed``: the row's ``number`` read backwards."""
    return str(context.get_current_parameters()["number"])[::-1]


class ElderPhone(Base):
    """A phone number an elder calls from; caller-id identification uses it."""

    __tablename__ = "elder_phones"
    __table_args__ = (
        UniqueConstraint("elder_id", "number"),
        Index("ix_elder_phones_number", "number", postgresql_ops={"number": "varchar_pattern_ops"}),
        Index(
            "ix_elder_phones_number_reversed",
            "number_reversed",
            postgresql_ops={"number_reversed": "varchar_pattern_ops"},
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"))
    number: Mapped[str] = mapped_column(String(32))
    # ``number`` backwards, so that "ends with these digits" is an indexable prefix
    # search. Filled from ``number`` on every insert (ORM or Core, one row or many);
    # numbers are never updated in place (writers delete and re-insert a phone list).
    number_reversed: Mapped[str] = mapped_column(String(32), default=reversed_number)
    elder: Mapped[Elder] = relationship(back_populates="phones", lazy="raise")


class SosDevice(Base):
    """A one-key SOS terminal or sensor bound to an elder."""

    __tablename__ = "sos_devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    # Keyed HMAC-SHA256 of the device's alarm token (POST /api/alarms, MQTT); NULL until issued.
    token_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    elder: Mapped[Elder] = relationship(back_populates="devices", lazy="raise")


class ContactRole(enum.StrEnum):
    """Who a contact is to the elder; an SOS dials every role at once."""

    KIN = "kin"
    DOCTOR = "doctor"
    SOCIAL_WORKER = "social_worker"
    OTHER = "other"


class Contact(Base):
    """A person to call for an elder, tried in ``priority`` order within a role."""

    __tablename__ = "contacts"
    __table_args__ = (
        CheckConstraint(check_in("role", ContactRole), name="role"),
        CheckConstraint("priority >= 1", name="priority"),
        UniqueConstraint("elder_id", "role", "priority"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    elder_id: Mapped[int] = mapped_column(ForeignKey("elders.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(100))
    relation: Mapped[str] = mapped_column(String(32), default="")
    #: Indexed: the hotline's route and the screen-pop find a kin's elder by this number.
    phone: Mapped[str] = mapped_column(String(32), index=True)
    email: Mapped[str | None] = mapped_column(String(255))
    priority: Mapped[int] = mapped_column(Integer, default=1)
    elder: Mapped[Elder] = relationship(back_populates="contacts", lazy="raise")


class Provider(Base):
    """A service provider: service types, areas covered, capacity, rating."""

    __tablename__ = "providers"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity"),
        CheckConstraint("rating >= 0 AND rating <= 5", name="rating"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    service_types: Mapped[list[str]] = mapped_column(default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    rating: Mapped[float] = mapped_column(Float, default=0.0)
    phone: Mapped[str] = mapped_column(String(32), default="", index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    areas: Mapped[list[Area]] = relationship(secondary="provider_areas", lazy="raise")
    staff: Mapped[list[ProviderStaff]] = relationship(
        back_populates="provider", cascade="all, delete-orphan", lazy="raise"
    )


class ProviderArea(Base):
    """An area a provider covers."""

    __tablename__ = "provider_areas"

    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True
    )
    area_id: Mapped[int] = mapped_column(
        ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True
    )


class ProviderStaff(Base):
    """A provider's staff member who serves elders and checks in to work orders."""

    __tablename__ = "provider_staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(
        ForeignKey("providers.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str] = mapped_column(String(32), default="", index=True)
    skills: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    provider: Mapped[Provider] = relationship(back_populates="staff", lazy="raise")


class Role(enum.StrEnum):
    """What a console user may do (B §5.9, E §5.4.2)."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    AUDITOR = "auditor"
    ADMIN = "admin"


class User(Base):
    """A console user; ``area_id`` scopes what they see (NULL: the whole service)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(check_in("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    endpoint: Mapped[str | None] = mapped_column(String(64))
    # Where the workflow's deadline warnings go (0016): E.164 (+8613800138000), an address.
    phone: Mapped[str | None] = mapped_column(String(16))
    email: Mapped[str | None] = mapped_column(String(254))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    area: Mapped[Area | None] = relationship(lazy="raise")


class ApiClient(Base):
    """Another system or a script calling /api with a bearer token, scoped like a user.

    Only a keyed hash of the token is stored (``callcenter.apitokens``); a revoked client
    keeps its row so the audit trail's ``api:<name>`` stays traceable.
    """

    __tablename__ = "api_clients"
    __table_args__ = (CheckConstraint(check_in("role", Role), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(80), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class WebSession(Base):
    """A console login; the cookie holds a random token, the store only its hash."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEntry(Base):
    """One append-only, hash-chained audit record (invariant 3)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)


class AuditHead(Base):
    """The chain's single head row: it serialises appends and pins the tail."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=1)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
