"""A TCP server that replays a recorded AMI transcript to a real client, action by action."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

from reference_data import TRACES


@dataclass
class AmiStep:
    """One client action as recorded and what Asterisk sent after it."""

    action: str
    action_id: str
    reply: str  # wire text (CRLF) sent after the action, up to the next action


def load_ami(name: str) -> tuple[str, list[AmiStep]]:
    """The greeting text and the recorded steps of an ``ami-*.txt`` file (AMI part only)."""
    greeting: list[str] = []
    steps: list[AmiStep] = []
    current: list[str] = greeting
    action: dict[str, str] = {}
    in_action = False
    for line in (TRACES / name).read_text().splitlines():
        if line.startswith("#") or line.startswith("log|"):
            continue
        if line.startswith(">"):
            text = line[2:] if len(line) > 1 else ""
            if not in_action:
                in_action, action = True, {}
            if text:
                key, _, value = text.partition(": ")
                action[key] = value
            else:  # end of the action
                in_action = False
                current = []
                steps.append(AmiStep(action.get("Action", ""), action.get("ActionID", ""), ""))
                steps[-1].reply = ""  # filled below
                steps[-1].__dict__["_lines"] = current
        elif line.startswith("<"):
            current.append(line[2:] if len(line) > 1 else "")
    for step in steps:
        step.reply = "".join(f"{ln}\r\n" for ln in step.__dict__.pop("_lines"))
    return "".join(f"{ln}\r\n" for ln in greeting), steps


def _actions(buffer: bytes) -> tuple[list[dict[str, str]], bytes]:
    out = []
    while b"\r\n\r\n" in buffer:
        raw, buffer = buffer.split(b"\r\n\r\n", 1)
        headers = {}
        for line in raw.decode().split("\r\n"):
            key, _, value = line.partition(": ")
            headers[key.lower()] = value
        out.append(headers)
    return out, buffer


@dataclass
class AmiReplayServer:
    """Plays ``steps`` in order, rewriting recorded ActionIDs to the client's."""

    greeting: str
    steps: list[AmiStep]
    received: list[dict[str, str]] = field(default_factory=list)
    extra: list[bytes] = field(default_factory=list)  # sent after the last step, then close

    async def start(self) -> None:
        """Listen on a free loopback port."""
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.connections = 0

    async def close(self) -> None:
        """Stop listening."""
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        steps = list(self.steps)
        writer.write(self.greeting.encode())
        buffer = b""
        try:
            while True:
                data = await reader.read(4096)
                if not data:
                    return
                actions, buffer = _actions(buffer + data)
                for action in actions:
                    self.received.append(action)
                    client_id = action.get("actionid", "")
                    name = action.get("action", "")
                    if steps and steps[0].action.lower() == name.lower():
                        step = steps.pop(0)
                        reply = re.sub(rf"ActionID: {re.escape(step.action_id)}\r\n",
                                       f"ActionID: {client_id}\r\n", step.reply)
                        writer.write(reply.encode())
                    elif name.lower() == "logoff":
                        writer.write(f"Response: Goodbye\r\nActionID: {client_id}\r\n\r\n".encode())
                        return
                    else:
                        writer.write(f"Response: Success\r\nActionID: {client_id}\r\n"
                                     f"Ping: Pong\r\n\r\n".encode())
                    if not steps and self.extra:
                        for chunk in self.extra:
                            writer.write(chunk)
                            await writer.drain()
                        return
                    await writer.drain()
        finally:
            writer.close()
