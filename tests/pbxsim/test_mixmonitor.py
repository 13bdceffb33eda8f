"""The rendered ``[record-call]`` in the simulator: MixMonitor's AMI events in the order and
shape of the real Asterisk 22.10.1 transcript (``ami-queue-answered.txt``: VarSet
``MIXMONITOR_FILENAME``, then ``MixMonitorStart``; no ``MixMonitorStop`` at a hang-up), the
file there from the start and a real WAV of the call's length once the channel hangs up."""

from __future__ import annotations

import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from reference_data import TRACES

from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from pbxsim.wire import AmiClient, event

OUTSIDE = "13811112222"


def _trace_events(name: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    fields: dict[str, str] = {}
    for line in (TRACES / name).read_text().splitlines():
        if not line.startswith("<"):
            continue
        if line[2:]:
            key, _, value = line[2:].partition(": ")
            fields.setdefault(key, value)
        elif fields:
            if "Event" in fields:
                out.append(fields)
            fields = {}
    return out


def _mixmonitor_shape(events: list[dict[str, str]]) -> tuple[list[str], set[str]]:
    """The events from MIXMONITOR_FILENAME's VarSet on, and MixMonitorStart's header names."""
    at = next(i for i, e in enumerate(events)
              if e["Event"] == "VarSet" and e.get("Variable") == "MIXMONITOR_FILENAME")
    start = events[at + 1]
    return [e["Event"] for e in events[at:]], set(start) - {"Privilege"}


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None,
                            recordings_dir=tmp_path / "asterisk") as started:
        started.dialplan.hotline.spool = tmp_path / "spool"
        started.set_person(OUTSIDE, Person(behaviour="answer", ring_seconds=2, hangup_after=5))
        yield started


async def test_record_call_behaves_as_asterisks_mixmonitor(sim: PbxSimulator,
                                                           tmp_path: Path) -> None:
    ami = AmiClient(sim.host, sim.ami_port, "callcenter", "callcenter")
    await ami.connect()
    try:
        # An agent's call out through [dial-out]: recorded, then the number on the trunk.
        agent = sim.dialplan.inbound("7001", OUTSIDE, context="dial-out")
        file = tmp_path / "spool" / f"{agent.linkedid}.wav"
        varset = await ami.wait_for(event("VarSet", Variable="MIXMONITOR_FILENAME"),
                                    advance=lambda: sim.advance(0.25))
        assert varset["Value"] == str(file) and varset["Linkedid"] == agent.linkedid
        assert file.stat().st_size == 44  # opened at once: its header
        await ami.wait_for(event("Hangup", Uniqueid=agent.id),
                           advance=lambda: sim.advance(0.25))
    finally:
        await ami.close()

    events = [m for m in ami.messages if "Event" in m]
    seen, start_fields = _mixmonitor_shape(events)
    traced, traced_fields = _mixmonitor_shape(_trace_events("ami-queue-answered.txt"))
    assert seen[:2] == traced[:2] == ["VarSet", "MixMonitorStart"]
    assert "MixMonitorStop" not in seen and "MixMonitorStop" not in traced
    assert traced_fields <= start_fields
    # The dialplan set its guard: a second [record-call] on the channel starts nothing.
    assert agent.variables["CALLCENTER_RECORDING"] == agent.linkedid
    with wave.open(str(file)) as recorded:  # written out at the hang-up, a real WAV
        assert recorded.getframerate() == 8000 and recorded.getsampwidth() == 2
        assert 6.5 <= recorded.getnframes() / 8000 <= 8.0  # 2 s ringing + 5 s talking
