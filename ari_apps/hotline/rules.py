"""The hotline's routing rules that need no database, in one place for both routes.

The product's FastAGI route (routing.py, agi.py) and the classic AGI fallback that
Asterisk runs itself (fallback_agi.py) decide alike from this module: the priorities per
reason, the raise for a care call's elder who pressed 2, the opening hours, and the
channel variables the ``[hotline-entry]`` dialplan reads. ``callcenter dialplan render``
writes it beside the fallback script as ``callcenter_hotline_rules.py``, so it is
standalone on purpose: the standard library only, and Python ≥ 3.9 (Asterisk's python3).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

#: QUEUE_PRIO per reason (app_queue serves higher first; equal priorities in join order).
#: "care": an elder who pressed 2 on a care call to talk to someone.
PRIORITIES = {"sos": 10, "high_risk": 8, "care": 8, "repeat": 5, "": 0}
#: What the care feature leaves on the channel before it continues in ``[hotline-entry]``:
#: ``CALLCENTER_PRIORITY=high``, the care call's id, and why (for the agent's pop).
CARE_PRIORITY_VARIABLE = "CALLCENTER_PRIORITY"
CARE_CALL_VARIABLE = "CALLCENTER_CARE_CALL"
REASON_VARIABLE = "CALLCENTER_REASON"


def is_open(now: datetime, hours: str, zone: str) -> bool:
    """Whether ``now`` (aware) falls within ``"HH:MM-HH:MM"`` read in ``zone`` (its own
    zone when empty); an end of 24:00 is midnight, hours may cross midnight."""
    start, _, end = hours.partition("-")
    local = (now.astimezone(ZoneInfo(zone)) if zone else now).strftime("%H:%M")
    if end == "24:00":
        return local >= start
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # e.g. 20:00-08:00


def raised_for_care(priority: int, reason: str, asked: str | None) -> tuple[int, str]:
    """(priority, reason) once the channel's ``CALLCENTER_PRIORITY`` is read: ``high`` (a
    care call's elder asked to talk) means at least the care priority, with its reason."""
    if (asked or "").strip().lower() != "high" or priority >= PRIORITIES["care"]:
        return priority, reason
    return PRIORITIES["care"], "care"


def channel_variables(queue: str, priority: int, caller_kind: str, elder_id: int | None,
                      reason: str, opened: bool, routed_by: str) -> dict[str, str]:
    """The channel variables the ``[hotline-entry]`` dialplan (and the call record) reads."""
    return {
        "CALLCENTER_QUEUE": queue,
        "QUEUE_PRIO": str(priority),
        "CALLCENTER_CALLER_KIND": caller_kind,
        "CALLCENTER_ELDER_ID": "" if elder_id is None else str(elder_id),
        REASON_VARIABLE: reason,
        "CALLCENTER_OPEN": "1" if opened else "0",
        "CALLCENTER_ROUTED_BY": routed_by,
    }
