"""Evaluation figures per provider and area, the assessment's warnings, CSV, the answer rate
from a calls source when one is provided; a provisional deadline in a year not published."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from callcenter.store.engine import SessionFactory
from tests.workflow.conftest import Clock, Directory
from workflow.casebook import Casebook
from workflow.evaluation import EvaluationQuery, evaluate, to_csv
from workflow.kinds import COMPLAINTS, WORKORDERS
from workflow.machines import Actor
from workflow.schemas import CaseCreate

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Calls:
    """What the hotline will provide: answered / offered calls of an area and period."""

    def __init__(self) -> None:
        self.asked: list[tuple[str | None, datetime, datetime]] = []

    async def answer_rate(self, area_path: str | None, start: datetime, end: datetime) -> float | None:
        self.asked.append((area_path, start, end))
        return 0.95


async def test_figures_per_provider_with_warnings_csv_and_the_answer_rate(
    casebook: Casebook, directory: Directory, agent: Actor, supervisor: Actor,
    sessions: SessionFactory, clock: Clock,
) -> None:
    done = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    for action, fields in [("review", {"service_type": "home_care"}),
                           ("dispatch", {"provider_id": directory.p1}), ("take", {"staff_name": "刘"}),
                           ("check_in", {"number": done.number}),
                           ("return_slip", {"result": "完成", "satisfaction": 3}),
                           ("return_visit", {"opinion": "一般", "satisfaction": 2}), ("close", {})]:
        done = await casebook.move(WORKORDERS, done.id, action, done.version, fields, agent)
    waiting = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    waiting = await casebook.move(WORKORDERS, waiting.id, "review", 1, {"service_type": "home_care"}, agent)
    await casebook.move(WORKORDERS, waiting.id, "dispatch", 2, {"provider_id": directory.p1}, agent)
    complaint = await casebook.create(COMPLAINTS, CaseCreate(
        title="迟到", elder_id=directory.elder_id, provider_id=directory.p1), agent)
    await casebook.move(COMPLAINTS, complaint.id, "answer_now", 1, {"reply": "已道歉"}, agent)
    await casebook.move(COMPLAINTS, complaint.id, "close", 2, {"valid": "yes"}, supervisor)
    calls = Calls()
    today = clock.now.astimezone(SHANGHAI).date()
    async with sessions() as db:
        report = await evaluate(db, EvaluationQuery(by="provider"), supervisor.area_path, calls,
                                SHANGHAI, today)
        by_area = await evaluate(db, EvaluationQuery(by="area"), supervisor.area_path, None,
                                 SHANGHAI, today)
        empty = await evaluate(db, EvaluationQuery(start=date(2020, 1, 1), end=date(2020, 1, 31)),
                               None, None, SHANGHAI, today)
    (row,) = report.rows
    assert (row.key, row.name, row.orders, row.closed) == (str(directory.p1), "乐康居家养老服务中心", 2, 1)
    assert (row.completion_rate, row.satisfaction, row.timeliness) == (0.5, 2.0, 1.0)
    assert (row.complaints, row.complaints_closed, row.valid_closure_rate, row.supervisions) == (1, 1, 1.0, 1)
    assert row.warnings == ["满意度 2.0 低于 4 分", "办结率 50% 低于 80%", "被投诉 1 件", "被督办 1 次"]
    assert report.answer_rate == 0.95 and calls.asked[0][0] == supervisor.area_path
    assert [r.key for r in by_area.rows] == [directory.path_c1] and by_area.rows[0].name == "长江里社区"
    assert by_area.answer_rate is None and "尚未接入" in by_area.answer_rate_note
    assert empty.rows == []
    csv = to_csv(report).lstrip("\ufeff").splitlines()
    assert csv[0].startswith("key,name,orders,closed,completion_rate")
    assert csv[1].startswith(f"{directory.p1},乐康居家养老服务中心,2,1,0.5,2.0,1.0,1,1,1.0,1,")
    assert csv[-1] == "answer_rate,0.95,"


async def test_a_case_whose_deadline_falls_in_an_unpublished_year_is_provisional(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock,
) -> None:
    clock.now = datetime(2026, 12, 29, 2, 0, tzinfo=UTC)  # Tuesday; 5 working days reach 2027
    complaint = await casebook.create(COMPLAINTS, CaseCreate(title="投诉", elder_id=directory.elder_id), agent)
    assert complaint.due_provisional
    # 30, 31 Dec, (1 Jan off by law), 4, 5, 6 Jan 2027.
    assert complaint.due_at == datetime(2027, 1, 6, 16, 0, tzinfo=UTC)
    view = await casebook.view(COMPLAINTS, complaint.id, agent)
    assert view.due_provisional and view.due_text == "2027-01-06 24:00"
    order = await casebook.create(WORKORDERS, CaseCreate(title="助餐", elder_id=directory.elder_id), agent)
    # 30, 31 Dec, then 4 Jan: the counting looked at 2027 (1 January), so provisional too.
    assert order.due_provisional and order.due_at == datetime(2027, 1, 4, 16, 0, tzinfo=UTC)
    clock.now -= timedelta(days=7)  # 22 December: 23, 24, 25 December, all in 2026
    order = await casebook.create(WORKORDERS, CaseCreate(title="助餐", elder_id=directory.elder_id), agent)
    assert not order.due_provisional
