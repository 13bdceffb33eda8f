"""The SOS dialling plan: every role at once, next contact on failure, 120 retried."""

from __future__ import annotations

from ari_apps.sos.models import LegRole
from ari_apps.sos.plan import (
    Candidate,
    EmergencyUnreachable,
    LegRequest,
    RoleExhausted,
    SosPlan,
)

KIN = [Candidate(LegRole.KIN, f"1380000000{n}", f"kin{n}", contact_id=n) for n in range(1, 4)]
DOCTORS = [Candidate(LegRole.DOCTOR, f"1390000000{n}", f"doc{n}", contact_id=10 + n) for n in (1, 2)]
WORKER = [Candidate(LegRole.SOCIAL_WORKER, "13700000001", "sw", contact_id=20)]


def _plan(contacts: list[Candidate] | None = None, kin_at_once: int = 2) -> SosPlan:
    return SosPlan.build(
        "inc1",
        emergency_number="120",
        contacts=KIN + DOCTORS + WORKER if contacts is None else contacts,
        kin_at_once=kin_at_once,
        emergency_retries=2,
        emergency_retry_delay=5.0,
    )


def _numbers(effects: list[object]) -> list[str]:
    return [e.candidate.number for e in effects if isinstance(e, LegRequest)]


def test_first_round_dials_every_role_at_once() -> None:
    effects = _plan().start()
    assert _numbers(effects) == ["120", "13900000001", "13800000001", "13800000002", "13700000001"]
    assert [e.leg_id for e in effects if isinstance(e, LegRequest)] == [
        "inc1-e0", "inc1-d0", "inc1-k0", "inc1-k1", "inc1-s0",
    ]


def test_busy_kin_moves_to_the_next_kin() -> None:
    plan = _plan()
    plan.start()
    effects = plan.failed("inc1-k0")
    assert _numbers(effects) == ["13800000003"]
    assert effects[0].leg_id == "inc1-k2"


def test_doctor_no_answer_moves_to_next_doctor_then_role_exhausted() -> None:
    plan = _plan()
    plan.start()
    assert _numbers(plan.failed("inc1-d0")) == ["13900000002"]
    assert plan.failed("inc1-d1") == [RoleExhausted(LegRole.DOCTOR)]
    assert plan.roles[LegRole.DOCTOR].exhausted


def test_answered_role_dials_nobody_else() -> None:
    plan = _plan()
    plan.start()
    assert plan.answered("inc1-k0") is LegRole.KIN
    assert plan.failed("inc1-k1") == []


def test_role_without_contacts_is_exhausted_from_the_start() -> None:
    effects = _plan(contacts=KIN).start()
    assert RoleExhausted(LegRole.DOCTOR) in effects
    assert RoleExhausted(LegRole.SOCIAL_WORKER) in effects
    assert _numbers(effects) == ["120", "13800000001", "13800000002"]


def test_emergency_failure_alerts_and_retries_then_gives_up() -> None:
    plan = _plan()
    plan.start()
    first = plan.failed("inc1-e0")
    assert first[0] == EmergencyUnreachable(attempt=1, retrying=True)
    assert isinstance(first[1], LegRequest) and first[1].leg_id == "inc1-e1"
    assert first[1].delay == 5.0
    plan.failed("inc1-e1")
    last = plan.failed("inc1-e2")
    assert last == [EmergencyUnreachable(attempt=3, retrying=False), RoleExhausted(LegRole.EMERGENCY)]


def test_unknown_leg_changes_nothing() -> None:
    plan = _plan()
    plan.start()
    assert plan.failed("other-k0") == []
    assert plan.answered("other-k0") is None


def test_restore_resumes_after_the_last_attempt() -> None:
    plan = _plan()
    plan.restore(
        LegRole.KIN, attempts=2, live={"inc1-k1": KIN[1]}, satisfied=False, exhausted=False
    )
    assert _numbers(plan.failed("inc1-k1")) == ["13800000003"]


def test_emergency_is_dialled_before_identification_then_the_other_roles() -> None:
    plan = SosPlan.build("inc1", emergency_number="120")
    assert _numbers(plan.start()) == ["120"]
    effects = plan.add_contacts(KIN + DOCTORS + WORKER)
    assert _numbers(effects) == ["13900000001", "13800000001", "13800000002", "13700000001"]
    assert plan.add_contacts(KIN) == []


def test_unidentified_caller_has_every_contact_role_exhausted() -> None:
    plan = SosPlan.build("inc1", emergency_number="120")
    plan.start()
    assert plan.add_contacts([]) == [
        RoleExhausted(LegRole.DOCTOR),
        RoleExhausted(LegRole.KIN),
        RoleExhausted(LegRole.SOCIAL_WORKER),
    ]
