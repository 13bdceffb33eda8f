"""ARI events/s through AriClient's parse + ordered dispatch vs json.loads of the same frames.

Run: python bench/ari_events.py [frames]
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import sys
import time
from pathlib import Path

import structlog

from callcenter.asterisk import AriClient, AriEvent

# The recorded Asterisk 22 traces the tests replay, kept in the repository.
TRACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "asterisk" / "traces"
BATCH = 100  # frames handed over per loop turn, like one WebSocket read burst


def recorded_frames() -> list[str]:
    frames = []
    for path in sorted(TRACES.glob("ari-*.jsonl")):
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            # ApplicationReplaced is a fault (logged as an error), not traffic.
            if rec["dir"] == "ws" and rec.get("body") and rec["body"]["type"] != "ApplicationReplaced":
                frames.append(json.dumps(rec["body"], separators=(",", ":")))
    return frames


def raw_floor(frames: list[str]) -> float:
    start = time.perf_counter()
    for frame in frames:
        json.loads(frame)
    return len(frames) / (time.perf_counter() - start)


async def adapter(frames: list[str]) -> tuple[float, list[float]]:
    client = AriClient("http://127.0.0.1:9", "u", "p", "callcenter", node="bench")
    started: dict[int, float] = {}
    latencies: list[float] = []

    def handler(event: AriEvent) -> None:
        latencies.append(time.perf_counter() - started.pop(id(event)))

    client.on("*", handler)
    start = time.perf_counter()
    for i in range(0, len(frames), BATCH):
        for frame in frames[i:i + BATCH]:
            t0 = time.perf_counter()
            event = client.handle_frame(frame)
            started[id(event)] = t0
        await client.dispatcher.drain()
    rate = len(frames) / (time.perf_counter() - start)
    await client.close()
    return rate, latencies


def main() -> None:
    # Log lines would dominate: keep only critical ones (structlog's default prints).
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    base = recorded_frames()
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    frames = (base * (total // len(base) + 1))[:total]
    # Best of 3 for both sides: the machine is shared, single runs are noisy.
    raw = max(raw_floor(frames) for _ in range(3))
    runs = [asyncio.run(adapter(frames)) for _ in range(3)]
    rate, lat = max(runs, key=lambda r: r[0])
    lat.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"ARI frames: {len(frames)} ({len(base)} recorded, repeated)")
    print(f"raw json.loads      : {raw:12,.0f} frames/s")
    print(f"adapter parse+dispatch: {rate:10,.0f} events/s")
    print(f"ratio adapter/raw   : {rate / raw:12.2f}  (goal >= 0.5)")
    print(f"dispatch latency p50: {lat[len(lat) // 2] * 1e6:8.1f} us   p99: {lat[int(len(lat) * 0.99)] * 1e6:8.1f} us"
          f"  (batches of {BATCH})")
    print(f"peak RSS            : {peak:8.1f} MiB")


if __name__ == "__main__":
    main()
