"""FastAGI client side: the simulated channel connects to the product's FastAGI server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from urllib.parse import urlparse

from callcenter.pbxsim.model import Model
from callcenter.pbxsim.objects import Channel

AGI_VERSION = "22.10.1"


def agi_words(command: str) -> list[str]:
    """An AGI command's arguments as res_agi's parse_args splits them: on blanks, with
    double quotes grouping and backslash escaping (pyst2 quotes every argument)."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for char in command.strip():
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted, started = not quoted, True
        elif char.isspace() and not quoted:
            if current or started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
    if current or started:
        words.append("".join(current))
    return words


class AgiClient:
    """Runs ``AGI(agi://host:port/script?args)`` for a channel, as res_agi does."""

    def __init__(self, model: Model) -> None:
        self.model = model

    def environment(self, ch: Channel, url: str, args: Sequence[str] = ()) -> str:
        """The ``agi_*`` variables block Asterisk sends first (LF line ends, blank line),
        the application's arguments last (``agi_arg_1``…)."""
        parsed = urlparse(url)
        script = parsed.path.lstrip("/") + (f"?{parsed.query}" if parsed.query else "")
        pairs = [
            ("network", "yes"), ("network_script", script), ("request", url),
            ("channel", ch.name), ("language", ch.language), ("type", ch.tech),
            ("uniqueid", ch.id), ("version", AGI_VERSION),
            ("callerid", ch.caller.number or "unknown"),
            ("calleridname", ch.caller.name or "unknown"), ("callingpres", "0"),
            ("callingani2", "0"), ("callington", "0"), ("callingtns", "0"),
            ("dnid", "unknown"), ("rdnis", "unknown"), ("context", ch.context),
            ("extension", ch.exten), ("priority", str(ch.priority)), ("enhanced", "0.0"),
            ("accountcode", ch.accountcode), ("threadid", "140611502286528"),
        ]
        pairs += [(f"arg_{n}", arg) for n, arg in enumerate(args, 1)]
        return "".join(f"agi_{k}: {v}\n" for k, v in pairs) + "\n"

    async def run(self, ch: Channel, url: str, args: Sequence[str] = ()) -> str:
        """Connect, send the environment, answer commands until the server closes."""
        parsed = urlparse(url)
        host, port = parsed.hostname or "127.0.0.1", parsed.port or 4573
        try:
            async with asyncio.timeout(5):
                reader, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError):
            return "FAILURE"  # the call is not hung up; the dialplan goes on
        try:
            writer.write(self.environment(ch, url, args).encode())
            await writer.drain()
            while True:
                async with asyncio.timeout(60):
                    line = await reader.readline()
                if not line:
                    break
                command = line.decode().strip()
                if not command:
                    continue
                command_id = str(random.randint(10**8, 10**9))
                self.model.ami_event("AGIExecStart", {**ch.ami(), "CommandId": command_id,
                                                      "Command": command})
                reply = self.execute(ch, command)
                code = reply.split(" ", 1)[0]
                self.model.ami_event("AGIExecEnd", {**ch.ami(), "CommandId": command_id,
                                                    "Command": command, "ResultCode": code,
                                                    "Result": "Success" if code == "200" else "Failure"})
                writer.write((reply + "\n").encode())
                await writer.drain()
                if ch.gone:
                    writer.write(b"HANGUP\n")
                    break
        except (OSError, TimeoutError):
            return "FAILURE"
        finally:
            writer.close()
        return "SUCCESS"

    def execute(self, ch: Channel, command: str) -> str:
        """One AGI command and its ``200 result=…`` reply."""
        words = agi_words(command)
        verb = " ".join(words[:2]).upper()
        if verb in ("GET VARIABLE", "GET FULL"):
            name = words[-1]
            value = self.variable(ch, name)
            return "200 result=0" if value is None else f"200 result=1 ({value})"
        if verb == "SET VARIABLE" and len(words) >= 4:
            self.model.set_var(ch, words[2], words[3])  # VarSet, as agi-fastagi.txt shows
            return "200 result=1"
        head = words[0].upper() if words else ""
        if head in ("VERBOSE", "NOOP"):
            return "200 result=1" if head == "VERBOSE" else "200 result=0"
        if head == "ANSWER":
            self.model.set_state(ch, "Up")
            return "200 result=0"
        if head == "HANGUP":
            return "200 result=1"
        if head == "EXEC" and len(words) >= 2 and words[1].lower() == "mset":
            for pair in (words[2] if len(words) > 2 else "").split(","):
                name, sep, value = pair.partition("=")
                if sep:  # Asterisk ignores (and logs) an entry with no '='
                    self.model.set_var(ch, name, value)
            return "200 result=0"
        if head in ("EXEC", "STREAM", "SAY", "WAIT", "SET", "CHANNEL", "DATABASE"):
            return "200 result=0"
        return "510 Invalid or unknown command"

    def variable(self, ch: Channel, name: str) -> str | None:
        """A channel variable or one of the dialplan functions the product reads."""
        functions = {"CALLERID(num)": ch.caller.number, "CALLERID(name)": ch.caller.name,
                     "CHANNEL": ch.name, "UNIQUEID": ch.id, "EXTEN": ch.exten,
                     "CONTEXT": ch.context, "CHANNEL(linkedid)": ch.linkedid,
                     "CHANNEL(uniqueid)": ch.id}
        if name in functions:
            return functions[name]
        return ch.variables.get(name)
