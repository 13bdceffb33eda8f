"""Care plans from the console and from CSV, checked whole before anything is stored.

A CSV import is all-or-nothing like the directory's (``callcenter import …``): every bad
row is reported as ``FILE: line N: column: reason``. Columns (* required): ``code*``,
``elder_code*``, ``kind*`` (wellbeing/medication/birthday/weather or 问候/服药/生日/天气),
``repeat*`` (daily/weekly/once), ``at_time*`` (HH:MM), ``weekdays`` (1-7, ``;``-separated),
``on_date`` (YYYY-MM-DD), ``medicine``, ``message``, ``report_to_kin`` (yes/no),
``hours`` (the elder's own hours, HH:MM-HH:MM), ``active`` (yes/no). Re-importing a code
updates that plan. New plans due later today are laid out at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from ari_apps.care.exceptions import ElderNotFound, InvalidPlan
from ari_apps.care.models import CareHours, CareKind, CarePlan, PlanSource, Repeat
from ari_apps.care.plans import PlanSpec, Window, parse_time, parse_weekdays
from ari_apps.care.services import hours_for, layout_day, local_day
from callcenter import audit
from callcenter.directory.csvfile import WIDTH_ERROR, read_csv
from callcenter.directory.results import ImportFailed, RowError
from callcenter.directory.rows import describe_errors
from callcenter.directory.validators import parse_flag
from callcenter.settings import Settings
from callcenter.store.engine import SessionFactory
from callcenter.store.models import Elder

_KINDS = {"问候": "wellbeing", "关爱": "wellbeing", "服药": "medication", "生日": "birthday",
          "天气": "weather"}
_REPEATS = {"每天": "daily", "每周": "weekly", "一次": "once"}


class PlanInput(BaseModel):
    """One plan as typed in the console, sent to the API or read from a CSV row."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="forbid")

    code: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z_.-]+$")
    elder_code: str = Field(min_length=1, max_length=32)
    kind: CareKind
    repeat: Repeat
    at_time: str = Field(pattern=r"^\d\d:\d\d$")
    weekdays: str = ""
    on_date: date | None = None
    medicine: str = Field(default="", max_length=100)
    message: str = Field(default="", max_length=500)
    report_to_kin: bool = False
    hours: str = ""
    active: bool = True


def _row(cells: dict[str, str]) -> dict[str, Any]:
    row: dict[str, Any] = {k: v for k, v in cells.items() if v.strip() != ""}
    row["kind"] = _KINDS.get(row.get("kind", "").strip(), row.get("kind", "").strip().lower())
    row["repeat"] = _REPEATS.get(row.get("repeat", "").strip(),
                                 row.get("repeat", "").strip().lower())
    for flag in ("report_to_kin", "active"):
        if flag in row:
            try:
                row[flag] = parse_flag(row[flag])
            except ValueError:
                pass  # pydantic reports it as not a boolean
    return row


def check_plan(item: PlanInput, settings: Settings, now: datetime) -> PlanSpec:
    """The plan's schedule, or :class:`InvalidPlan` with every problem (nothing stored)."""
    zone_now = now.astimezone(hours_for(settings).zone)
    problems: dict[str, str] = {}
    spec: PlanSpec | None = None
    try:
        spec = PlanSpec(kind=item.kind, repeat=item.repeat, at_time=parse_time(item.at_time),
                        weekdays=parse_weekdays(item.weekdays) if item.weekdays else (),
                        on_date=item.on_date, medicine=item.medicine, message=item.message)
        spec.check(zone_now.date(), zone_now)
    except InvalidPlan as err:
        problems.update({k: str(v) for k, v in err.details.items()} or {"": err.message})
    if item.hours:
        try:
            Window.parse(item.hours, "hours")
        except InvalidPlan as err:
            problems["hours"] = err.message
    if problems or spec is None:
        raise InvalidPlan("; ".join(f"{k}: {v}" for k, v in problems.items()), problems)
    return spec


@dataclass
class Saved:
    inserted: int = 0
    updated: int = 0
    laid_out: int = 0


async def save_plans(sessions: SessionFactory, settings: Settings, items: list[PlanInput], *,
                     actor: str, source: PlanSource, now: datetime,
                     errors_at: list[int] | None = None) -> Saved:
    """Store checked plans (insert, or update by code); lay out today's that are still due."""
    saved = Saved()
    missing: list[RowError] = []
    async with sessions.begin() as session:
        codes = {item.elder_code for item in items}
        elders = dict((await session.execute(
            select(Elder.code, Elder.id).where(Elder.code.in_(codes)))).all())
        for index, item in enumerate(items):
            if item.elder_code not in elders:
                line = errors_at[index] if errors_at else 0
                missing.append(RowError(line, "elder_code", f"no elder {item.elder_code!r}"))
        if missing:
            if errors_at is None:
                raise ElderNotFound(missing[0].message, {"elder": items[0].elder_code})
            raise ImportFailed(Path("plans"), missing)
        existing = {plan.code: plan for plan in (await session.execute(
            select(CarePlan).where(CarePlan.code.in_([i.code for i in items])))).scalars()}
        plans: list[CarePlan] = []
        for item in items:
            values = item.model_dump(exclude={"elder_code", "hours", "kind", "repeat"})
            values |= {"kind": item.kind.value, "repeat": item.repeat.value,
                       "elder_id": elders[item.elder_code]}
            plan = existing.get(item.code)
            if plan is None:
                plan = CarePlan(**values, source=source.value, created_by=actor)
                session.add(plan)
                saved.inserted += 1
            else:
                for key, value in values.items():
                    setattr(plan, key, value)
                saved.updated += 1
            plans.append(plan)
            if item.hours:
                window = Window.parse(item.hours, "hours")
                assert window is not None
                await session.merge(CareHours(elder_id=elders[item.elder_code],
                                              start=f"{window.start:%H:%M}",
                                              end=f"{window.end:%H:%M}"))
        await session.flush()
        await audit.record(session, actor=actor, action="care.plans", entity="care_plan",
                           entity_id=",".join(i.code for i in items)[:64],
                           after={"inserted": saved.inserted, "updated": saved.updated,
                                  "source": source.value})
        ids = [plan.id for plan in plans if plan.active]
    saved.laid_out = await layout_day(sessions, settings, local_day(settings, now),
                                      plan_ids=ids, not_before=now)
    return saved


async def import_plans(sessions: SessionFactory, settings: Settings, path: Path, *,
                       actor: str, now: datetime) -> Saved:
    """``callcenter care import FILE.csv``: all or nothing, every bad row by line."""
    columns = tuple(PlanInput.model_fields)
    csv_file = read_csv(path, columns, ("code", "elder_code", "kind", "repeat", "at_time"))
    errors: list[RowError] = []
    items: list[PlanInput] = []
    lines: list[int] = []
    seen: dict[str, int] = {}
    for record in csv_file.records:
        if WIDTH_ERROR in record.cells:
            errors.append(RowError(record.line, "", record.cells[WIDTH_ERROR]))
            continue
        try:
            item = PlanInput.model_validate(_row(record.cells))
        except ValidationError as err:
            errors.extend(RowError(record.line, c, m) for c, m in describe_errors(err))
            continue
        try:
            check_plan(item, settings, now)
        except InvalidPlan as err:
            errors.extend(RowError(record.line, c, str(m)) for c, m in err.details.items())
            continue
        if item.code in seen:
            errors.append(RowError(record.line, "code",
                                   f"{item.code} is already on line {seen[item.code]}"))
            continue
        seen[item.code] = record.line
        items.append(item)
        lines.append(record.line)
    if errors:
        raise ImportFailed(path, errors)
    try:
        return await save_plans(sessions, settings, items, actor=actor,
                                source=PlanSource.IMPORT, now=now, errors_at=lines)
    except ImportFailed as failed:
        raise ImportFailed(path, failed.errors) from None
