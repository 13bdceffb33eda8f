"""An agent's state follows Asterisk for queue calls the product does not follow (routed
while it was down, or ended while nobody listened): the real Asterisk 22.10.1 events of
``ami-queue-answered.txt`` replayed through the agents and the call tracker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reference_data import TRACES

from ari_apps.hotline.agents import Agents, AgentState
from ari_apps.hotline.calls import CallTracker, LiveCall
from callcenter.asterisk import AmiClient, AmiEvent
from callcenter.bus import MemoryBus
from callcenter.settings import load_settings
from tests.conftest import TEST_SECRET

MEMBER = "Local/agent1@agents-sim/n"  # the traced member ("Agent 1")
START = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def traced(name: str, **match: str) -> AmiEvent:
    """The first event ``name`` of the answered-call transcript with these header values."""
    fields: dict[str, str] = {}
    for line in (TRACES / "ami-queue-answered.txt").read_text().splitlines():
        if not line.startswith("<"):
            continue
        if line[2:]:
            key, _, value = line[2:].partition(": ")
            fields.setdefault(key, value)
            continue
        if fields.get("Event") == name and all(fields.get(k) == v for k, v in match.items()):
            return AmiEvent(name, "default", fields)
        fields = {}
    raise LookupError(f"{name} {match} is not in the transcript")


class Clock:
    """The product's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def no_ami() -> AmiClient:
    raise AssertionError("these events need no AMI action")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def agents(tmp_path: Path, clock: Clock) -> Agents:
    settings = load_settings(data_dir=tmp_path, secret_key=TEST_SECRET,
                             database_url="sqlite+aiosqlite:///unused.db",
                             hotline_queues={"hotline": 5})
    store: Any = None  # no store, no AMI: these events are handled in memory
    return Agents(no_ami, store, store, settings, MemoryBus(), clock)


@pytest.fixture
def tracker(agents: Agents, clock: Clock) -> CallTracker:
    store: Any = None
    return CallTracker(store, agents, agents.bus, agents.settings, store, clock, no_ami)


def agent_1(agents: Agents, *, in_call: bool) -> AgentState:
    """Agent 1 in the queue; ``in_call`` as the read-back after a restart leaves it when
    QueueStatus said ``InCall: 1``."""
    state = agents._member("Agent 1", MEMBER)
    state.queues.add("hotline")
    state.in_call = in_call
    return state


async def heard(agents: Agents, tracker: CallTracker, event: AmiEvent) -> None:
    """An event to its handlers, as ``HotlineService.attach`` registers them."""
    if event.name.startswith("QueueMember"):
        await agents.on_member_event(event)
    await tracker.on_event(event)


@pytest.mark.parametrize("ending", [
    traced("AgentComplete"),
    # The AgentComplete was missed (said while nobody listened): Asterisk's member status
    # after the call (Status 1 "Not in use", CallsTaken 1, InCall 0) is enough.
    traced("QueueMemberStatus", Status="1", InCall="0", CallsTaken="1"),
], ids=["agent-complete", "member-not-in-use"])
async def test_the_end_of_a_call_nobody_follows_frees_the_agent_into_wrapup(
        agents: Agents, tracker: CallTracker, clock: Clock, ending: AmiEvent) -> None:
    state = agent_1(agents, in_call=True)
    assert tracker.live == {}
    await heard(agents, tracker, ending)
    assert state.state(clock.now) == "wrapup"
    clock.now += timedelta(seconds=5)
    assert state.state(clock.now) == "idle"


async def test_agent_connect_of_a_call_nobody_follows_shows_the_agent_in_call(
        agents: Agents, tracker: CallTracker, clock: Clock) -> None:
    state = agent_1(agents, in_call=False)
    await heard(agents, tracker, traced("AgentConnect"))
    assert state.state(clock.now) == "in_call"


async def test_a_member_status_in_use_during_a_followed_call_keeps_the_agent_in_call(
        agents: Agents, tracker: CallTracker, clock: Clock) -> None:
    state = agent_1(agents, in_call=True)
    # Status 2 with InCall 0: said as the call starts, before app_queue marks it.
    await heard(agents, tracker, traced("QueueMemberStatus", Status="2", InCall="0"))
    assert state.state(clock.now) == "in_call"


async def test_the_end_of_an_untracked_call_leaves_an_agent_in_a_followed_call_alone(
        agents: Agents, tracker: CallTracker, clock: Clock) -> None:
    # Agent 1 already talks in a call the product follows: a stray AgentComplete of
    # another (an old leg, a transfer's part) does not end that.
    state = agent_1(agents, in_call=True)
    followed = LiveCall(id="other", uniqueid="other.1", number="", queue="hotline",
                        agent="Agent 1", state="talking")
    tracker.live[followed.uniqueid] = followed
    await heard(agents, tracker, traced("AgentComplete"))
    assert state.state(clock.now) == "in_call"
