"""Response and request models of the directory's read API (also its OpenAPI schemas)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ElderSearchQuery(_Model):
    """Query parameters of an elder search."""

    q: str = Field(
        min_length=1,
        max_length=64,
        description="Name prefix, phone number (full or trailing digits, at least 4) "
        "or the last 4 characters of the ID number.",
    )
    limit: int = Field(default=20, ge=1, le=100, description="At most this many results.")


class AreaRef(_Model):
    """One level of an elder's area: district, street or community."""

    code: str
    name: str
    level: str


class ElderSummary(_Model):
    """One search hit: enough to pick the right elder, nothing more."""

    id: int
    code: str
    name: str
    gender: str
    birth_date: date
    area_name: str
    area_path: str
    phones: list[str]
    status: str
    lives_alone: bool
    disabled: bool


class ElderSearchResult(_Model):
    """The hits of an elder search, in name order."""

    query: str
    kind: str = Field(description="How the query was read: name, phone or id_tail (or phone_or_id_tail).")
    items: list[ElderSummary]


class ContactView(_Model):
    """A person to call for an elder; ``priority`` orders the numbers within a role."""

    id: int
    role: str
    priority: int
    name: str
    relation: str
    phone: str
    email: str | None


class DeviceView(_Model):
    """An SOS terminal or sensor bound to the elder."""

    device_id: str
    active: bool


class ProviderView(_Model):
    """The service provider the elder designated."""

    code: str
    name: str
    phone: str


class ElderProfile(_Model):
    """Everything an agent needs about an elder; the ID number only masked."""

    id: int
    code: str
    name: str
    gender: str
    birth_date: date
    age: int
    id_number_masked: str | None
    address: str
    area_path: str
    areas: list[AreaRef] = Field(description="District, street, community: top down.")
    phones: list[str]
    devices: list[DeviceView]
    contacts: list[ContactView] = Field(description="Ordered by role, then priority.")
    provider: ProviderView | None
    lives_alone: bool
    disabled: bool
    health_notes: str
    language: str = Field(description="mandarin, cantonese… or empty (not recorded)")
    hearing: str = Field(description="normal, hard_of_hearing, or deaf (uses text)")
    status: str


class RevealRequest(_Model):
    """Why the full ID number is needed (kept in the audit trail)."""

    reason: str = Field(min_length=2, max_length=500)


class IdNumberRevealed(_Model):
    """The elder's full ID number, revealed by an audited request."""

    elder_id: int
    id_number: str
