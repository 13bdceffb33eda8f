"""Who is calling, which queue, which priority: the hotline's routing decision.

An elder with an open SOS incident, an elder flagged high-risk, and anybody calling again
within the repeat window go first (higher ``QUEUE_PRIO``). The caller is identified by the
directory's phone numbers: an elder's own phone, a contact (kin, doctor, social worker) of
an elder, a service provider or its staff, else unknown. Outside the opening hours calls
go to the after-hours queue. The decision travels as channel variables (``variables``);
the same rules, minus the repeat window, are written to the routing snapshot the classic
AGI fallback reads (``snapshot.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.hotline.models import HighRiskFlag
from ari_apps.sos.directory import normalise_number
from ari_apps.sos.models import Incident, IncidentStatus
from callcenter.calls.models import Call, CallKind
from callcenter.settings import Settings
from callcenter.store.models import Contact, Elder, ElderPhone, Provider, ProviderStaff

#: QUEUE_PRIO per reason (app_queue serves higher first; equal priorities in join order).
#: "care": an elder who pressed 2 on a care call to talk to someone (the care feature sets
#: ``CALLCENTER_PRIORITY=high`` on the channel before it continues in ``[hotline-entry]``).
PRIORITIES = {"sos": 10, "high_risk": 8, "care": 8, "repeat": 5, "": 0}
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

    def variables(self) -> dict[str, str]:
        """The channel variables the ``[hotline-entry]`` dialplan reads."""
        return {
            "CALLCENTER_QUEUE": self.queue,
            "QUEUE_PRIO": str(self.priority),
            "CALLCENTER_CALLER_KIND": self.caller_kind,
            "CALLCENTER_ELDER_ID": "" if self.elder_id is None else str(self.elder_id),
            "CALLCENTER_REASON": self.reason,
            "CALLCENTER_OPEN": "1" if self.open else "0",
            "CALLCENTER_ROUTED_BY": self.routed_by,
        }


def parse_hours(hours: str) -> tuple[time, time | None]:
    """``"08:00-20:00"`` → (08:00, 20:00); an end of 24:00 is None (until midnight)."""
    start, _, end = hours.partition("-")
    begin = time(int(start[:2]) % 24, int(start[3:]))
    finish = None if end == "24:00" else time(int(end[:2]), int(end[3:]))
    return begin, finish


def is_open(now: datetime, hours: str, zone: str) -> bool:
    """Whether ``now`` (aware) falls within the opening hours, read in the centre's zone."""
    begin, finish = parse_hours(hours)
    local = now.astimezone(ZoneInfo(zone)).time()
    if finish is None:
        return local >= begin
    if begin <= finish:
        return begin <= local < finish
    return local >= begin or local < finish  # hours across midnight, e.g. 20:00-08:00


@dataclass(frozen=True, slots=True)
class Caller:
    """Who a number belongs to."""

    kind: str
    elder_id: int | None


async def identify(db: AsyncSession, number: str) -> Caller:
    """Elder's own phone first, then a contact of an elder, then a provider; else unknown."""
    if not number:
        return Caller("unknown", None)
    elder = (await db.execute(
        select(ElderPhone.elder_id).join(Elder, Elder.id == ElderPhone.elder_id)
        .where(ElderPhone.number == number).order_by(ElderPhone.elder_id).limit(1)
    )).scalar_one_or_none()
    if elder is not None:
        return Caller("elder", elder)
    kin = (await db.execute(
        select(Contact.elder_id).where(Contact.phone == number)
        .order_by(Contact.priority, Contact.elder_id).limit(1)
    )).scalar_one_or_none()
    if kin is not None:
        return Caller("kin", kin)
    provider = (await db.execute(select(Provider.id).where(Provider.phone == number).limit(1)
                                 )).scalar_one_or_none()
    staff = provider or (await db.execute(
        select(ProviderStaff.id).where(ProviderStaff.phone == number).limit(1)
    )).scalar_one_or_none()
    if staff is not None:
        return Caller("provider", None)
    return Caller("unknown", None)


async def first_reason(db: AsyncSession, caller: Caller, number: str, now: datetime,
                       repeat_window: int) -> str:
    """Why this call goes first: an open SOS, a high-risk elder, a repeat call; or ""."""
    if caller.kind == "elder" and caller.elder_id is not None:
        sos = (await db.execute(
            select(Incident.id).where(Incident.elder_id == caller.elder_id,
                                      Incident.status == IncidentStatus.ACTIVE.value).limit(1)
        )).scalar_one_or_none()
        if sos is not None:
            return "sos"
        flagged = await db.get(HighRiskFlag, caller.elder_id)
        if flagged is not None:
            return "high_risk"
    if number and repeat_window > 0:
        since = now - timedelta(seconds=repeat_window)
        again = (await db.execute(
            select(Call.id).where(Call.caller_number == number, Call.started_at >= since,
                                  Call.kind == CallKind.HOTLINE.value).limit(1)
        )).scalar_one_or_none()
        if again is not None:
            return "repeat"
    return ""


async def decide(db: AsyncSession, settings: Settings, raw_number: str,
                 now: datetime) -> RoutingDecision:
    """The routing decision for a call from ``raw_number`` arriving at ``now``."""
    number = normalise_number(raw_number)
    caller = await identify(db, number)
    reason = await first_reason(db, caller, number, now, settings.hotline_repeat_window_seconds)
    opened = is_open(now, settings.hotline_hours, settings.time_zone)
    queue = settings.hotline_default_queue
    if not opened and settings.hotline_after_hours_queue:
        queue = settings.hotline_after_hours_queue
    return RoutingDecision(queue=queue, priority=PRIORITIES[reason], caller_kind=caller.kind,
                           elder_id=caller.elder_id, reason=reason, open=opened)


def raised_for_care(decision: RoutingDecision) -> RoutingDecision:
    """A care call's elder asked to talk: at least the high-risk priority, with its reason."""
    if decision.priority >= PRIORITIES["care"]:
        return decision
    return replace(decision, priority=PRIORITIES["care"], reason="care")


def default_decision(settings: Settings, now: datetime) -> RoutingDecision:
    """What a call gets when the store cannot be asked: the default queue, no priority."""
    opened = is_open(now, settings.hotline_hours, settings.time_zone)
    queue = settings.hotline_default_queue
    if not opened and settings.hotline_after_hours_queue:
        queue = settings.hotline_after_hours_queue
    return RoutingDecision(queue, 0, "unknown", None, "", opened, routed_by="default")
