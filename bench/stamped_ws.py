"""A console's WebSocket whose frames are timed by the kernel, for bench/screenpop.py.

Each frame's time is when its last byte reached the console's socket (``SO_TIMESTAMPNS``:
the kernel stamps each packet as it is received; on loopback, as the server's ``send``
hands it over), not when the measuring process got round to reading it. On a two-core
machine under the product's load, that process's own wake-up took up to 3 ms, and it counted
against whichever path it was measuring; a console is a browser on an agent's own
computer, where the server's load does not delay it.

The client is minimal and speaks what a browser does on this path: the upgrade (with
``permessage-deflate`` offered, as browsers do), unmasked text frames from the server,
compressed or not, and pongs to the server's pings. Times are on ``time.perf_counter``'s
clock (the kernel's wall-clock stamp less the offset between the two clocks, read once).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
import struct
import time
import zlib
from collections.abc import Callable
from urllib.parse import urlsplit

#: Seconds to add to a wall-clock time to put it on ``time.perf_counter``'s clock.
OFFSET = time.perf_counter() - time.time()
_TIMESPEC = struct.Struct("@qq")
#: Linux's SO_TIMESTAMPNS (and SCM_TIMESTAMPNS) on x86-64 and arm64; Python 3.11 does not
#: name it.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
#: Frames whose time the kernel gave, and frames timed as read (no stamp came with them).
counts = {"kernel": 0, "read": 0}
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


class StampedSocket:
    """One console socket: ``on_text(text, at)`` for each text message, ``at`` the kernel's
    receive time of its last byte (on ``time.perf_counter``'s clock)."""

    def __init__(self, sock: socket.socket, on_text: Callable[[str, float], None],
                 deflate: bool, rest: bytes) -> None:
        self._sock = sock
        self._on_text = on_text
        self._inflate = zlib.decompressobj(-15) if deflate else None
        self._buffer = bytearray(rest)
        self._parts: list[bytes] = []
        self._compressed = False
        self._open = True
        asyncio.get_running_loop().add_reader(sock.fileno(), self._readable)

    @classmethod
    async def connect(cls, url: str, on_text: Callable[[str, float], None],
                      headers: dict[str, str] | None = None) -> StampedSocket:
        """Open ``url`` (``http://host:port/path?query``) and upgrade it to a WebSocket."""
        loop = asyncio.get_running_loop()
        parts = urlsplit(url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await loop.sock_connect(sock, (host, port))
            key = base64.b64encode(os.urandom(16)).decode()
            lines = [f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1",
                     f"Host: {host}:{port}", "Upgrade: websocket", "Connection: Upgrade",
                     f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                     "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
                     *(f"{k}: {v}" for k, v in (headers or {}).items())]
            await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())
            received = b""
            while b"\r\n\r\n" not in received:
                chunk = await loop.sock_recv(sock, 4096)
                if not chunk:
                    raise ConnectionError(f"{url} closed during the upgrade")
                received += chunk
            head, _, rest = received.partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            if status.split(" ")[1:2] != ["101"]:
                raise ConnectionError(f"no WebSocket upgrade at {url}: {status}")
        except BaseException:
            sock.close()
            raise
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        return cls(sock, on_text, b"permessage-deflate" in head.lower(), rest)

    def _readable(self) -> None:
        try:
            data, ancillary, _flags, _addr = self._sock.recvmsg(1 << 16, 64)
        except BlockingIOError:
            return
        except OSError:
            data, ancillary = b"", []
        if not data:
            self.close()
            return
        at, by = time.perf_counter(), "read"
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                seconds, nanos = _TIMESPEC.unpack(value[:_TIMESPEC.size])
                at, by = seconds + nanos / 1e9 + OFFSET, "kernel"
        self._buffer += data
        self._frames(at, by)

    def _frames(self, at: float, by: str) -> None:
        buffer = self._buffer
        while len(buffer) >= 2:
            first, second = buffer[0], buffer[1]
            length, start = second & 0x7F, 2
            if length == 126:
                if len(buffer) < 4:
                    return
                length, start = struct.unpack_from("!H", buffer, 2)[0], 4
            elif length == 127:
                if len(buffer) < 10:
                    return
                length, start = struct.unpack_from("!Q", buffer, 2)[0], 10
            if len(buffer) < start + length:
                return
            payload = bytes(buffer[start:start + length])
            del buffer[:start + length]
            self._frame(first & 0x80, first & 0x40, first & 0x0F, payload, at, by)

    def _frame(self, fin: int, rsv1: int, opcode: int, payload: bytes, at: float,
               by: str) -> None:
        if opcode == 0x9:  # ping: pong with the same data
            self._send(0xA, payload)
            return
        if opcode == 0x8:
            self.close()
            return
        if opcode in (0x1, 0x2):
            self._parts, self._compressed = [], bool(rsv1)
        elif opcode != 0x0:
            return  # pong
        self._parts.append(payload)
        if not fin:
            return
        message = b"".join(self._parts)
        if self._compressed and self._inflate is not None:
            message = self._inflate.decompress(message + _DEFLATE_TAIL)
        counts[by] += 1
        self._on_text(message.decode(), at)

    def _send(self, opcode: int, payload: bytes) -> None:
        """A control frame (at most 125 bytes), masked as a client's frames are."""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload[:125]))
        with contextlib.suppress(OSError):  # a socket going away: its read says so
            self._sock.send(bytes([0x80 | opcode, 0x80 | len(masked)]) + mask + masked)

    def close(self) -> None:
        if not self._open:
            return
        self._open = False
        asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
