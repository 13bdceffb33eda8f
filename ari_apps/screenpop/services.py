"""The screen-pop built around the elder: who is calling, why they may be calling, and what
the agent may do about it, read in two prebuilt queries while the phone rings.

The first query reads the elder's card (by the id routing found, else by the number); the
second brings everything around them at once as one UNION ALL: contacts, the last calls,
the last SOS incidents (an open one among them), open work orders, and an abandoned call of
the last day (a confused elder who hung up may be calling back). Numbers are masked the way
the product masks them everywhere (138****8001); the profile page shows them in full.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from ari_apps.sos.models import Incident
from callcenter.calls.models import Call
from callcenter.logs import mask_text
from callcenter.store.direct import EngineReader, Reader
from callcenter.store.engine import Prebuilt
from callcenter.store.models import Area, Contact, Elder, ElderPhone, ElderStatus
from workflow.models import Complaint, WorkOrder

#: How many past calls, incidents and open work orders the pop lists.
LAST = 5
#: An abandoned call this recent is a reason the caller may be calling.
RECENT_ABANDON = timedelta(hours=24)
#: Contacts as the agent reads them: kin first, then the doctor and the social worker.
_ROLE_ORDER = {"kin": 0, "doctor": 1, "social_worker": 2}
#: What the caller's number may be, as the hotline reports it.
CALLER_KINDS = ("elder", "kin", "provider", "staff", "unknown")

_CARD = (Elder.id, Elder.name, Elder.gender, Elder.birth_date, Elder.address, Elder.lives_alone,
         Elder.disabled, Elder.health_notes, Elder.language, Elder.hearing, Elder.status,
         Area.name.label("area"), Area.path)
_BY_ID = Prebuilt(select(*_CARD).join(Area, Area.id == Elder.area_id)
                  .where(Elder.id == bindparam("elder_id")))
# A kin's or the elder's own number when routing did not name the elder.
_BY_NUMBER = Prebuilt(
    select(*_CARD).join(Area, Area.id == Elder.area_id)
    .where(Elder.status != literal_column(f"'{ElderStatus.DECEASED.value}'"),
           or_(Elder.id.in_(select(ElderPhone.elder_id).where(ElderPhone.number == bindparam("number"))),
               Elder.id.in_(select(Contact.elder_id).where(Contact.phone == bindparam("number")))))
    .order_by(Elder.id).limit(1)
)
_T, _I, _D = cast(null(), String), cast(null(), Integer), cast(null(), DateTime(timezone=True))
_OPEN_ORDER = WorkOrder.status != literal_column("'closed'")
_OPEN_COMPLAINT = Complaint.status != literal_column("'closed'")
_ABANDONS = or_(Call.outcome == literal_column("'abandoned'"),
                Call.outcome == literal_column("'short_abandon'"))


def _last(statement: Any, name: str) -> Any:
    """One branch of the union, its own LIMIT kept inside a subquery (SQLite needs it)."""
    sub = statement.limit(LAST).subquery(name)
    return select(*sub.c)


def _facts(where_calls: Any, where_elder: Any) -> Prebuilt:
    k = literal_column
    branches = [
        select(k("'contact'").label("kind"), Contact.role.label("a"), Contact.name.label("b"),
               Contact.relation.label("c"), Contact.phone.label("d"), Contact.priority.label("n"),
               _D.label("at")).where(Contact.elder_id == where_elder),
        select(k("'phone'"), _T, _T, _T, ElderPhone.number, ElderPhone.id, _D)
        .where(ElderPhone.elder_id == where_elder),
        _last(select(k("'call'").label("kind"), Call.id.label("a"), Call.queue.label("b"),
                     Call.outcome.label("c"), Call.agent.label("d"), Call.wait_seconds.label("n"),
                     Call.started_at.label("at"))
              .where(where_calls, Call.id != bindparam("call_id"))
              .order_by(Call.started_at.desc()), "calls"),
        _last(select(k("'incident'").label("kind"), Incident.id.label("a"), Incident.kind.label("b"),
                     Incident.status.label("c"), Incident.outcome.label("d"), _I.label("n"),
                     Incident.started_at.label("at"))
              .where(Incident.elder_id == where_elder).order_by(Incident.started_at.desc()),
              "incidents"),
        _last(select(k("'order'").label("kind"), WorkOrder.number.label("a"),
                     WorkOrder.type.label("b"), WorkOrder.status.label("c"),
                     WorkOrder.title.label("d"), WorkOrder.id.label("n"),
                     WorkOrder.created_at.label("at"))
              .where(WorkOrder.elder_id == where_elder, _OPEN_ORDER)
              .order_by(WorkOrder.created_at.desc()), "orders"),
        _last(select(k("'complaint'").label("kind"), Complaint.number.label("a"),
                     Complaint.source.label("b"), Complaint.status.label("c"),
                     Complaint.title.label("d"), Complaint.id.label("n"),
                     Complaint.created_at.label("at"))
              .where(Complaint.elder_id == where_elder, _OPEN_COMPLAINT)
              .order_by(Complaint.created_at.desc()), "complaints"),
        _last(select(k("'abandon'").label("kind"), Call.id.label("a"), Call.queue.label("b"),
                     Call.outcome.label("c"), _T.label("d"), Call.wait_seconds.label("n"),
                     Call.started_at.label("at"))
              .where(where_calls, _ABANDONS, Call.started_at >= bindparam("recent"),
                     Call.id != bindparam("call_id"))
              .order_by(Call.started_at.desc()), "abandons"),
    ]
    return Prebuilt(union_all(*branches))


# Around a known elder: their calls, incidents, orders. Around an unknown number: its calls,
# found by the reversed number (ix_calls_caller_tail, the route's repeat check's index): by
# caller_number, each pop of an unknown caller would read the whole calls table.
_AROUND_ELDER = _facts(Call.elder_id == bindparam("elder_id"), bindparam("elder_id"))
_AROUND_NUMBER = _facts(Call.caller_tail == bindparam("tail"), bindparam("elder_id"))


def mask(number: str | None) -> str:
    """A phone number as the console may show it in a pop: 138****8001."""
    return mask_text(number or "") if number else ""


def _age(born: Any, today: date) -> int | None:
    if isinstance(born, str):
        born = date.fromisoformat(born[:10])
    if not isinstance(born, date):
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return str(value.isoformat())


@dataclass(frozen=True, slots=True)
class PopFacts:
    """What the store says around a caller: the elder's card (None: not known) and the rows
    of the second query. Read once per call, ahead of the ringing when the route announced
    it; each ringing agent's pop is assembled from them."""

    card: Any
    rows: Sequence[Any]


async def read_facts(reader: Reader, caller: dict[str, Any], now: datetime) -> PopFacts:
    """The two queries for one caller (a ``hotline.call.routed`` or ``…ringing`` message)."""
    elder_id = caller.get("elder_id")
    number = str(caller.get("caller_number") or "")
    card = None
    if isinstance(elder_id, int):
        rows = await reader.fetch(_BY_ID, {"elder_id": elder_id})
        card = rows[0] if rows else None
    elif number and caller.get("caller_kind") in ("elder", "kin"):
        rows = await reader.fetch(_BY_NUMBER, {"number": number})
        card = rows[0] if rows else None
    if card is None and not number:
        return PopFacts(None, [])  # nobody known, no number: no calls of theirs to find
    params = {"elder_id": card["id"] if card else -1, "tail": number[::-1],
              "call_id": caller["call_id"], "recent": now - RECENT_ABANDON}
    query = _AROUND_ELDER if card else _AROUND_NUMBER
    return PopFacts(card, await reader.fetch(query, params))


async def warm_facts(reader: Reader) -> None:
    """Each read :func:`read_facts` may run, once, with values that match nothing: compiled,
    and prepared on ``reader``'s connection, before the first ringing needs them."""
    params = {"elder_id": -1, "tail": "", "call_id": "", "recent": datetime.now(UTC)}
    await reader.fetch(_BY_ID, {"elder_id": -1})
    await reader.fetch(_BY_NUMBER, {"number": ""})
    for query in (_AROUND_ELDER, _AROUND_NUMBER):
        await reader.fetch(query, params)


async def build_pop(conn: AsyncConnection, ringing: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The pop for one ``hotline.call.ringing`` message (already validated)."""
    return assemble(ringing, await read_facts(EngineReader(conn), ringing, now), now)


def degraded_pop(ringing: dict[str, Any]) -> dict[str, Any]:
    """The pop from the ringing message alone, when the store cannot be read."""
    return {**assemble(ringing, PopFacts(None, []), datetime.now().astimezone()), "degraded": True}


def assemble(ringing: dict[str, Any], facts: PopFacts, now: datetime) -> dict[str, Any]:
    """The pop an agent sees, from the ringing message and the facts around the caller."""
    return pop_of(ringing, around(facts, now))


def pop_of(ringing: dict[str, Any], part: dict[str, Any]) -> dict[str, Any]:
    """The pop from the ringing message and the caller's part (:func:`around`): what is
    left to do when the phone rings."""
    why: list[dict[str, Any]] = []
    if ringing.get("care_call"):  # the elder pressed 2 on a care call: the first thing to say
        why.append({"kind": "care", "care_call": str(ringing["care_call"]),
                    "text": str(ringing.get("care_reason") or "")})
    if ringing.get("reason") and not ringing.get("care_call"):
        why.append({"kind": "routing", "text": str(ringing["reason"])})
    return {
        "call_id": ringing["call_id"], "queue": ringing.get("queue") or "",
        "state": "ringing", "rung_at": ringing.get("rung_at"),
        "caller": {"number": mask(str(ringing.get("caller_number") or "")),
                   "kind": ringing.get("caller_kind") or "unknown",
                   "priority": ringing.get("priority") or 0},
        **part,
        "why": [*why, *part["why"]],
    }


def around(facts: PopFacts, now: datetime) -> dict[str, Any]:
    """The caller's part of a pop (their card, contacts, last calls, incidents, open work,
    and what in them may be why they call): the same for every ring of a call, so it is
    built as the facts are read, before the phone rings."""
    card = facts.card
    by_kind: dict[str, list[Any]] = {}
    for row in facts.rows:
        by_kind.setdefault(str(row["kind"]), []).append(row)
    elder = None
    if card is not None:
        elder = {"id": card["id"], "name": card["name"], "gender": card["gender"],
                 "age": _age(card["birth_date"], now.date()), "address": card["address"],
                 "area": card["area"], "area_path": card["path"],
                 "lives_alone": bool(card["lives_alone"]), "disabled": bool(card["disabled"]),
                 "health_notes": card["health_notes"] or "", "status": card["status"],
                 "language": card["language"] or "", "hearing": card["hearing"] or "normal",
                 "url": f"/elders/{card['id']}"}
    contacts = sorted(by_kind.get("contact", []),
                      key=lambda r: (_ROLE_ORDER.get(str(r["a"]), 9), r["n"] or 0))
    incidents = sorted(by_kind.get("incident", []), key=lambda r: str(_iso(r["at"])), reverse=True)
    why: list[dict[str, Any]] = []
    for row in (r for r in incidents if r["c"] == "active"):
        why.append({"kind": "open_sos", "incident": row["a"], "url": f"/incidents/{row['a']}",
                    "at": _iso(row["at"])})
    for row in by_kind.get("abandon", [])[:1]:
        why.append({"kind": "recent_abandon", "call": row["a"], "at": _iso(row["at"]),
                    "wait_seconds": row["n"]})
    return {
        "elder": elder,
        "why": why,
        "contacts": [{"role": r["a"], "name": r["b"], "relation": r["c"] or "",
                      "phone": mask(r["d"]), "priority": r["n"]} for r in contacts],
        "phones": [mask(r["d"]) for r in sorted(by_kind.get("phone", []), key=lambda r: r["n"])],
        "calls": [{"id": r["a"], "queue": r["b"], "outcome": r["c"], "agent": r["d"],
                   "wait_seconds": r["n"], "at": _iso(r["at"])}
                  for r in sorted(by_kind.get("call", []), key=lambda r: str(_iso(r["at"])),
                                  reverse=True)],
        "incidents": [{"id": r["a"], "kind": r["b"], "status": r["c"], "outcome": r["d"],
                       "at": _iso(r["at"]), "url": f"/incidents/{r['a']}"} for r in incidents],
        "work_orders": [{"number": r["a"], "type": r["b"], "status": r["c"], "title": r["d"],
                         "at": _iso(r["at"])} for r in by_kind.get("order", [])],
        "complaints": [{"number": r["a"], "source": r["b"], "status": r["c"], "title": r["d"],
                        "at": _iso(r["at"]), "url": f"/complaints/{r['n']}"}
                       for r in by_kind.get("complaint", [])],
        "actions": actions_for(elder is not None),
    }


#: One-click actions; each is recorded on the call (``calls.details.intents``) and, where
#: the page exists, leads there (the elder's profile).
ACTIONS = ("work_order", "complaint", "consult_answered", "register_caller")


def actions_for(known: bool) -> list[str]:
    """The actions a pop offers: "register this caller" only for an unknown one."""
    return [a for a in ACTIONS if known is False or a != "register_caller"]
