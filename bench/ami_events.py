"""AMI events/s through AmiClient's protocol + ordered dispatch vs panoramisk's bare parser.

Run: python bench/ami_events.py [copies]
"""

from __future__ import annotations

import asyncio
import logging
import resource
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import structlog
from panoramisk.ami_protocol import AMIProtocol

from callcenter.asterisk import AmiClient, AmiEvent
from callcenter.asterisk.ami.protocol import AmiWireProtocol

# The recorded Asterisk 22 traces the tests replay, kept in the repository.
TRACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "asterisk" / "traces"
CHUNK = 4096  # bytes per data_received, like a socket read


def recorded_events() -> bytes:
    """Every event Asterisk sent in the AMI traces (responses left out), as wire bytes."""
    out: list[str] = []
    message: list[str] = []
    for path in sorted(TRACES.glob("ami-*.txt")):
        for line in path.read_text().splitlines():
            if not line.startswith("<"):
                continue
            text = line[2:] if len(line) > 1 else ""
            if text:
                message.append(text)
            elif message:
                if message[0].startswith("Event:"):
                    out.append("\r\n".join(message) + "\r\n\r\n")
                message = []
    return "".join(out).encode()


class _Sink:
    """A stand-in factory for panoramisk's bare protocol: counts parsed events."""

    def __init__(self) -> None:
        self.count = 0

    def dispatch(self, message: Any) -> None:
        self.count += 1


def chunks(data: bytes) -> list[bytes]:
    return [data[i:i + CHUNK] for i in range(0, len(data), CHUNK)]


def raw_floor(parts: list[bytes], n_events: int) -> float:
    proto = AMIProtocol()
    proto.connection_made(None)
    proto.factory = _Sink()
    proto.queue = deque()
    start = time.perf_counter()
    for part in parts:
        proto.data_received(part)
    return n_events / (time.perf_counter() - start)


async def adapter(parts: list[bytes], n_events: int) -> tuple[float, list[float], int]:
    client = AmiClient("127.0.0.1", 9, "u", "s", node="bench")
    latencies: list[float] = []
    fed_at = [0.0]

    def handler(event: AmiEvent) -> None:
        latencies.append(time.perf_counter() - fed_at[0])

    client.on("*", handler)
    proto = AmiWireProtocol(client._manager)
    proto.connection_made(None)
    start = time.perf_counter()
    for part in parts:
        fed_at[0] = time.perf_counter()
        proto.data_received(part)
        await client.dispatcher.drain()
    rate = n_events / (time.perf_counter() - start)
    await client.close()
    return rate, latencies, client.events_received


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    one = recorded_events()
    per_copy = one.count(b"Event:")
    copies = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    data = one * copies
    parts = chunks(data)
    n = per_copy * copies
    raw = max(raw_floor(parts, n) for _ in range(3))
    runs = [asyncio.run(adapter(parts, n)) for _ in range(3)]
    rate, lat, seen = max(runs, key=lambda r: r[0])
    lat.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"AMI events: {n} ({per_copy} recorded, x{copies}); adapter saw {seen}")
    print(f"raw panoramisk parse : {raw:12,.0f} events/s")
    print(f"adapter parse+dispatch: {rate:11,.0f} events/s")
    print(f"ratio adapter/raw    : {rate / raw:12.2f}  (goal >= 0.5)")
    print(f"dispatch latency p50 : {lat[len(lat) // 2] * 1e6:8.1f} us   p99: "
          f"{lat[int(len(lat) * 0.99)] * 1e6:8.1f} us  (per {CHUNK}-byte read)")
    print(f"peak RSS             : {peak:8.1f} MiB")


if __name__ == "__main__":
    main()
