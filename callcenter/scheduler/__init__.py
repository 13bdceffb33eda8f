"""Durable timers: a feature registers a kind's handler, then schedules timers by key."""

from callcenter.scheduler.models import ScheduledTimer, TimerState
from callcenter.scheduler.records import Timer, list_timers, register_journal_kinds
from callcenter.scheduler.service import FAILED_TOPIC, InvalidTimer, Scheduler, TimerHandler

__all__ = [
    "FAILED_TOPIC",
    "InvalidTimer",
    "ScheduledTimer",
    "Scheduler",
    "Timer",
    "TimerHandler",
    "TimerState",
    "list_timers",
    "register_journal_kinds",
]
