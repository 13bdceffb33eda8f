#!/usr/bin/env python3
"""The hotline's classic AGI fallback, run by Asterisk itself when FastAGI does not answer.

Asterisk runs it as ``AGI(callcenter-hotline-fallback.py,<snapshot.json>)`` from its
``agi-bin`` directory (``callcenter dialplan render`` writes it beside the configuration).
It speaks AGI on stdin/stdout through pyst2's ``asterisk.agi`` (its classic module is the
part of pyst2 that works on Python 3), reads the routing snapshot the product keeps fresh,
and sets the same channel variables as the FastAGI route, deciding with the same rules
module (rules.py, written beside this script as ``callcenter_hotline_rules.py``): a care
call's elder who pressed 2 (``CALLCENTER_PRIORITY=high``) goes first here too. Whatever
goes wrong (no snapshot, a bad file, an unknown caller), the call still gets the default
queue: the hotline never goes silent. Only the standard library, pyst2 and the rules.
"""

import json
import sys
from datetime import datetime, timezone

from asterisk.agi import AGI, AGIException

try:  # beside this script in agi-bin, as `callcenter dialplan render` writes it
    import callcenter_hotline_rules as rules
except ImportError:  # run from the source tree
    from ari_apps.hotline import rules

DEFAULT_QUEUE = "hotline"


def normalise(raw):
    """Digits of a caller number, without +86 / 0086."""
    number = "".join(ch for ch in (raw or "") if ch.isdigit() or ch == "+")
    for prefix in ("+86", "0086"):
        if number.startswith(prefix):
            return number[len(prefix):]
    return number.lstrip("+")


def decide(snapshot, number, now, asked_priority=""):
    """Channel variables for a caller, from the snapshot (or the defaults without one);
    ``asked_priority`` is the channel's CALLCENTER_PRIORITY (a care call's "high")."""
    queue = snapshot.get("default_queue") or DEFAULT_QUEUE
    opened = rules.is_open(now, snapshot.get("hours", "00:00-24:00"),
                           snapshot.get("time_zone", ""))
    if not opened and snapshot.get("after_hours_queue"):
        queue = snapshot["after_hours_queue"]
    entry = snapshot.get("numbers", {}).get(number) or {}
    priority, reason = rules.raised_for_care(int(entry.get("priority", 0)),
                                             entry.get("reason", ""), asked_priority)
    return rules.channel_variables(queue, priority, entry.get("kind", "unknown"),
                                   entry.get("elder_id"), reason, opened, "fallback")


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
    asked = agi.get_variable(rules.CARE_PRIORITY_VARIABLE)
    variables = decide(snapshot, number, datetime.now(timezone.utc), asked)  # noqa: UP017 - Asterisk's Python may be < 3.11
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
