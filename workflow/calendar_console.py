"""The calendar's admin page (``/calendar``): a year's days off and make-up working days with
where each comes from, an admin's one-day overrides added and removed, and a year's
published arrangement imported by upload (the file ``callcenter calendar import`` reads).

Admins only; every change goes through ``calendar_admin`` (audited, all or nothing) and
errors are said in plain Mandarin. Deadlines already fixed do not move.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from sqlalchemy import select

from callcenter.errors import DomainError
from callcenter.store.models import Role
from webui.auth import require_role
from webui.keys import CLOCK
from webui.pages import render
from workflow.calendar import NAME_LIMIT, SOURCE_NAMES, load_calendar
from workflow.calendar_admin import import_year, remove_override, set_override
from workflow.http import CASEBOOK
from workflow.models import CalendarDay, CalendarYear, DayKind

YEARS = (1990, 2099)  # as ``callcenter calendar``
#: An arrangement lists a few dozen days: a bigger upload is not one.
UPLOAD_LIMIT = 64 * 1024
_WEEKDAYS = "一二三四五六日"
_DONE = ("imported", "override", "removed", "unchanged")


class PageError(ValueError):
    """A form the page refuses, said in plain Mandarin."""


def _year(value: object, fallback: int | None = None) -> int:
    text = str(value or "").strip()
    if not text and fallback is not None:
        return fallback
    if not text.isdigit() or not YEARS[0] <= int(text) <= YEARS[1]:
        raise PageError(f"年份应为 {YEARS[0]}–{YEARS[1]} 之间的四位数字")
    return int(text)


def _day(value: object) -> date:
    text = str(value or "").strip()
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise PageError(f"“{text}”不是日期，请按 2027-10-01 的格式填写") from None
    if not YEARS[0] <= day.year <= YEARS[1]:
        raise PageError(f"日期应在 {YEARS[0]}–{YEARS[1]} 年之间")
    return day


async def calendar_page(request: web.Request, *, error: str | None = None,
                        problems: list[str] | None = None, year: int | None = None,
                        form: dict[str, str] | None = None, status: int = 200) -> web.StreamResponse:
    """GET /calendar?year=: the year's non-working and make-up days and their source."""
    require_role(request, Role.ADMIN)
    book = request.app[CASEBOOK]
    today = request.app[CLOCK]().astimezone(book.zone).date()
    if year is None:
        try:
            year = _year(request.query.get("year"), today.year)
        except PageError as err:
            year, error, status = today.year, str(err), 422
    async with book.sessions() as session:
        calendar = await load_calendar(session)
        rows = {r.day: r for r in (await session.execute(select(CalendarDay).where(
            CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)))).scalars()}
        imported = await session.get(CalendarYear, year)
    days: list[dict[str, Any]] = []
    for info in calendar.year(year):
        row = rows.get(info.day)
        days.append({"info": info, "weekday": "周" + _WEEKDAYS[info.day.weekday()],
                     "source": SOURCE_NAMES[info.source], "by": row.created_by if row else "",
                     "removable": row is not None and row.source == "override"})
    source = calendar.year_source(year)
    done = request.query.get("done", "")
    return render(request, "wf_calendar.html", {
        "year": year, "days": days, "source": source, "source_name": SOURCE_NAMES[source],
        "imported": imported, "error": error, "problems": problems or [],
        "done": done if error is None and done in _DONE else "",
        "form": form or {}, "name_limit": NAME_LIMIT}, status=status)


def _form_year(request: web.Request, form: Any) -> int:
    """The year the page showed (its forms carry it), for drawing the page again."""
    try:
        return _year(form.get("year"))
    except PageError:
        return request.app[CLOCK]().astimezone(request.app[CASEBOOK].zone).year


def _back(year: int, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"/calendar?year={year}&done={done}")


async def override_submit(request: web.Request) -> web.StreamResponse:
    """POST /calendar/overrides: make one day a holiday or a working day."""
    principal = require_role(request, Role.ADMIN)
    form = {k: str(v) for k, v in (await request.post()).items() if k != "csrf_token"}
    try:
        day = _day(form.get("day"))
        kind = form.get("kind", "")
        if kind not in (DayKind.HOLIDAY.value, DayKind.WORKDAY.value):
            raise PageError("请选择“放假”或“上班”")
        name = form.get("name", "").strip()
        if len(name) > NAME_LIMIT:
            raise PageError(f"名称不能超过 {NAME_LIMIT} 个字")
    except PageError as err:
        return await calendar_page(request, error=str(err), year=_form_year(request, form),
                                   form=form, status=422)
    book = request.app[CASEBOOK]
    async with book.sessions.begin() as session:
        await set_override(session, day, kind, name, actor=principal.username)
    book.forget_calendar()
    raise _back(day.year, "override")


async def remove_submit(request: web.Request) -> web.StreamResponse:
    """POST /calendar/overrides/remove: forget one day's override."""
    principal = require_role(request, Role.ADMIN)
    form = await request.post()
    try:
        day = _day(form.get("day"))
    except PageError as err:
        return await calendar_page(request, error=str(err), year=_form_year(request, form),
                                   status=422)
    book = request.app[CASEBOOK]
    async with book.sessions.begin() as session:
        removed = await remove_override(session, day, actor=principal.username)
    book.forget_calendar()
    raise _back(day.year, "removed" if removed else "unchanged")


async def import_submit(request: web.Request) -> web.StreamResponse:
    """POST /calendar/import (multipart: year, file): a year's published arrangement."""
    principal = require_role(request, Role.ADMIN)
    form = await request.post()
    try:
        year = _year(form.get("year"))
    except PageError as err:
        return await calendar_page(request, error=str(err), year=_form_year(request, form),
                                   status=422)
    upload = form.get("file")
    try:
        if not isinstance(upload, web.FileField):
            raise PageError("请选择要导入的放假安排文件")
        content = upload.file.read(UPLOAD_LIMIT + 1)
        if len(content) > UPLOAD_LIMIT:
            raise PageError(f"文件太大（超过 {UPLOAD_LIMIT // 1024} KB），不像放假安排")
        try:
            lines = content.decode("utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise PageError("文件不是 UTF-8 编码的文本，请另存为 UTF-8 后再导入") from None
    except PageError as err:
        return await calendar_page(request, error=str(err), year=year, status=422)
    book = request.app[CASEBOOK]
    try:
        async with book.sessions.begin() as session:
            await import_year(session, year, lines, actor=principal.username)
    except DomainError as err:
        return await calendar_page(request, error=f"{year} 年的放假安排有错误，没有导入任何内容：",
                                   problems=list(err.details.get("problems_zh", [])), year=year,
                                   status=err.status)
    book.forget_calendar()
    raise _back(year, "imported")


def install_calendar_page(app: web.Application) -> None:
    router = app.router
    router.add_get("/calendar", calendar_page, name="wf_calendar")
    router.add_post("/calendar/overrides", override_submit)
    router.add_post("/calendar/overrides/remove", remove_submit)
    router.add_post("/calendar/import", import_submit)
