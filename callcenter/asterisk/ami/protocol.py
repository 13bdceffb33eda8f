"""The AMI wire: framing, panoramisk's message parser, and warnings for bytes that are not AMI.

panoramisk's own ``data_received`` decodes each socket read with ``errors='ignore'``
(a multi-byte character split across two reads is lost) and silently drops blocks
that are not AMI messages. Here the framing works on bytes, each message is decoded
whole, and whatever does not parse is logged with a bounded, escaped excerpt.
panoramisk's messages, response matching and glob registration are used as they are;
its ``Message.from_line`` is replaced by :func:`parse_message`, which builds the same
message with less work.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.manager import Manager
from panoramisk.message import Message

from callcenter.eventloop import read_first, read_in_turn
from callcenter.logs import get_logger

log = get_logger(__name__)

END_OF_MESSAGE = b"\r\n\r\n"
BANNER = b"Asterisk Call Manager/"
#: Bytes of a bad message shown in the warning.
EXCERPT_BYTES = 120
#: A message without its blank line after this many bytes is junk, not a slow sender
#: (a ``core show channels`` Command answer with thousands of channels stays far below).
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


def excerpt(data: bytes) -> str:
    """The first :data:`EXCERPT_BYTES` of ``data``, escaped as a bytes literal (no quotes)."""
    shown = repr(data[:EXCERPT_BYTES])[2:-1]
    return shown + "..." if len(data) > EXCERPT_BYTES else shown


#: The first lines of a response whose last line is a body, not a header (panoramisk).
_WITH_BODY = ("Response: Follows", "Response: Fail")


def parse_message(text: str) -> Message | None:
    """panoramisk's ``Message.from_line``, twice as fast for the messages nearly all are
    (one ``Key: value`` per line, no key twice, no ``Result``, no body): their store is
    built in one pass, where ``from_line`` made a Python call per header twice over (its
    loop, then the case-insensitive dict's ``update``). Every AMI message the product reads
    goes through here, the screen-pop's ``AgentCalled`` first. Any other message is left
    to ``from_line`` itself, so the result is always the same."""
    lines = text.split("\r\n")
    if lines[0].startswith(_WITH_BODY):
        return Message.from_line(text)
    pairs = [line.partition(": ") for line in lines]
    store = {key.lower(): (key, value) for key, sep, value in pairs if sep}
    if (len(store) != len(lines) or "result" in store
            or store.get("event", ("",))[0] != "Event"
            and store.get("response", ("",))[0] != "Response"):
        return Message.from_line(text)
    store["content"] = ("content", "")
    message = Message.__new__(Message)
    message._store = store  # noqa: SLF001
    message.manager = None
    return message


LostHook = Callable[["AmiWireProtocol", "Exception | None"], None]


class AmiManager(Manager):
    """The parts of panoramisk's Manager we keep: glob registration and the protocol hooks."""

    def __init__(self, node: str, on_event: Callable[[Message], None], on_lost: LostHook,
                 **config: Any) -> None:
        super().__init__(**config)
        self.node = node
        self._on_event = on_event
        self._on_lost = on_lost
        # panoramisk re-sends queued actions on FullyBooted; the client fails them instead.
        self.callbacks.clear()
        self.patterns.clear()

    def lost(self, protocol: AmiWireProtocol, exc: Exception | None) -> None:
        """The socket of ``protocol`` is gone."""
        self._on_lost(protocol, exc)

    def connection_lost(self, exc: Any) -> None:  # the Shutdown event path
        protocol = self.protocol
        if isinstance(protocol, AmiWireProtocol):
            protocol.close()
            self._on_lost(protocol, None)

    def dispatch(self, event: Message) -> list[str]:
        self._on_event(event)
        return []


class AmiWireProtocol(AMIProtocol):
    """panoramisk's protocol, made to frame bytes, log junk and report every disconnect."""

    def __init__(self, manager: AmiManager) -> None:
        super().__init__()
        self._manager = manager
        self._buffer = b""
        self.version: str | None = None
        self._first: int | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # Set here, not after create_connection returns: data can arrive in between.
        self.factory = self._manager
        self.log = self._manager.log
        self.config = self._manager.config
        self.encoding = "utf8"
        self._manager.responses = self.responses
        # Asterisk's events are read before whatever else the loop has ready (eventloop.py).
        self._first = read_first(transport)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        if self.version is None and buffer.startswith(BANNER):
            if b"\r\n" not in buffer:
                self._buffer = buffer
                return
            banner, _, buffer = buffer.partition(b"\r\n")
            self.version = banner[len(BANNER):].decode("ascii", "replace").strip()
        blocks = buffer.split(END_OF_MESSAGE)
        tail = blocks.pop()
        if len(tail) > MAX_MESSAGE_BYTES:
            self._garbage(tail, f"no message end within {MAX_MESSAGE_BYTES} bytes")
            tail = b""
        self._buffer = tail
        for block in blocks:
            self._message(block)

    def _message(self, block: bytes) -> None:
        try:
            text = block.decode("utf-8")
            bad_bytes = False
        except UnicodeDecodeError:
            text = block.decode("utf-8", "replace")
            bad_bytes = True
        # strip(): Asterisk sometimes ends a message with one CRLF too many.
        text = text.strip()
        if not text:
            return
        message = parse_message(text)
        if message is None:
            self._garbage(block, "not an AMI message")
            return
        if bad_bytes:
            self._garbage(block, "invalid UTF-8 (replaced)")
        try:
            self.handle_message(message)
        except Exception:  # protocol boundary: one bad message must not kill the connection
            # e.g. panoramisk's Action.multi reads action['async'] and raises KeyError
            # for a sync Originate; only that message is lost.
            log.exception("ami message could not be handled", node=self._manager.node)

    def _garbage(self, data: bytes, reason: str) -> None:
        log.warning("ami garbage received", node=self._manager.node, reason=reason,
                    size=len(data), excerpt=excerpt(data))

    def connection_lost(self, exc: Exception | None) -> None:
        read_in_turn(self._first)
        self._first = None
        if self._buffer.strip():
            self._garbage(self._buffer, "truncated at disconnect")
        self._buffer = b""
        # panoramisk only reports a loss it did not cause; we need every one.
        if not self.closed:
            self.close()
        self._manager.lost(self, exc)
