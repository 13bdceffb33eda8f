"""The three case types as the services see them: table, machine, number prefix, audit name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from workflow.exceptions import CaseNotFound
from workflow.machines import COMPLAINT, CONSULT, WORK_ORDER, Machine
from workflow.models import Complaint, Consult, WorkOrder

CaseRow = WorkOrder | Consult | Complaint


@dataclass(frozen=True)
class CaseKind:
    """One case type: ``name`` is its URL and timeline name (workorders → ``workorder``)."""

    name: str
    plural: str
    model: type[WorkOrder] | type[Consult] | type[Complaint]
    machine: Machine
    prefix: str
    entity: str


WORKORDERS = CaseKind("workorder", "workorders", WorkOrder, WORK_ORDER, "WO", "work_order")
CONSULTS = CaseKind("consult", "consults", Consult, CONSULT, "CS", "consult")
COMPLAINTS = CaseKind("complaint", "complaints", Complaint, COMPLAINT, "TS", "complaint")
KINDS: dict[str, CaseKind] = {k.name: k for k in (WORKORDERS, CONSULTS, COMPLAINTS)}
BY_PLURAL: dict[str, CaseKind] = {k.plural: k for k in KINDS.values()}


def kind_named(name: str) -> CaseKind:
    """The case type by its singular or plural name (404 for any other)."""
    found = KINDS.get(name) or BY_PLURAL.get(name)
    if found is None:
        raise CaseNotFound("no such kind of case", {"kind": name})
    return found


async def get_row(session: AsyncSession, kind: CaseKind, case_id: int) -> CaseRow | None:
    """The case row by id (any area: callers check the jurisdiction)."""
    return cast("CaseRow | None", await session.get(kind.model, case_id))


def table_of(kind: CaseKind) -> Table:
    """The case type's table (for Core statements)."""
    return cast(Table, kind.model.__table__)
