"""FastAGI server on panoramisk's ``fast_agi.Application``, with its gaps fixed.

What panoramisk 1.4's ``Application.handler`` gets wrong for Asterisk 22 (checked
against traces/agi-fastagi.txt), and why this module overrides it:

* it routes on the whole ``agi_network_script`` — Asterisk 22 sends ``route?lang=zh``
  for ``agi://host/route?lang=zh`` — so a route ``route`` never matches;
* it reads the environment with ``while b'\\n\\n' not in buffer: buffer += read()``,
  a busy loop forever when Asterisk goes away before the blank line (read() -> b'');
* ``Request._read_result`` on EOF parses ``''`` and dies in ``int('')``;
* it catches ``BaseException`` (swallowing cancellation), has no timeout, and
  ``add_route`` wraps sync endpoints with ``asyncio.coroutine``, gone in Python 3.11.

Every handler error is answered by setting ``status_variable`` (default
``CALLCENTER_AGI_STATUS``: OK, ERROR, TIMEOUT, NOROUTE) and returning, so the
dialplan goes on (Asterisk then reports AGISTATUS=SUCCESS).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from panoramisk import fast_agi
from panoramisk.utils import parse_agi_result

from callcenter.logs import bound_context, get_logger
from callcenter.settings import parse_bind

log = get_logger(__name__)

#: Names and values MSet takes as they are (no separator, quote, bracket or blank).
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN = re.compile(r"[A-Za-z0-9_.:@/+-]*")
MAX_ENV_BYTES = 64 * 1024  # an environment block is < 1 KiB; anything larger is not Asterisk


class AgiError(Exception):
    """A FastAGI exchange failed; carries the script and the channel's uniqueid."""

    error_id = "agi_error"

    def __init__(self, message: str, *, script: str = "", uniqueid: str = "") -> None:
        self.message = message
        self.script = script
        self.uniqueid = uniqueid
        super().__init__(f"{script} ({uniqueid}): {message}")


class AgiHangup(AgiError):
    """Asterisk went away (socket closed or HANGUP) in the middle of the request."""

    error_id = "agi_hangup"


class AgiCommandError(AgiError):
    """A command answered 510/511/520 or result=-1."""

    error_id = "agi_command_error"


@dataclass(slots=True, frozen=True)
class AgiRequest:
    """The environment Asterisk sends before the first command."""

    script: str
    params: dict[str, str]
    args: list[str]
    env: dict[str, str] = field(repr=False)

    @property
    def channel(self) -> str:
        """``agi_channel``."""
        return self.env.get("agi_channel", "")

    @property
    def uniqueid(self) -> str:
        """``agi_uniqueid`` (the ARI channel id)."""
        return self.env.get("agi_uniqueid", "")

    @property
    def callerid(self) -> str:
        """``agi_callerid`` ('' for Asterisk's 'unknown')."""
        value = self.env.get("agi_callerid", "")
        return "" if value == "unknown" else value

    @property
    def calleridname(self) -> str:
        """``agi_calleridname`` ('' for 'unknown')."""
        value = self.env.get("agi_calleridname", "")
        return "" if value == "unknown" else value

    @property
    def context(self) -> str:
        """``agi_context``."""
        return self.env.get("agi_context", "")

    @property
    def extension(self) -> str:
        """``agi_extension``."""
        return self.env.get("agi_extension", "")

    @property
    def version(self) -> str:
        """``agi_version`` (Asterisk's version)."""
        return self.env.get("agi_version", "")

    @classmethod
    def from_env(cls, env: dict[str, str]) -> AgiRequest:
        """Parse ``agi_network_script`` (path and query string) and ``agi_arg_N``."""
        script, _, query = env.get("agi_network_script", "").partition("?")
        args = []
        n = 1
        while f"agi_arg_{n}" in env:
            args.append(env[f"agi_arg_{n}"])
            n += 1
        return cls(script=script.strip("/"), params=dict(parse_qsl(query)), args=args, env=env)


@dataclass(slots=True, frozen=True)
class AgiResult:
    """One command's reply: ``200 result=1 (5551234)`` -> code 200, result '1', data '5551234'."""

    code: int
    result: str
    data: str
    line: str


class AgiSession:
    """What a route handler talks to: the request and the channel's AGI commands."""

    def __init__(self, request: AgiRequest, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, command_timeout: float,
                 status_variable: str = "") -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._command_timeout = command_timeout
        self._status_variable = status_variable
        #: The request's OK status went out with the handler's last variables.
        self.reported = False

    async def command(self, command: str) -> AgiResult:
        """Send one AGI command and read its reply (skipping ``100 Trying``)."""
        req = self.request
        try:
            async with asyncio.timeout(self._command_timeout):
                self._writer.write((command + "\n").encode())
                await self._writer.drain()
                line = await self._read_line()
                while line.startswith("100"):
                    line = await self._read_line()
                if line.startswith("520-"):  # usage text until "520 End of proper usage."
                    while not line.startswith("520 "):
                        line = await self._read_line()
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            raise AgiHangup(f"connection lost during {command.split()[0]}", script=req.script,
                            uniqueid=req.uniqueid) from err
        except TimeoutError as err:
            raise AgiError(f"no reply to {command.split()[0]} within {self._command_timeout}s",
                           script=req.script, uniqueid=req.uniqueid) from err
        if line == "HANGUP":
            raise AgiHangup("channel hung up", script=req.script, uniqueid=req.uniqueid)
        parsed: dict[str, Any] = parse_agi_result(line)
        if "error" in parsed and parsed["error"] == "AGIResultHangup":
            raise AgiHangup("channel hung up", script=req.script, uniqueid=req.uniqueid)
        code = int(parsed.get("status_code", 0) or 0)
        value, data = parsed.get("result", ("", ""))
        if code != 200:
            raise AgiCommandError(f"{command.split()[0]}: {line}", script=req.script,
                                  uniqueid=req.uniqueid)
        return AgiResult(code=code, result=value, data=data, line=line)

    async def _read_line(self) -> str:
        raw = await self._reader.readline()
        if not raw:
            raise asyncio.IncompleteReadError(b"", None)
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def get_variable(self, name: str) -> str | None:
        """GET VARIABLE: the value, or None when unset (result=0)."""
        res = await self.command(f"GET VARIABLE {name}")
        return res.data if res.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        """SET VARIABLE (quoted, so values may contain spaces)."""
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        await self.command(f'SET VARIABLE {name} "{escaped}"')

    async def set_variables(self, values: Mapping[str, str], *, last: bool = False) -> None:
        """Several variables in one exchange, ``EXEC MSet`` (a route's 7 SET VARIABLEs were
        7 round trips on the caller's time), when every name and value is plain: MSet's
        arguments are split on commas, quotes and parentheses. Otherwise, or when
        Asterisk runs no MSet (``result=-2``), one SET VARIABLE each, which takes any
        value. ``last``: the handler's last word to Asterisk, so the request's OK status
        goes in the same exchange (the server sends none after it; an error raised later
        still replaces it)."""
        if last and self._status_variable:
            values = {**values, self._status_variable: "OK"}
        await self._set_all(values)
        self.reported = last and bool(self._status_variable)

    async def _set_all(self, values: Mapping[str, str]) -> None:
        if values and all(_NAME.fullmatch(name) and _PLAIN.fullmatch(value)
                          for name, value in values.items()):
            pairs = ",".join(f"{name}={value}" for name, value in values.items())
            if (await self.command(f'EXEC MSet "{pairs}"')).result != "-2":
                return
        for name, value in values.items():
            await self.set_variable(name, value)

    async def verbose(self, message: str, level: int = 1) -> None:
        """VERBOSE to Asterisk's console/log."""
        await self.command(f'VERBOSE "{message}" {level}')


AgiHandler = Callable[[AgiSession], Awaitable[None]]


class FastAgiServer(fast_agi.Application):
    """Route table (script path -> async handler) served on ``agi_bind``."""

    def __init__(self, bind: str = "127.0.0.1:4573", *, request_timeout: float = 5.0,
                 command_timeout: float = 3.0, status_variable: str = "CALLCENTER_AGI_STATUS") -> None:
        super().__init__(loop=asyncio.get_running_loop())
        # Port 0 (tests: any free port) is not a valid *setting*, so parse it here.
        host, _, port = bind.rpartition(":")
        self.host, self.port = (host.strip("[]"), 0) if port == "0" else parse_bind(bind)
        self.request_timeout = request_timeout
        self.command_timeout = command_timeout
        self.status_variable = status_variable
        self._server: asyncio.Server | None = None
        self._requests: set[asyncio.Task[Any]] = set()
        self._closing = False

    def add_route(self, path: str, endpoint: AgiHandler) -> None:
        """Serve ``agi://host/<path>`` with ``endpoint(session)`` (async only)."""
        if not asyncio.iscoroutinefunction(endpoint):
            raise TypeError(f"FastAGI handler for {path!r} must be an async function")
        super().add_route(path.strip("/"), endpoint)

    def route(self, path: str) -> Callable[[AgiHandler], AgiHandler]:
        """Decorator form of :meth:`add_route`."""
        def register(endpoint: AgiHandler) -> AgiHandler:
            self.add_route(path, endpoint)
            return endpoint
        return register

    async def start(self) -> None:
        """Listen (port 0 picks a free port, see ``port``)."""
        self._closing = False
        self._server = await asyncio.start_server(self.handler, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("fastagi listening", host=self.host, port=self.port, routes=list(self._route))

    async def close(self) -> None:
        """Stop listening and cancel requests in progress."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        for task in list(self._requests):
            task.cancel()
        await asyncio.gather(*self._requests, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def _read_env(self, reader: asyncio.StreamReader) -> dict[str, str] | None:
        env: dict[str, str] = {}
        size = 0
        while True:
            raw = await reader.readline()
            if not raw:
                return None  # Asterisk went away before the blank line
            size += len(raw)
            if size > MAX_ENV_BYTES:
                raise ValueError("environment block too large")
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return env
            key, sep, value = line.partition(":")
            if sep and key.startswith("agi_"):
                env[key] = value.lstrip(" ")

    async def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One FastAGI connection (replaces panoramisk's, see the module docstring)."""
        task = asyncio.current_task()
        if task is not None:
            self._requests.add(task)
        try:
            try:
                async with asyncio.timeout(self.command_timeout):
                    env = await self._read_env(reader)
            except (TimeoutError, ValueError, ConnectionError) as err:
                log.warning("fastagi environment unreadable", error=f"{type(err).__name__}: {err}",
                            peer=str(writer.get_extra_info("peername")))
                return
            if env is None:
                log.info("fastagi client left before its environment ended")
                return
            request = AgiRequest.from_env(env)
            session = AgiSession(request, reader, writer, self.command_timeout,
                                 self.status_variable)
            with bound_context(channel_id=request.uniqueid, agi_script=request.script):
                await self._serve(session)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # Cancelled by close(): the task ends here, its connection closed below. Ending
            # cancelled, Python 3.11's stream callback would log the cancellation as an
            # error of the loop for every call on the line.
        finally:
            if task is not None:
                self._requests.discard(task)
            writer.close()
            try:
                await writer.wait_closed()
            except (ConnectionError, OSError):
                pass

    async def _serve(self, session: AgiSession) -> None:
        request = session.request
        endpoint = self._route.get(request.script)
        if endpoint is None:
            log.error("fastagi: no route", script=request.script)
            await self._set_status(session, "NOROUTE")
            return
        try:
            async with asyncio.timeout(self.request_timeout):
                await endpoint(session)
        except AgiHangup as err:
            log.info("fastagi: asterisk left mid-request", reason=err.message)
            return
        except TimeoutError:
            log.error("fastagi handler timed out", seconds=self.request_timeout)
            await self._set_status(session, "TIMEOUT")
            return
        except Exception:  # request boundary: the call must go on whatever the handler did
            log.exception("fastagi handler failed")
            await self._set_status(session, "ERROR")
            return
        if not session.reported:
            await self._set_status(session, "OK")

    async def _set_status(self, session: AgiSession, status: str) -> None:
        try:
            await session.set_variable(self.status_variable, status)
        except AgiError as err:
            log.info("fastagi: could not report status", status=status, reason=err.message)
