"""FastAGI server: the recorded Asterisk 22 exchange, routing, errors, vanishing clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from reference_data import TRACES
from structlog.testing import capture_logs

from callcenter.asterisk import AgiSession, FastAgiServer

WAIT = 5.0
TRACE = TRACES / "agi-fastagi.txt"


def recorded_env() -> bytes:
    """Part 1's environment block exactly as Asterisk sent it (LF line ends)."""
    lines = []
    for line in TRACE.read_text().splitlines():
        if line.startswith("# === PART 2"):
            break
        if line.startswith("< agi_") or line == "< ":
            lines.append(line[2:])
            if line == "< ":
                break
    return ("\n".join(lines) + "\n").encode()


async def fake_asterisk(port: int, env: bytes, replies: list[bytes]) -> list[str]:
    """Connect like Asterisk's res_agi: send env, answer each command, return the commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(env)
    commands = []
    try:
        for reply in replies:
            line = await reader.readline()
            if not line:
                break
            commands.append(line.decode().strip())
            writer.write(reply)
        rest = await reader.read()  # the server closes when done
        commands.extend(c for c in rest.decode().splitlines() if c)
    finally:
        writer.close()
    return commands


@pytest.fixture
async def agi() -> AsyncIterator[FastAgiServer]:
    server = FastAgiServer("127.0.0.1:0", request_timeout=1.0, command_timeout=1.0)
    yield server
    await server.close()


async def test_recorded_request_routes_on_path_and_parses_query(agi) -> None:
    seen: asyncio.Future[AgiSession] = asyncio.get_running_loop().create_future()

    async def route(session: AgiSession) -> None:
        number = await session.get_variable("CALLERID(num)")
        await session.set_variable("QUEUE_PRIORITY", "5")
        assert number == "5551234"
        seen.set_result(session)

    agi.add_route("route", route)
    await agi.start()
    async with asyncio.timeout(WAIT):
        commands = await fake_asterisk(agi.port, recorded_env(),
                                       [b"200 result=1 (5551234)\n", b"200 result=1\n", b"200 result=1\n"])
        session = await seen
    req = session.request
    assert req.script == "route" and req.params == {"lang": "zh"}
    assert req.callerid == "5551234" and req.uniqueid == "1795295707.188"
    assert req.version == "22.10.1" and req.context == "agi-test"
    assert commands == ["GET VARIABLE CALLERID(num)", 'SET VARIABLE QUEUE_PRIORITY "5"',
                        'SET VARIABLE CALLCENTER_AGI_STATUS "OK"']


async def test_agi_args_are_parsed_in_order(agi) -> None:
    seen: asyncio.Future[list[str]] = asyncio.get_running_loop().create_future()

    async def route(session: AgiSession) -> None:
        seen.set_result(session.request.args)

    agi.add_route("route", route)
    await agi.start()
    env = recorded_env().replace(b"agi_threadid", b"agi_arg_1: a\nagi_arg_2: b c\nagi_threadid")
    async with asyncio.timeout(WAIT):
        await fake_asterisk(agi.port, env, [b"200 result=1\n"])
        assert await seen == ["a", "b c"]


async def test_plain_variables_are_set_in_one_mset_and_others_one_by_one(agi) -> None:
    """MSet splits on commas, quotes and brackets: a value with any of them (or a blank)
    is set by SET VARIABLE, which quotes it; an Asterisk without MSet (result=-2) too."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def route(session: AgiSession) -> None:
        await session.set_variables({"A": "1", "B": "", "C": "x.y:z@q/r+s-t_u"})
        await session.set_variables({"A": "1", "D": 'a,b "c" (d)'})
        await session.set_variables({"E": "2"})  # this one answered -2: no MSet
        await session.set_variables({})
        done.set_result(None)

    agi.add_route("route", route)
    await agi.start()
    async with asyncio.timeout(WAIT):
        commands = await fake_asterisk(agi.port, recorded_env(), [
            b"200 result=0\n", b"200 result=1\n", b"200 result=1\n", b"200 result=-2\n",
            b"200 result=1\n", b"200 result=1\n"])
        await done
    assert commands == ['EXEC MSet "A=1,B=,C=x.y:z@q/r+s-t_u"',
                        'SET VARIABLE A "1"', 'SET VARIABLE D "a,b \\"c\\" (d)"',
                        'EXEC MSet "E=2"', 'SET VARIABLE E "2"',
                        'SET VARIABLE CALLCENTER_AGI_STATUS "OK"']


async def test_the_last_variables_carry_the_ok_status_and_a_later_error_replaces_it(agi) -> None:
    """``last=True``: the request's OK goes in the handler's own MSet (one exchange fewer
    on the caller's time); a handler that fails after it still answers ERROR."""
    fail = False

    async def route(session: AgiSession) -> None:
        await session.set_variables({"A": "1"}, last=True)
        if fail:
            raise RuntimeError("after the last word")

    agi.add_route("route", route)
    await agi.start()
    async with asyncio.timeout(WAIT):
        ok = await fake_asterisk(agi.port, recorded_env(), [b"200 result=0\n"])
        fail = True
        failed = await fake_asterisk(agi.port, recorded_env(), [b"200 result=0\n", b"200 result=1\n"])
    assert ok == ['EXEC MSet "A=1,CALLCENTER_AGI_STATUS=OK"']
    assert failed == ['EXEC MSet "A=1,CALLCENTER_AGI_STATUS=OK"',
                      'SET VARIABLE CALLCENTER_AGI_STATUS "ERROR"']


async def test_handler_error_sets_status_error_and_call_goes_on(agi) -> None:
    async def route(session: AgiSession) -> None:
        raise RuntimeError("directory down")

    agi.add_route("route", route)
    await agi.start()
    with capture_logs() as logs:
        async with asyncio.timeout(WAIT):
            commands = await fake_asterisk(agi.port, recorded_env(), [b"200 result=1\n"])
    assert commands == ['SET VARIABLE CALLCENTER_AGI_STATUS "ERROR"']
    assert any(r["event"] == "fastagi handler failed" for r in logs)


async def test_handler_timeout_sets_status_timeout(agi) -> None:
    agi.request_timeout = 0.05

    async def route(session: AgiSession) -> None:
        await asyncio.Event().wait()

    agi.add_route("route", route)
    await agi.start()
    async with asyncio.timeout(WAIT):
        commands = await fake_asterisk(agi.port, recorded_env(), [b"200 result=1\n"])
    assert commands == ['SET VARIABLE CALLCENTER_AGI_STATUS "TIMEOUT"']


async def test_unknown_route_sets_status_noroute(agi) -> None:
    await agi.start()
    async with asyncio.timeout(WAIT):
        commands = await fake_asterisk(agi.port, recorded_env(), [b"200 result=1\n"])
    assert commands == ['SET VARIABLE CALLCENTER_AGI_STATUS "NOROUTE"']


async def test_client_vanishing_mid_request_is_logged_not_raised(agi) -> None:
    ended: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    async def route(session: AgiSession) -> None:
        try:
            await session.get_variable("CALLERID(num)")
        except Exception as err:
            ended.set_result(err)
            raise

    agi.add_route("route", route)
    await agi.start()
    with capture_logs() as logs:
        async with asyncio.timeout(WAIT):
            reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
            writer.write(recorded_env())
            assert await reader.readline() == b"GET VARIABLE CALLERID(num)\n"
            writer.close()  # Asterisk goes away without answering
            err = await ended
            await asyncio.gather(*agi._requests)  # the request task finishes cleanly
    assert type(err).__name__ == "AgiHangup"
    assert any(r["event"] == "fastagi: asterisk left mid-request" for r in logs)


async def test_client_vanishing_before_env_ends_does_not_spin(agi) -> None:
    await agi.start()
    with capture_logs() as logs:
        reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        writer.write(b"agi_network: yes\nagi_network_scr")
        writer.close()
        async with asyncio.timeout(WAIT):
            assert await reader.read() == b""
            await asyncio.gather(*agi._requests)
    assert any("left before its environment" in r["event"] for r in logs)


async def test_hangup_reply_raises_agi_hangup(agi) -> None:
    result: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def route(session: AgiSession) -> None:
        try:
            await session.verbose("x")
        except Exception as err:
            result.set_result(type(err).__name__)
            raise

    agi.add_route("route", route)
    await agi.start()
    async with asyncio.timeout(WAIT):
        await fake_asterisk(agi.port, recorded_env(), [b"HANGUP\n"])
        assert await result == "AgiHangup"


async def test_sync_handler_is_refused(agi) -> None:
    def sync(session: AgiSession) -> None:
        return None

    with pytest.raises(TypeError):
        agi.add_route("x", sync)  # type: ignore[arg-type]


async def test_a_close_ends_requests_in_progress_without_loop_errors(agi) -> None:
    """A stop cancels requests in progress; each ends as a closed connection, not as a
    cancelled task: Python 3.11's stream callback reads a cancelled task's exception and
    the loop logged "Exception in callback ... CancelledError" for every call on the line."""
    entered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def route(_session: AgiSession) -> None:
        entered.set_result(None)
        await asyncio.Event().wait()

    agi.add_route("route", route)
    await agi.start()
    loop = asyncio.get_running_loop()
    errors: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", agi.port)
        writer.write(recorded_env())
        async with asyncio.timeout(WAIT):
            await entered
            requests = list(agi._requests)
            await agi.close()
            assert await reader.read() == b""  # the connection was closed
    finally:
        loop.set_exception_handler(None)
        writer.close()
    assert [t.cancelled() for t in requests] == [False]
    assert errors == []


async def test_the_products_ami_sessions_are_not_sent_an_agi_commands_events() -> None:
    """Asterisk sends two AGIExec events (class ``agi``) for every AGI command: the
    product's AMI sessions log in without that class, and still hear the dialplan's VarSet."""
    from callcenter.asterisk import AmiClient
    from callcenter.pbxsim.server import PbxSimulator

    async def route(session: AgiSession) -> None:
        await session.set_variable("CALLCENTER_QUEUE", "hotline")

    async with PbxSimulator(ari_port=0, ami_port=0, control_port=0, speed=None) as sim:
        server = FastAgiServer("127.0.0.1:0")
        server.add_route("hotline", route)
        await server.start()
        ami = AmiClient(sim.host, sim.ami_port, sim.user, sim.password)
        heard: list[str] = []
        ami.on("*", lambda event: heard.append(event.name))
        try:
            await ami.connect(wait_seconds=WAIT)
            ch = sim.model.new_channel("PJSIP/trunk-00000001", "PJSIP", state="Up",
                                       context="hotline-entry", exten="12349")
            assert await sim.dialplan.agi.run(ch, f"agi://127.0.0.1:{server.port}/hotline") == "SUCCESS"
            sim.model.ami_event("UserEvent", {"UserEvent": "Done"})
            async with asyncio.timeout(WAIT):
                while "UserEvent" not in heard:
                    await ami.dispatcher.drain()
                    await asyncio.sleep(0)  # the next event's bytes: nothing to wait on here
        finally:
            await ami.close()
            await server.close()
    assert "VarSet" in heard and "Newchannel" in heard
    assert not [name for name in heard if name.startswith("AGIExec")], heard
