"""One pydantic schema per CSV kind: a row's cells in, typed and checked values out."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from callcenter.directory import validators as v
from callcenter.store.models import AreaLevel, ContactRole, ElderStatus, Gender

Code = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_.-]+$")]
_DATE_FORMS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),  # what Excel writes in a Chinese locale
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
)
_LEVELS = {"district": "district", "区": "district", "street": "street", "街道": "street",
           "community": "community", "社区": "community"}


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


class CsvRow(BaseModel):
    """Common settings: cells are stripped strings, unknown fields refused."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid", frozen=True)
    #: Columns a file of this kind must have; the others are optional.
    required: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def columns(cls) -> tuple[str, ...]:
        """Every column a file of this kind may have, in documentation order."""
        return tuple(cls.model_fields)


class AreaRow(CsvRow):
    """``code,name,level,parent_code``: district → street → community."""

    required: ClassVar[tuple[str, ...]] = ("code", "name", "level")
    code: Code
    name: str = Field(min_length=1, max_length=100)
    level: AreaLevel
    parent_code: Code | None = None

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: str) -> str:
        try:
            return _LEVELS[value.strip().lower()]
        except KeyError:
            raise ValueError(f"{value!r} is not district, street or community") from None

    _parent = field_validator("parent_code", mode="before")(_blank_to_none)

    @model_validator(mode="after")
    def _parent_matches_level(self) -> AreaRow:
        if self.level is AreaLevel.DISTRICT and self.parent_code:
            raise ValueError("a district has no parent_code")
        if self.level is not AreaLevel.DISTRICT and not self.parent_code:
            raise ValueError(f"a {self.level.value} needs a parent_code")
        return self


class ElderRow(CsvRow):
    """One elder with the phones they call from and their SOS devices."""

    required: ClassVar[tuple[str, ...]] = (
        "code", "name", "gender", "birth_date", "id_number", "area_code",
    )
    code: Code
    name: str = Field(min_length=1, max_length=100)
    gender: Gender
    birth_date: date
    id_number: str
    phones: tuple[str, ...] = ()
    sos_devices: tuple[str, ...] = ()
    address: str = Field(default="", max_length=255)
    area_code: Code
    lives_alone: bool = False
    disabled: bool = False
    health_notes: str = Field(default="", max_length=4000)
    language: str = ""  # ElderLanguage value, or "" (not recorded)
    hearing: str = "normal"  # Hearing value
    provider_code: Code | None = None
    status: ElderStatus = ElderStatus.ACTIVE

    _gender = field_validator("gender", mode="before")(v.parse_gender)
    _language = field_validator("language", mode="before")(v.parse_language)
    _hearing = field_validator("hearing", mode="before")(v.parse_hearing)
    _flags = field_validator("lives_alone", "disabled", mode="before")(v.parse_flag)
    _provider = field_validator("provider_code", mode="before")(_blank_to_none)

    @field_validator("birth_date", mode="before")
    @classmethod
    def _birth_date(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        for form in _DATE_FORMS:
            if match := form.match(value.strip()):
                try:
                    return date(*(int(part) for part in match.groups()))
                except ValueError as err:
                    raise ValueError(f"{value!r} is not a real date ({err})") from None
        raise ValueError(f"{value!r} is not a date as YYYY-MM-DD")

    @field_validator("id_number", mode="before")
    @classmethod
    def _id_number(cls, value: str) -> str:
        return v.parse_id_number(value)[0]

    @field_validator("phones", mode="before")
    @classmethod
    def _phones(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        numbers = [v.normalise_phone(part) for part in v.split_list(value)]
        return tuple(dict.fromkeys(numbers))

    @field_validator("sos_devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        devices = v.split_list(value)
        for device in devices:
            if len(device) > 64 or not re.fullmatch(r"[0-9A-Za-z_.:-]+", device):
                raise ValueError(f"{device!r} is not a device id (letters, digits, _.:-, ≤ 64)")
        if len(set(devices)) != len(devices):
            raise ValueError("the same device is listed twice")
        return tuple(devices)

    @field_validator("status", mode="before")
    @classmethod
    def _status(cls, value: Any) -> Any:
        return _blank_to_none(value) or ElderStatus.ACTIVE.value

    @model_validator(mode="after")
    def _matches_id_number(self) -> ElderRow:
        _, born, gender = v.parse_id_number(self.id_number)
        if born != self.birth_date:
            raise ValueError(
                f"birth_date {self.birth_date} does not match the ID number ({born})"
            )
        if gender != self.gender:
            raise ValueError(f"gender {self.gender.value} does not match the ID number ({gender.value})")
        return self


class ContactRow(CsvRow):
    """A person to call for an elder, tried in ``priority`` order within the role."""

    required: ClassVar[tuple[str, ...]] = ("elder_code", "role", "name", "phone", "priority")
    elder_code: Code
    role: ContactRole
    name: str = Field(min_length=1, max_length=100)
    relation: str = Field(default="", max_length=32)
    phone: str
    email: str | None = Field(default=None, max_length=255)
    priority: int = Field(ge=1, le=99)

    _role = field_validator("role", mode="before")(v.parse_role)
    _phone = field_validator("phone", mode="before")(v.normalise_phone)

    @field_validator("email", mode="before")
    @classmethod
    def _email(cls, value: Any) -> Any:
        value = _blank_to_none(value)
        return value if value is None else v.check_email(value.strip())


class ProviderRow(CsvRow):
    """A service provider, the service types it offers and the areas it covers."""

    required: ClassVar[tuple[str, ...]] = ("code", "name", "service_types", "area_codes")
    code: Code
    name: str = Field(min_length=1, max_length=200)
    service_types: tuple[str, ...] = Field(min_length=1)
    area_codes: tuple[Code, ...] = Field(min_length=1)
    capacity: int = Field(default=0, ge=0)
    rating: float = Field(default=0.0, ge=0, le=5)
    phone: str = ""

    @field_validator("service_types", "area_codes", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return tuple(dict.fromkeys(v.split_list(value))) if isinstance(value, str) else value

    @field_validator("capacity", "rating", mode="before")
    @classmethod
    def _defaults(cls, value: Any) -> Any:
        return _blank_to_none(value) or 0

    @field_validator("phone", mode="before")
    @classmethod
    def _phone(cls, value: Any) -> Any:
        return v.normalise_phone(value) if isinstance(value, str) and value.strip() else ""


def describe_errors(err: ValidationError) -> list[tuple[str, str]]:
    """``(column, reason)`` pairs from a row's validation error; column "" for whole-row checks."""
    found: list[tuple[str, str]] = []
    for error in err.errors(include_url=False, include_input=False):
        column = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "is required"
        found.append((column, message))
    return found
