"""One pure state machine per case type: which move is legal from which state, for whom.

Nothing here touches the store, the clock or the network. :func:`Machine.check` either
returns the :class:`Move` an actor may make now, or raises a domain error that says why not
(an illegal move, a role that may not make it, an actor outside the case's area, a field the
move needs). The services apply the move (one transaction, optimistic version, audit row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from callcenter.store.models import Role
from workflow.exceptions import IllegalTransition, MissingField, OutsideArea, RoleNotAllowed

AGENT, SUPERVISOR, ADMIN = Role.AGENT.value, Role.SUPERVISOR.value, Role.ADMIN.value
STAFF = frozenset({AGENT, SUPERVISOR})
LEADS = frozenset({SUPERVISOR})


@dataclass(frozen=True)
class Actor:
    """Who makes a move: their name (for the trail), role and area (None: the whole service)."""

    name: str
    role: str
    area_path: str | None

    def covers(self, case_area: str | None) -> bool:
        """The actor's jurisdiction includes the case (a case of no known area: everybody's)."""
        if self.area_path is None or case_area is None:
            return True
        return case_area.startswith(self.area_path)


@dataclass(frozen=True)
class Move:
    """One legal move: from any of ``sources`` to ``target``, by ``roles``, needing ``needs``."""

    action: str
    sources: frozenset[str]
    target: str
    roles: frozenset[str] = STAFF
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Machine:
    """A case type's states and moves; ``waiting`` states pause the deadline."""

    kind: str
    initial: str
    states: tuple[str, ...]
    moves: tuple[Move, ...]
    final: frozenset[str]
    waiting: frozenset[str] = frozenset()
    #: States in which the deadline is met (its timers stop); the final states at least.
    met: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "met", self.met | self.final)

    def move(self, action: str) -> Move:
        for move in self.moves:
            if move.action == action:
                return move
        raise IllegalTransition(f"{self.kind} has no move {action!r}",
                                {"action": action, "known": [m.action for m in self.moves]})

    def available(self, state: str, actor: Actor, case_area: str | None) -> list[Move]:
        """The moves this actor may make now (what the case page offers)."""
        if not actor.covers(case_area):
            return []
        return [m for m in self.moves if state in m.sources and actor.role in m.roles]

    def check(self, state: str, action: str, actor: Actor, case_area: str | None,
              fields: Mapping[str, object]) -> Move:
        """The move, or the reason it may not be made (see the module's docstring)."""
        move = self.move(action)
        if state not in move.sources:
            raise IllegalTransition(
                f"{action!r} is not possible from {state!r}",
                {"action": action, "from": state,
                 "possible": [m.action for m in self.moves if state in m.sources]})
        if actor.role not in move.roles:
            raise RoleNotAllowed(f"a {actor.role} may not {action!r}",
                                 {"action": action, "role": actor.role})
        if not actor.covers(case_area):
            raise OutsideArea("the case is outside the actor's area", {"action": action})
        missing = [name for name in move.needs if _blank(fields.get(name))]
        if missing:
            raise MissingField(f"{action!r} needs {', '.join(missing)}",
                               {"action": action, "missing": missing})
        return move


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _m(action: str, sources: Iterable[str], target: str, roles: frozenset[str] = STAFF,
       needs: tuple[str, ...] = ()) -> Move:
    return Move(action, frozenset(sources), target, roles, needs)


#: Work orders (B §6.1, E A.1): 受理 → 审核 → 派单 → 接单 → 服务 → 回单 → 回访 → 办结.
WORK_ORDER = Machine(
    kind="workorder",
    initial="accepted",
    states=("accepted", "amending", "reviewed", "dispatched", "taken", "in_service",
            "returned", "visited", "closed", "cancelled"),
    moves=(
        _m("review", ["accepted"], "reviewed", needs=("service_type",)),
        _m("reject_review", ["accepted"], "amending", needs=("reason",)),
        _m("amend", ["amending"], "accepted", needs=("description",)),
        _m("dispatch", ["reviewed"], "dispatched", needs=("provider_id",)),
        _m("take", ["dispatched"], "taken", needs=("staff_name",)),
        _m("refuse", ["dispatched", "taken"], "reviewed", needs=("reason",)),
        _m("check_in", ["taken"], "in_service", needs=("number",)),
        _m("return_slip", ["in_service"], "returned", needs=("result", "satisfaction")),
        _m("return_visit", ["returned"], "visited", needs=("opinion", "satisfaction")),
        _m("redispatch", ["returned", "visited"], "dispatched", needs=("provider_id", "reason")),
        _m("close", ["visited"], "closed"),
        _m("cancel", ["accepted", "amending", "reviewed", "dispatched"], "cancelled", LEADS,
           needs=("reason",)),
    ),
    final=frozenset({"closed", "cancelled"}),
    waiting=frozenset({"amending"}),
)

#: Consults (B §6.1.2): answered at once, or within 48 hours.
CONSULT = Machine(
    kind="consult",
    initial="received",
    states=("received", "pending", "awaiting_elder", "answered", "closed"),
    moves=(
        _m("answer", ["received", "pending"], "answered", needs=("answer",)),
        _m("defer", ["received"], "pending", needs=("reason",)),
        _m("ask_elder", ["pending"], "awaiting_elder", needs=("reason",)),
        _m("resume", ["awaiting_elder"], "pending"),
        _m("close", ["answered"], "closed"),
    ),
    final=frozenset({"closed"}),
    waiting=frozenset({"awaiting_elder"}),
    met=frozenset({"answered"}),
)

#: Complaints (B §6.5, E A.6): 受理 → 调查 → 方案 → 协商答复 → 办结.
COMPLAINT = Machine(
    kind="complaint",
    initial="received",
    states=("received", "investigating", "awaiting_complainant", "proposal", "replied",
            "closed"),
    moves=(
        _m("answer_now", ["received"], "replied", needs=("reply",)),
        _m("investigate", ["received"], "investigating"),
        _m("ask_complainant", ["investigating"], "awaiting_complainant", needs=("reason",)),
        _m("resume", ["awaiting_complainant"], "investigating"),
        _m("propose", ["investigating"], "proposal", needs=("proposal",)),
        _m("renegotiate", ["proposal"], "investigating", needs=("reason",)),
        _m("reply", ["proposal"], "replied", needs=("reply", "satisfaction")),
        _m("close", ["replied"], "closed", LEADS, needs=("valid",)),
    ),
    final=frozenset({"closed"}),
    waiting=frozenset({"awaiting_complainant"}),
    met=frozenset({"replied"}),
)

MACHINES: dict[str, Machine] = {m.kind: m for m in (WORK_ORDER, CONSULT, COMPLAINT)}
