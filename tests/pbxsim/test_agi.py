"""The simulator's FastAGI side against the recorded Asterisk 22 AMI events of an AGI."""

from __future__ import annotations

from callcenter.asterisk import AgiSession, FastAgiServer
from callcenter.pbxsim.server import PbxSimulator
from pbxsim.wire import AmiClient, event, trace_messages

COMMAND = "SET VARIABLE QUEUE_PRIORITY 5"


def recorded_around(command: str) -> list[str]:
    """The AMI events agi-fastagi.txt shows from the command's AGIExecStart to its end."""
    names: list[str] = []
    for message in trace_messages("agi-fastagi.txt"):
        if "Event" in message and (names or message.get("Command") == command):
            names.append(message["Event"])
            if message["Event"] == "AGIExecEnd":
                return names
    raise AssertionError(f"{command!r} is not in the trace")


async def test_a_set_variable_sends_varset_between_the_commands_agiexec_events() -> None:
    async def route(session: AgiSession) -> None:
        await session.set_variable("QUEUE_PRIORITY", "5")

    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as sim:
        ami = AmiClient(sim.host, sim.ami_port, "callcenter", "callcenter")
        await ami.connect()
        server = FastAgiServer("127.0.0.1:0")
        server.add_route("route", route)
        await server.start()
        try:
            ch = sim.model.new_channel("Local/agi@agi-test-0000005c;2", "Local", state="Up",
                                       context="agi-test", exten="agi")
            assert await sim.dialplan.agi.run(ch, f"agi://127.0.0.1:{server.port}/route") == "SUCCESS"
            start = await ami.wait_for(event("AGIExecStart", Command='SET VARIABLE QUEUE_PRIORITY "5"'))
            await ami.wait_for(event("AGIExecEnd", CommandId=start["CommandId"]))
        finally:
            await server.close()
            await ami.close()
    first = ami.messages.index(start)
    names = [m["Event"] for m in ami.messages[first:] if m.get("Uniqueid") == ch.id]
    assert names[:3] == recorded_around(COMMAND) == ["AGIExecStart", "VarSet", "AGIExecEnd"]
    varset = ami.messages[first + 1]
    assert (varset["Variable"], varset["Value"]) == ("QUEUE_PRIORITY", "5")
