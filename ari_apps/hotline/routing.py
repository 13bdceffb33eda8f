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

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ari_apps.hotline.models import HighRiskFlag
from ari_apps.hotline.rules import PRIORITIES, channel_variables, is_open
from ari_apps.hotline.rules import raised_for_care as rules_raised_for_care
from ari_apps.sos.directory import normalise_number
from ari_apps.sos.models import Incident, IncidentStatus
from callcenter.calls.models import Call, CallKind
from callcenter.settings import Settings
from callcenter.store.models import Contact, Elder, ElderPhone, Provider, ProviderStaff


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
        return channel_variables(self.queue, self.priority, self.caller_kind, self.elder_id,
                                 self.reason, self.open, self.routed_by)


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
