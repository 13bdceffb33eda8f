"""The SOS command ``callcenter demo`` prints really presses SOS on the simulator."""

from __future__ import annotations

import shlex

import aiohttp

from callcenter.demo import SOS_NUMBER, demo_instructions
from callcenter.pbxsim.server import PbxSimulator
from pbxsim.wire import AriClient, of_type

PHONE = "13800138000"


async def test_the_printed_curl_command_starts_an_sos_call_in_the_app(
    sim: PbxSimulator, ari: AriClient
) -> None:
    lines = demo_instructions(sim.control_url, PHONE, ari.app)
    (command,) = [line for line in lines if line.strip().startswith("curl ")]
    argv = shlex.split(command)
    url, body = argv[argv.index("-X") + 2], argv[argv.index("-d") + 1]
    name, value = argv[argv.index("-H") + 1].split(": ", 1)
    async with aiohttp.ClientSession() as http, http.post(
        url, data=body, headers={name: value}
    ) as response:
        assert response.status == 201, await response.text()
    start = await ari.wait_for(of_type("StasisStart"), advance=lambda: sim.advance(0.1))
    assert start["args"] == ["sos"]
    assert (start["channel"]["caller"]["number"], start["channel"]["dialplan"]["exten"]) == (
        PHONE, SOS_NUMBER)
