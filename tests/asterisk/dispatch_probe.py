"""What a test can see of an OrderedDispatcher from outside: its live consumer tasks."""

from __future__ import annotations

import asyncio


def live_consumer_keys(dispatcher_name: str) -> list[str]:
    """Keys whose consumer task is still running (the dispatcher names them ``<name>:<key>``)."""
    prefix = f"{dispatcher_name}:"
    names = [task.get_name() for task in asyncio.all_tasks() if not task.done()]
    return sorted(name.removeprefix(prefix) for name in names
                  if name.startswith(prefix) and name != f"{prefix}watchdog")
