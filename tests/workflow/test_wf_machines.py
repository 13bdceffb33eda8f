"""Every legal and every illegal move of each case type's machine (pure: no store)."""

from __future__ import annotations

import pytest

from workflow.exceptions import IllegalTransition, MissingField, OutsideArea, RoleNotAllowed
from workflow.machines import COMPLAINT, CONSULT, MACHINES, WORK_ORDER, Actor, Machine, Move

AREA = "/1/2/3/"
AGENT = Actor("agent", "agent", "/1/2/")
SUPERVISOR = Actor("super", "supervisor", "/1/")
AUDITOR = Actor("auditor", "auditor", None)
STRANGER = Actor("other", "supervisor", "/9/")


def _full(move: Move) -> dict[str, object]:
    return {name: "有内容" for name in move.needs}


def _actor_for(move: Move) -> Actor:
    return AGENT if "agent" in move.roles else SUPERVISOR


LEGAL = [(m.kind, move.action, state) for m in MACHINES.values() for move in m.moves
         for state in sorted(move.sources)]
ILLEGAL = [(m.kind, move.action, state) for m in MACHINES.values() for move in m.moves
           for state in m.states if state not in move.sources]


@pytest.mark.parametrize(("kind", "action", "state"), LEGAL)
def test_every_legal_move_goes_where_it_says(kind: str, action: str, state: str) -> None:
    machine = MACHINES[kind]
    move = machine.move(action)
    assert machine.check(state, action, _actor_for(move), AREA, _full(move)).target == move.target
    assert move.target in machine.states


@pytest.mark.parametrize(("kind", "action", "state"), ILLEGAL)
def test_every_illegal_move_is_refused_with_a_clear_error(kind: str, action: str, state: str) -> None:
    machine = MACHINES[kind]
    move = machine.move(action)
    with pytest.raises(IllegalTransition) as raised:
        machine.check(state, action, _actor_for(move), AREA, _full(move))
    assert raised.value.details["from"] == state
    assert action in str(raised.value)


@pytest.mark.parametrize(("kind", "action", "state"), LEGAL)
def test_a_role_not_allowed_and_an_actor_outside_the_area_are_refused(
    kind: str, action: str, state: str,
) -> None:
    machine = MACHINES[kind]
    move = machine.move(action)
    with pytest.raises(RoleNotAllowed):
        machine.check(state, action, AUDITOR, AREA, _full(move))
    with pytest.raises(OutsideArea):
        machine.check(state, action, STRANGER, AREA, _full(move))
    assert machine.available(state, STRANGER, AREA) == []


@pytest.mark.parametrize(("kind", "action"),
                         [(m.kind, mv.action) for m in MACHINES.values() for mv in m.moves if mv.needs])
def test_a_move_without_the_fields_it_needs_is_refused(kind: str, action: str) -> None:
    machine = MACHINES[kind]
    move = machine.move(action)
    state = sorted(move.sources)[0]
    with pytest.raises(MissingField) as raised:
        machine.check(state, action, _actor_for(move), AREA, {n: "  " for n in move.needs})
    assert raised.value.details["missing"] == list(move.needs)


def test_an_unknown_move_is_refused() -> None:
    with pytest.raises(IllegalTransition):
        WORK_ORDER.check("accepted", "teleport", AGENT, AREA, {})


@pytest.mark.parametrize("machine", [WORK_ORDER, CONSULT, COMPLAINT])
def test_every_state_is_reachable_and_final_states_have_no_way_out(machine: Machine) -> None:
    reached, frontier = {machine.initial}, [machine.initial]
    while frontier:
        state = frontier.pop()
        for move in machine.moves:
            if state in move.sources and move.target not in reached:
                reached.add(move.target)
                frontier.append(move.target)
    assert reached == set(machine.states)
    assert not [m for m in machine.moves if m.sources & machine.final]
    assert machine.waiting <= set(machine.states) - machine.final


def test_the_actions_offered_are_those_the_user_may_take_now() -> None:
    agent_moves = [m.action for m in WORK_ORDER.available("accepted", AGENT, AREA)]
    assert agent_moves == ["review", "reject_review"]  # cancelling is a supervisor's
    lead_moves = [m.action for m in WORK_ORDER.available("accepted", SUPERVISOR, AREA)]
    assert lead_moves == ["review", "reject_review", "cancel"]
    assert [m.action for m in COMPLAINT.available("replied", AGENT, AREA)] == []
    assert [m.action for m in COMPLAINT.available("replied", SUPERVISOR, AREA)] == ["close"]


def test_a_case_of_no_known_area_is_everybodys() -> None:
    assert STRANGER.covers(None)
    assert Actor("admin-ish", "supervisor", None).covers(AREA)


def test_the_deadline_is_met_on_answering_a_consult_and_replying_to_a_complaint() -> None:
    assert CONSULT.met == {"answered", "closed"}
    assert COMPLAINT.met == {"replied", "closed"}
    assert WORK_ORDER.met == WORK_ORDER.final
