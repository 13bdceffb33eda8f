"""Who is calling, which queue, which priority: the hotline's routing decision.

An elder with an open SOS incident, an elder flagged high-risk, and anybody calling again
within the repeat window go first (higher ``QUEUE_PRIO``). The caller is identified by the
directory's phone numbers: an elder's own phone, a contact (kin, doctor, social worker) of
an elder, a service provider or its staff, else unknown. Outside the opening hours calls
go to the after-hours queue. The decision travels as channel variables (``variables``);
the same rules, minus the repeat window, are written to the routing snapshot the classic
AGI fallback reads (``snapshot.py``). What needs no database (priorities, the care call's
raise, opening hours, the variables) is rules.py, which the fallback runs too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, bindparam, exists, or_, select

from ari_apps.hotline.models import Callback, CallbackStatus, HighRiskFlag
from ari_apps.hotline.rules import PRIORITIES, channel_variables, is_open
from ari_apps.hotline.rules import raised_for_care as rules_raised_for_care
from ari_apps.sos.directory import normalise_number
from ari_apps.sos.models import Incident, IncidentStatus
from callcenter.calls.models import Call, CallKind
from callcenter.settings import Settings
from callcenter.store.direct import Reader
from callcenter.store.engine import Prebuilt
from callcenter.store.models import Contact, Elder, ElderPhone, Provider, ProviderStaff

_NEVER = datetime.max.replace(tzinfo=UTC)  # no repeat window: no call is that recent
#: Seconds the store has to say who calls before the call is routed by default.
LOOKUP_SECONDS = 1.5


@dataclass(frozen=True, slots=True)
class RoutingDecision:
    """Where a call goes and why."""

    queue: str
    priority: int
    caller_kind: str  # elder | kin | provider | unknown
    elder_id: int | None
    reason: str  # sos | high_risk | repeat | "" (why it goes first)
    open: bool  # within opening hours
    routed_by: str = "fastagi"
    #: Whether the caller's number may have callbacks waiting (which their call clears):
    #: False only when the route's read found none.
    callback_pending: bool = True

    def variables(self) -> dict[str, str]:
        """The channel variables the ``[hotline-entry]`` dialplan reads."""
        return channel_variables(self.queue, self.priority, self.caller_kind, self.elder_id,
                                 self.reason, self.open, self.routed_by)


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a number belongs to."""

    kind: str
    elder_id: int | None


_NUMBER: BindParameter[str] = bindparam("number")
_ELDER = (select(ElderPhone.elder_id).join(Elder, Elder.id == ElderPhone.elder_id)
          .where(ElderPhone.number == _NUMBER).order_by(ElderPhone.elder_id).limit(1)
          .scalar_subquery())
#: Who calls and why they may go first, in one read (the route is on the caller's time):
#: the elder whose own phone it is, else the elder whose contact it is, else a provider or
#: its staff; an open SOS or a high-risk flag of that elder (not of a contact's elder); and
#: a hotline call from the number since ``since`` (the repeat window); and whether the
#: number has callbacks waiting (most have none: the route then asks no more).
_ROUTE = Prebuilt(select(
    _ELDER.label("elder"),
    select(Contact.elder_id).where(Contact.phone == _NUMBER)
    .order_by(Contact.priority, Contact.elder_id).limit(1).scalar_subquery().label("kin"),
    or_(exists().where(Provider.phone == _NUMBER),
        exists().where(ProviderStaff.phone == _NUMBER)).label("provider"),
    exists().where(Incident.elder_id == _ELDER,
                   Incident.status == IncidentStatus.ACTIVE.value).label("sos"),
    exists().where(HighRiskFlag.elder_id == _ELDER).label("high_risk"),
    # By the reversed number and time (ix_calls_caller_tail): by caller_number, each route
    # read every row of three years of calls.
    exists().where(Call.caller_tail == bindparam("tail"), Call.started_at >= bindparam("since"),
                   Call.kind == CallKind.HOTLINE.value,
                   Call.id != bindparam("this_call")).label("repeat"),
    exists().where(Callback.number == _NUMBER,
                   Callback.status == CallbackStatus.PENDING.value).label("callback"),
))


async def identify(reader: Reader, number: str, now: datetime,
                   repeat_window: int, this_call: str = "") -> tuple[Caller, str]:
    """Who calls from ``number`` (elder's own phone first, then a contact of an elder, then
    a provider; else unknown), and why the call goes first: an open SOS, a high-risk elder,
    a repeat call (another than ``this_call``, whose row may exist from its arrival); or
    ""."""
    return _who_and_why(await _read_route(reader, number, now, repeat_window, this_call))


async def _read_route(reader: Reader, number: str, now: datetime, repeat_window: int,
                      this_call: str) -> Mapping[str, Any] | None:
    if not number:
        return None
    since = now - timedelta(seconds=repeat_window) if repeat_window > 0 else _NEVER
    return (await reader.fetch(_ROUTE, {"number": number, "tail": number[::-1],
                                        "since": since, "this_call": this_call}))[0]


async def warm_route(reader: Reader) -> None:
    """The route's read once, for a number nobody has: compiled, and prepared on
    ``reader``'s connection, before the first caller's route needs it."""
    await _read_route(reader, "0", datetime.now(UTC), 0, "")


def _who_and_why(found: Mapping[str, Any] | None) -> tuple[Caller, str]:
    if found is None:
        return Caller("unknown", None), ""
    if found["elder"] is not None:
        caller = Caller("elder", int(found["elder"]))
        if found["sos"]:
            return caller, "sos"
        if found["high_risk"]:
            return caller, "high_risk"
    elif found["kin"] is not None:
        caller = Caller("kin", int(found["kin"]))
    elif found["provider"]:
        caller = Caller("provider", None)
    else:
        caller = Caller("unknown", None)
    return caller, "repeat" if found["repeat"] else ""


async def decide(reader: Reader, settings: Settings, raw_number: str,
                 now: datetime, this_call: str = "") -> RoutingDecision:
    """The routing decision for a call from ``raw_number`` arriving at ``now`` (recorded
    already as ``this_call`` when it was heard of on arrival)."""
    number = normalise_number(raw_number)
    found = await _read_route(reader, number, now, settings.hotline_repeat_window_seconds,
                              this_call)
    caller, reason = _who_and_why(found)
    opened = is_open(now, settings.hotline_hours, settings.time_zone)
    queue = settings.hotline_default_queue
    if not opened and settings.hotline_after_hours_queue:
        queue = settings.hotline_after_hours_queue
    return RoutingDecision(queue=queue, priority=PRIORITIES[reason], caller_kind=caller.kind,
                           elder_id=caller.elder_id, reason=reason, open=opened,
                           callback_pending=found is None or bool(found["callback"]))


def raised_for_care(decision: RoutingDecision, asked: str | None) -> RoutingDecision:
    """The decision once the channel's ``CALLCENTER_PRIORITY`` is read (rules.py)."""
    priority, reason = rules_raised_for_care(decision.priority, decision.reason, asked)
    return replace(decision, priority=priority, reason=reason)


def default_decision(settings: Settings, now: datetime) -> RoutingDecision:
    """What a call gets when the store cannot be asked: the default queue, no priority."""
    opened = is_open(now, settings.hotline_hours, settings.time_zone)
    queue = settings.hotline_default_queue
    if not opened and settings.hotline_after_hours_queue:
        queue = settings.hotline_after_hours_queue
    return RoutingDecision(queue, 0, "unknown", None, "", opened, routed_by="default")
