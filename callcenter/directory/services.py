"""Directory read services: elder search and profile, within the user's jurisdiction.

Jurisdiction (C §4.2.2): a user scoped to an area sees only elders whose area path
lies inside that area's subtree. An elder outside it is reported exactly like a
missing one, so that an id probe learns nothing.
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    String,
    bindparam,
    literal_column,
    null,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import QueryableAttribute, aliased

from callcenter import audit
from callcenter.crypto import FieldCipher, mask_id_number
from callcenter.directory.exceptions import ElderNotVisible, IdNumberMissing, InvalidSearch
from callcenter.directory.schemas import (
    IdNumberRevealed,
)
from callcenter.store.engine import Prebuilt
from callcenter.store.models import Area, Contact, Elder, ElderPhone, Provider, SosDevice

_SEPARATORS = re.compile(r"[\s\-()]")
_DIGITS = re.compile(r"^\+?\d+$")
_ID_TAIL = re.compile(r"^\d{3}[Xx]$")
MIN_PHONE_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """The subtree of areas a user may see; ``area_path`` None means all of them."""

    area_path: str | None

    def covers(self, path: str | None) -> bool:
        """True when an area path lies inside this jurisdiction."""
        if self.area_path is None:
            return True
        return path is not None and path.startswith(self.area_path)

    def clause(self) -> ColumnElement[bool]:
        """The SQL condition on ``Area.path`` matching this jurisdiction."""
        if self.area_path is None:
            return true()
        # Escaped: area codes may hold LIKE wildcards such as "_".
        return Area.path.like(like_prefix(self.area_path), escape=_ESCAPE)


def classify_query(raw: str) -> tuple[str, str]:
    """Read a search query as ``(kind, needle)``: name, phone, id_tail or phone_or_id_tail."""
    text = raw.strip()
    if not text:
        raise InvalidSearch("empty query", {"field": "q"})
    compact = _SEPARATORS.sub("", text)
    if _ID_TAIL.match(compact):
        return "id_tail", compact.upper()
    if _DIGITS.match(compact):
        digits = compact.lstrip("+")
        if len(digits) < MIN_PHONE_DIGITS:
            raise InvalidSearch(
                "a number search needs at least 4 digits", {"field": "q", "min_digits": 4}
            )
        return ("phone_or_id_tail" if len(digits) == 4 else "phone"), digits
    return "name", text


# The statements below are built once per shape and executed with bound values: building
# a select and its cache key costs more Python than running it (D §4.1.4 load).
_ESCAPE = "/"


def like_prefix(text: str) -> str:
    """A LIKE pattern matching strings that start with ``text`` (escape character ``/``)."""
    escaped = text.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%")
    return escaped.replace("_", _ESCAPE + "_") + "%"


def _starts_with(column: QueryableAttribute[str], name: str) -> ColumnElement[bool]:
    return column.like(bindparam(name, type_=String), escape=_ESCAPE)


def _in_scope(scoped: bool) -> ColumnElement[bool]:
    """The jurisdiction condition with the area path bound as ``scope`` (a like_prefix)."""
    return _starts_with(Area.path, "scope") if scoped else true()


def _scope_params(scope: Jurisdiction) -> dict[str, str]:
    return {} if scope.area_path is None else {"scope": like_prefix(scope.area_path)}


def _phone_tail_owners() -> Select[int]:
    """Ids of elders with a number ending in the bound digits: a prefix search on the
    reversed number (``tail`` holds the reversed digits), served by the
    ``ix_elder_phones_number_reversed`` index; a full number is just the longest tail."""
    return select(ElderPhone.elder_id).where(_starts_with(ElderPhone.number_reversed, "tail"))


def _search_match(kind: str) -> ColumnElement[bool]:
    if kind == "name":
        return _starts_with(Elder.name, "name")
    if kind == "id_tail":
        return Elder.id_number_tail == bindparam("id_tail", type_=String)
    if kind == "phone_or_id_tail":
        # A UNION of two index look-ups: an OR across two tables would scan every elder.
        by_id_tail = aliased(Elder, name="by_id_tail")
        return Elder.id.in_(
            union(
                _phone_tail_owners(),
                select(by_id_tail.id).where(
                    by_id_tail.id_number_tail == bindparam("id_tail", type_=String)
                ),
            )
        )
    return Elder.id.in_(_phone_tail_owners())


def _search_params(kind: str, needle: str) -> dict[str, str]:
    if kind == "name":
        return {"name": like_prefix(needle)}
    if kind == "id_tail":
        return {"id_tail": needle}
    tail = {"tail": like_prefix(needle[::-1])}
    return {**tail, "id_tail": needle} if kind == "phone_or_id_tail" else tail


@functools.cache
def _search_statement(kind: str, scoped: bool) -> Prebuilt:
    """The hits (at most ``limit``) and their phones: one row per phone, or one without."""
    hits = (
        select(
            Elder.id, Elder.code, Elder.name, Elder.gender, Elder.birth_date,
            Area.name.label("area_name"), Area.path.label("area_path"),
            Elder.status, Elder.lives_alone, Elder.disabled,
        )
        .join(Area, Elder.area_id == Area.id)
        .where(_in_scope(scoped), _search_match(kind))
        .order_by(Elder.name, Elder.id)
        .limit(bindparam("limit", type_=Integer))
        .subquery("hits")
    )
    return Prebuilt(
        select(hits, ElderPhone.number)
        .outerjoin(ElderPhone, ElderPhone.elder_id == hits.c.id)
        .order_by(hits.c.name, hits.c.id, ElderPhone.id)
    )


#: An elder search's answer, shaped as :class:`ElderSearchResult` (and so serialised).
SearchAnswer = dict[str, Any]
#: An elder's profile, shaped as :class:`ElderProfile` (and so serialised).
ProfileAnswer = dict[str, Any]


async def search_elders(
    conn: AsyncConnection, scope: Jurisdiction, query: str, *, limit: int = 20
) -> SearchAnswer:
    """Elders matching a name prefix, phone digits or ID tail, inside ``scope`` only."""
    kind, needle = classify_query(query)
    rows = await _search_statement(kind, scope.area_path is not None).fetch(
        conn, {"limit": limit, **_search_params(kind, needle), **_scope_params(scope)}
    )
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        item = found.get(row["id"])
        if item is None:
            item = found[row["id"]] = {
                "id": row["id"], "code": row["code"], "name": row["name"],
                "gender": row["gender"], "birth_date": row["birth_date"],
                "area_name": row["area_name"], "area_path": row["area_path"], "phones": [],
                "status": row["status"], "lives_alone": row["lives_alone"],
                "disabled": row["disabled"],
            }
        if row["number"] is not None:
            item["phones"].append(row["number"])
    # Trusted rows from the store: plain data, no model, no re-validation (D §4.1.4 load).
    return {"query": query.strip(), "kind": kind, "items": list(found.values())}


@functools.cache
def _elder_statement(scoped: bool) -> Prebuilt:
    """The elder's row with its area path and provider, if inside the bound scope."""
    return Prebuilt(
        select(
            Elder.id, Elder.code, Elder.name, Elder.gender, Elder.birth_date,
            Elder.id_number_sealed, Elder.address, Elder.lives_alone, Elder.disabled,
            Elder.health_notes, Elder.language, Elder.hearing, Elder.status, Area.path,
            Provider.code.label("provider_code"), Provider.name.label("provider_name"),
            Provider.phone.label("provider_phone"),
        )
        .join(Area, Elder.area_id == Area.id)
        .outerjoin(Provider, Provider.id == Elder.provider_id)
        .where(Elder.id == bindparam("elder_id", type_=Integer), _in_scope(scoped))
    )


def _elder_params(scope: Jurisdiction, elder_id: int) -> dict[str, Any]:
    return {"elder_id": elder_id, **_scope_params(scope)}


def _not_visible(elder_id: int) -> ElderNotVisible:
    return ElderNotVisible("elder not found", {"elder_id": elder_id})


async def _visible_elder(session: AsyncSession, scope: Jurisdiction, elder_id: int) -> Row[Any]:
    """The elder's row joined with its area path and provider; 404-style error outside ``scope``."""
    statement = _elder_statement(scope.area_path is not None).statement
    row = (await session.execute(statement, _elder_params(scope, elder_id))).first()
    if row is None:
        raise _not_visible(elder_id)
    return row


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


#: District, street, community: the most codes an area path holds (C §4.2.2).
_PATH_DEPTH = 3


@functools.cache
def _profile_parts() -> Prebuilt:
    """The elder's areas, phones, devices and contacts as one UNION ALL, so one round trip.

    Every branch has the same columns: kind, id, priority, five texts (the last nullable)
    and a flag; each kind fills the ones it has. Binds: ``elder_id``, ``code0`` to ``code2``
    (one per level of the elder's area path, NULL where it has fewer: one statement text).
    """
    elder_id = bindparam("elder_id", type_=Integer)
    blank = literal_column("''", String)
    zero = literal_column("0", Integer)
    contacts = select(
        literal_column("'contact'", String).label("kind"), Contact.id, Contact.priority,
        Contact.role.label("t1"), Contact.name.label("t2"), Contact.relation.label("t3"),
        Contact.phone.label("t4"), Contact.email.label("t5"), true().label("flag"),
    ).where(Contact.elder_id == elder_id)
    areas = select(
        literal_column("'area'", String), Area.id, zero, Area.code, Area.name, Area.level,
        blank, null(), true(),
    ).where(Area.code.in_([bindparam(f"code{n}", type_=String) for n in range(_PATH_DEPTH)]))
    phones = select(
        literal_column("'phone'", String), ElderPhone.id, zero, ElderPhone.number, blank, blank,
        blank, null(), true(),
    ).where(ElderPhone.elder_id == elder_id)
    devices = select(
        literal_column("'device'", String), SosDevice.id, zero, SosDevice.device_id, blank,
        blank, blank, null(), SosDevice.active,
    ).where(SosDevice.elder_id == elder_id)
    return Prebuilt(union_all(contacts, areas, phones, devices))


async def elder_profile(
    conn: AsyncConnection,
    scope: Jurisdiction,
    elder_id: int,
    cipher: FieldCipher,
    *,
    today: date,
) -> ProfileAnswer:
    """The elder's full profile with the ID number masked; 404-style error outside ``scope``."""
    found = await _elder_statement(scope.area_path is not None).fetch(
        conn, _elder_params(scope, elder_id))
    if not found:
        raise _not_visible(elder_id)
    elder = found[0]
    codes = [part for part in elder["path"].split("/") if part]
    by_kind: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    slots = {f"code{n}": codes[n] if n < len(codes) else None for n in range(_PATH_DEPTH)}
    for part in await _profile_parts().fetch(conn, {"elder_id": elder_id, **slots}):
        by_kind[part["kind"]].append(part)
    areas = {a["t1"]: a for a in by_kind["area"]}
    sealed = elder["id_number_sealed"]
    # Trusted rows from the store: plain data, no model, no re-validation (D §4.1.4 load).
    return {
        "id": elder["id"], "code": elder["code"], "name": elder["name"],
        "gender": elder["gender"], "birth_date": elder["birth_date"],
        "age": _age(elder["birth_date"], today),
        "id_number_masked": mask_id_number(cipher.open(sealed)) if sealed else None,
        "address": elder["address"], "area_path": elder["path"],
        "areas": [{"code": a["t1"], "name": a["t2"], "level": a["t3"]}
                  for a in (areas[c] for c in codes if c in areas)],
        "phones": [p["t1"] for p in sorted(by_kind["phone"], key=lambda p: p["id"])],
        "devices": [{"device_id": d["t1"], "active": bool(d["flag"])}
                    for d in sorted(by_kind["device"], key=lambda d: d["t1"])],
        "contacts": [
            {"id": c["id"], "role": c["t1"], "priority": c["priority"], "name": c["t2"],
             "relation": c["t3"], "phone": c["t4"], "email": c["t5"]}
            for c in sorted(by_kind["contact"], key=lambda c: (c["t1"], c["priority"]))
        ],
        "provider": {"code": elder["provider_code"], "name": elder["provider_name"],
                     "phone": elder["provider_phone"]}
        if elder["provider_code"] is not None else None,
        "lives_alone": elder["lives_alone"], "disabled": elder["disabled"],
        "health_notes": elder["health_notes"], "status": elder["status"],
        "language": elder["language"], "hearing": elder["hearing"],
    }


async def reveal_id_number(
    session: AsyncSession,
    scope: Jurisdiction,
    elder_id: int,
    cipher: FieldCipher,
    *,
    actor: str,
    reason: str,
) -> IdNumberRevealed:
    """Decrypt the elder's ID number and write the access to the audit trail (same transaction)."""
    elder = await _visible_elder(session, scope, elder_id)
    if not elder.id_number_sealed:
        raise IdNumberMissing("no ID number on file", {"elder_id": elder_id})
    number = cipher.open(elder.id_number_sealed)
    await audit.record(
        session,
        actor=actor,
        action="elder.id_number.reveal",
        entity="elder",
        entity_id=elder_id,
        reason=reason,
    )
    return IdNumberRevealed(elder_id=elder_id, id_number=number)
