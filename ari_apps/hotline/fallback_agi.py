#!/usr/bin/env python3
"""The hotline's classic AGI fallback, run by Asterisk itself when FastAGI does not answer.

Asterisk runs it as ``AGI(callcenter-hotline-fallback.py,<snapshot.json>)`` from its
``agi-bin`` directory (``callcenter dialplan render`` writes it beside the configuration).
It speaks AGI on stdin/stdout through pyst2's ``asterisk.agi`` (its classic module is the
part of pyst2 that works on Python 3), reads the routing snapshot the product keeps fresh,
and sets the same channel variables as the FastAGI route. Whatever goes wrong (no
snapshot, a bad file, an unknown caller), the call still gets the default queue: the
hotline never goes silent. Standalone on purpose: only the standard library and pyst2.
"""

import json
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from asterisk.agi import AGI, AGIException

DEFAULT_QUEUE = "hotline"


def normalise(raw):
    """Digits of a caller number, without +86 / 0086."""
    number = "".join(ch for ch in (raw or "") if ch.isdigit() or ch == "+")
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            return number[len(prefix):]
    return number.lstrip("+")


def is_open(hours, zone, now):
    """The same opening-hours rule as the product (routing.is_open)."""
    start, _, end = hours.partition("-")
    if zone:
        now = now.astimezone(ZoneInfo(zone))
    local = now.strftime("%H:%M")
    if end == "24:00":
        return local >= start
    if start <= end:
        return start <= local < end
    return local >= start or local < end


def decide(snapshot, number, now):
    """Channel variables for a caller, from the snapshot (or the defaults without one)."""
    queue = snapshot.get("default_queue") or DEFAULT_QUEUE
    opened = is_open(snapshot.get("hours", "00:00-24:00"), snapshot.get("time_zone", ""), now)
    if not opened and snapshot.get("after_hours_queue"):
        queue = snapshot["after_hours_queue"]
    entry = snapshot.get("numbers", {}).get(number) or {}
    elder_id = entry.get("elder_id")
    return {
        "CALLCENTER_QUEUE": queue,
        "QUEUE_PRIO": str(int(entry.get("priority", 0))),
        "CALLCENTER_CALLER_KIND": entry.get("kind", "unknown"),
        "CALLCENTER_ELDER_ID": "" if elder_id is None else str(elder_id),
        "CALLCENTER_REASON": entry.get("reason", ""),
        "CALLCENTER_OPEN": "1" if opened else "0",
        "CALLCENTER_ROUTED_BY": "fallback",
    }


def load(path):
    """The snapshot, or {} when it is missing or unreadable (the defaults then apply)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def main(argv):
    agi = AGI()
    path = argv[1] if len(argv) > 1 else agi.env.get("agi_arg_1", "")
    snapshot = load(path) if path else {}
    number = normalise(agi.env.get("agi_callerid", ""))
    if number == "unknown":
        number = ""
    variables = decide(snapshot, number, datetime.now(timezone.utc))  # noqa: UP017 - Asterisk's Python may be < 3.11
    if not snapshot:
        agi.verbose(f"callcenter hotline fallback: no usable snapshot at {path}", 1)
    for name, value in variables.items():
        agi.set_variable(name, value)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except AGIException:
        sys.exit(0)  # Asterisk went away: nothing left to route
