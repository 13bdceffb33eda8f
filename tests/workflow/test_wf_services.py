"""Cases in the store: the whole loop, provider matching, pauses, conflicts, supervision,
faults; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from callcenter.scheduler import ScheduledTimer
from callcenter.store.engine import SessionFactory
from callcenter.store.models import AuditEntry
from recordings.models import RecordingHold
from tests.workflow.conftest import T0, Clock, Directory
from workflow.casebook import Casebook
from workflow.exceptions import (
    CaseNotFound,
    IllegalTransition,
    InvalidField,
    ProviderNotCovering,
    VersionConflict,
)
from workflow.kinds import COMPLAINTS, CONSULTS, WORKORDERS
from workflow.machines import Actor
from workflow.models import CaseEvent, Supervision
from workflow.schemas import CaseCreate, CaseListQuery, LinkedCall


async def _timers(sessions: SessionFactory, prefix: str) -> dict[str, str]:
    async with sessions() as db:
        rows = (await db.execute(select(ScheduledTimer).where(
            ScheduledTimer.key.startswith(prefix)))).scalars().all()
    return {r.key: r.state for r in rows}


async def _count(sessions: SessionFactory, model: type) -> int:
    async with sessions() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def test_a_work_order_runs_its_whole_loop(
    casebook: Casebook, directory: Directory, agent: Actor, supervisor: Actor, clock: Clock,
    sessions: SessionFactory,
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(
        title="助浴服务", description="老人需要每周助浴一次", elder_id=directory.elder_id,
        call_id="call-1"), agent)
    assert order.number.startswith("WO-20260908-") and order.status == "accepted"
    assert order.area_path == directory.path_c1
    # 3 working days after Tuesday 8 September: the end of Friday 11 September (Shanghai).
    assert order.due_at is not None and order.due_at.isoformat() == "2026-09-11T16:00:00+00:00"
    assert not order.due_provisional
    assert set((await _timers(sessions, f"workorder:{order.id}:")).values()) == {"pending"}

    v = order.version
    steps = [
        ("review", {"service_type": "home_care"}),
        ("dispatch", {"provider_id": directory.p1}),
        ("take", {"staff_name": "刘阿姨"}),
        ("check_in", {"number": order.number}),
        ("return_slip", {"result": "已完成助浴", "satisfaction": 5}),
        ("return_visit", {"opinion": "很满意", "satisfaction": 5}),
        ("close", {}),
    ]
    for action, fields in steps:
        clock.advance(hours=1)
        order = await casebook.move(WORKORDERS, order.id, action, v, fields, agent)
        assert order.version == v + 1
        v = order.version
    assert order.status == "closed" and order.closed_at == clock.now
    assert order.provider_id == directory.p1 and not order.provider_override
    assert order.provider_reason is not None and order.provider_reason.startswith("老人指定")
    assert order.satisfaction == 5 and order.staff_name == "刘阿姨"
    view = await casebook.view(WORKORDERS, order.id, supervisor)
    assert [e.action for e in view.timeline] == ["create"] + [a for a, _ in steps]
    assert view.timeline[2].from_status == "reviewed" and view.timeline[2].to_status == "dispatched"
    assert view.actions == []  # closed: nothing left to do
    assert set((await _timers(sessions, f"workorder:{order.id}:")).values()) == {"cancelled"}
    async with sessions() as db:
        actions = (await db.execute(select(AuditEntry.action).where(
            AuditEntry.entity_id == order.number).order_by(AuditEntry.seq))).scalars().all()
    assert actions == ["work_order.create"] + [f"work_order.{a}" for a, _ in steps]


async def test_provider_matching_designated_first_then_best_and_the_override_is_traced(
    casebook: Casebook, directory: Directory, agent: Actor,
) -> None:
    from workflow.matching import candidates

    async with casebook.sessions() as db:
        ranked = await candidates(db, service_type="home_care", area_path=directory.path_c1,
                                  designated_id=directory.p1)
        assert [c.provider_id for c in ranked] == [directory.p1, directory.p2]
        ranked = await candidates(db, service_type="home_care", area_path=directory.path_c1,
                                  designated_id=None)
        assert [c.provider_id for c in ranked] == [directory.p2, directory.p1]  # better rated
        assert "评分 4.8" in ranked[0].reason and "负载 0/10" in ranked[0].reason
    order = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    order = await casebook.move(WORKORDERS, order.id, "review", 1, {"service_type": "home_care"}, agent)
    with pytest.raises(ProviderNotCovering):  # P3 serves meals in another district
        await casebook.move(WORKORDERS, order.id, "dispatch", 2, {"provider_id": directory.p3}, agent)
    with pytest.raises(InvalidField) as raised:  # not the designated one: a reason is needed
        await casebook.move(WORKORDERS, order.id, "dispatch", 2, {"provider_id": directory.p2}, agent)
    assert raised.value.details["field"] == "reason"
    order = await casebook.move(WORKORDERS, order.id, "dispatch", 2,
                                {"provider_id": directory.p2, "reason": "老人家属要求换服务商"}, agent)
    assert order.provider_override and order.provider_id == directory.p2
    view = await casebook.view(WORKORDERS, order.id, agent)
    assert view.timeline[-1].detail["override"] is True
    assert view.timeline[-1].reason == "老人家属要求换服务商"


async def test_a_failed_review_goes_back_with_its_reason_and_pauses_the_deadline(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock, sessions: SessionFactory,
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="维修", elder_id=directory.elder_id), agent)
    due = order.due_at
    assert due is not None
    order = await casebook.move(WORKORDERS, order.id, "reject_review", 1,
                                {"reason": "描述不清：没有写明要修什么"}, agent)
    assert order.status == "amending" and order.paused_at == clock.now
    assert set((await _timers(sessions, f"workorder:{order.id}:")).values()) == {"cancelled"}
    clock.advance(hours=30)
    order = await casebook.move(WORKORDERS, order.id, "amend", 2,
                                {"description": "卫生间水龙头漏水，需要上门维修"}, agent)
    assert order.status == "accepted" and order.paused_at is None
    # Paused Tuesday 10:00 with Wednesday, Thursday and Friday left; resumed Wednesday 16:00:
    # three working days after it (Thursday, Friday, Monday), not 30 clock hours later.
    assert order.due_at == due + timedelta(days=3) != due + timedelta(hours=30)
    assert set((await _timers(sessions, f"workorder:{order.id}:")).values()) == {"pending"}
    view = await casebook.view(WORKORDERS, order.id, agent)
    assert view.timeline[1].reason == "描述不清：没有写明要修什么"


async def test_a_stale_version_an_illegal_move_and_an_outsider_change_nothing(
    casebook: Casebook, directory: Directory, agent: Actor, sessions: SessionFactory,
) -> None:
    order = await casebook.create(WORKORDERS, CaseCreate(title="助餐", elder_id=directory.elder_id), agent)
    await casebook.move(WORKORDERS, order.id, "review", 1, {"service_type": "meals"}, agent)
    events, audits = await _count(sessions, CaseEvent), await _count(sessions, AuditEntry)
    with pytest.raises(VersionConflict):
        await casebook.move(WORKORDERS, order.id, "reject_review", 1, {"reason": "x"}, agent)
    with pytest.raises(IllegalTransition):
        await casebook.move(WORKORDERS, order.id, "close", 2, {}, agent)
    outsider = Actor("agent_d2", "agent", directory.path_d2)
    with pytest.raises(CaseNotFound):
        await casebook.move(WORKORDERS, order.id, "dispatch", 2, {"provider_id": directory.p1}, outsider)
    with pytest.raises(InvalidField):
        await casebook.create(WORKORDERS, CaseCreate(title="x", source="media"), agent)
    assert (await _count(sessions, CaseEvent), await _count(sessions, AuditEntry)) == (events, audits)
    listed = await casebook.list(WORKORDERS, outsider, CaseListQuery())
    assert listed.items == []
    assert [i.id for i in (await casebook.list(WORKORDERS, agent, CaseListQuery())).items] == [order.id]


async def test_supervision_for_repeated_requests_fires_exactly_at_the_nth(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock, sessions: SessionFactory,
) -> None:
    # Defaults: 3 requests of one type by one elder within 30 days.
    numbers = []
    for day in (0, 10, 31, 35):
        clock.now = T0 + timedelta(days=day)
        order = await casebook.create(WORKORDERS, CaseCreate(
            title="助餐", elder_id=directory.elder_id, service_type="meals"), agent)
        numbers.append(order.number)
        async with sessions() as db:
            raised = (await db.execute(select(Supervision.case_number))).scalars().all()
        # Day 0, 10: 1 and 2 requests; day 31: 2 within 30 days (10, 31); day 35: 3 (10, 31, 35).
        assert raised == ([] if day < 35 else [numbers[-1]])
    await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id,
                                                 service_type="home_care"), agent)
    assert await _count(sessions, Supervision) == 1


async def test_supervision_for_an_unsatisfied_result_and_urging(
    casebook: Casebook, directory: Directory, agent: Actor, supervisor: Actor,
    sessions: SessionFactory, clock: Clock,
) -> None:
    from workflow.supervision import urge

    complaint = await casebook.create(COMPLAINTS, CaseCreate(
        title="服务人员迟到", elder_id=directory.elder_id, provider_id=directory.p1), agent)
    # 5 working days from Tuesday 8 September: Tuesday 15 September, end of day.
    assert complaint.due_at is not None and complaint.due_at.isoformat() == "2026-09-15T16:00:00+00:00"
    for action, fields in [("investigate", {}), ("propose", {"proposal": "减免一次服务费"}),
                           ("reply", {"reply": "已向老人道歉并减免", "satisfaction": 4})]:
        complaint = await casebook.move(COMPLAINTS, complaint.id, action, complaint.version, fields, agent)
    assert await _count(sessions, Supervision) == 0  # 4 of 5 is satisfied
    consult = await casebook.create(CONSULTS, CaseCreate(title="补贴政策咨询"), agent)
    assert consult.due_at == clock.now + timedelta(hours=48)
    order = await casebook.create(WORKORDERS, CaseCreate(title="助浴", elder_id=directory.elder_id), agent)
    for action, fields in [("review", {"service_type": "home_care"}),
                           ("dispatch", {"provider_id": directory.p1}), ("take", {"staff_name": "刘"}),
                           ("check_in", {"number": order.number}),
                           ("return_slip", {"result": "完成", "satisfaction": 2}),
                           ("return_visit", {"opinion": "水太凉", "satisfaction": 2})]:
        order = await casebook.move(WORKORDERS, order.id, action, order.version, fields, agent)
    async with sessions.begin() as db:
        sup = (await db.execute(select(Supervision))).scalar_one()
        assert (sup.reason, sup.case_number, sup.provider_id) == ("unsatisfied", order.number, directory.p1)
        await urge(db, sup.id, actor=supervisor, channel="phone", note="电话督促服务商整改", at=clock.now)
    order = await casebook.move(WORKORDERS, order.id, "redispatch", order.version,
                                {"provider_id": directory.p1, "reason": "回访不满意，重新派单"}, agent)
    assert order.status == "dispatched"
    view = await casebook.view(WORKORDERS, order.id, supervisor)
    assert view.supervisions[0].urgings == 1 and view.supervisions[0].open
    assert [e.action for e in view.timeline][-3:] == ["supervision", "urge", "redispatch"]


async def test_a_complaint_holds_its_calls_recordings_until_closed(
    casebook: Casebook, directory: Directory, agent: Actor, supervisor: Actor,
    sessions: SessionFactory,
) -> None:
    complaint = await casebook.create(COMPLAINTS, CaseCreate(
        title="投诉接线员态度", elder_id=directory.elder_id, source="media",
        calls=[LinkedCall(call_id="c-1", recording_name="hotline/c-1.wav"),
               LinkedCall(call_id="c-2", recording_name="hotline/c-2.wav")]), agent)
    assert await _complaint_holds(sessions, complaint.number) == {"c-1": None, "c-2": None}
    complaint = await casebook.move(COMPLAINTS, complaint.id, "answer_now", 1, {"reply": "已当场解释"}, agent)
    with pytest.raises(Exception) as refused:  # closing is a supervisor's
        await casebook.move(COMPLAINTS, complaint.id, "close", 2, {"valid": "yes"}, agent)
    assert type(refused.value).__name__ == "RoleNotAllowed"
    complaint = await casebook.move(COMPLAINTS, complaint.id, "close", 2, {"valid": "yes"}, supervisor)
    assert complaint.valid is True
    assert await _complaint_holds(sessions, complaint.number) == {
        "c-1": supervisor.name, "c-2": supervisor.name}  # released by whoever closed it


async def _complaint_holds(sessions: SessionFactory, number: str) -> dict[str | None, str | None]:
    """The recordings feature's complaint holds of a case: call id → who released it."""
    async with sessions() as db:
        rows = (await db.execute(select(RecordingHold).where(
            RecordingHold.kind == "complaint", RecordingHold.case_ref == number))).scalars()
        return {hold.call_id: hold.released_by for hold in rows}


async def test_a_forwarded_complaint_carries_its_own_deadline(
    casebook: Casebook, directory: Directory, agent: Actor, clock: Clock,
) -> None:
    due = clock.now + timedelta(days=2)
    complaint = await casebook.create(COMPLAINTS, CaseCreate(
        title="消协转来的投诉", elder_id=directory.elder_id, source="consumer_association",
        reply_due_at=due), agent)
    assert complaint.due_at == due
    with pytest.raises(InvalidField):
        await casebook.create(COMPLAINTS, CaseCreate(title="x", reply_due_at=clock.now - timedelta(days=1)), agent)
