"""The care calls' floor: the same originates, prompts and keys by a bare ARI script.

For every number: originate into the app (as many at once and per second as the product
is allowed), play the greeting on answer, play the goodbye on key 1, hang up when it ends.
No store, no scheduler, no timeline: what the PBX side of a care call costs by itself.
Run as ``python bench/carecalls_floor.py ARI_URL NUMBERS_FILE PER_TRUNK RATE``; prints one
JSON line (calls, seconds, calls/s, peak RSS).
"""

from __future__ import annotations

import asyncio
import base64
import sys
import time
from pathlib import Path

import aiohttp
import orjson

GREETING = "sound:callcenter/care-greeting"
GOODBYE = "sound:vm-goodbye"


async def run(ari_url: str, numbers: list[str], per_trunk: int, rate: float) -> dict[str, float]:
    auth = {"Authorization": "Basic " + base64.b64encode(b"callcenter:callcenter").decode()}
    base = ari_url.rstrip("/") + "/ari"
    slots = asyncio.Semaphore(per_trunk)
    done = asyncio.Event()
    finished = 0
    goodbyes: set[str] = set()
    ws_url = base.replace("http", "ws", 1) + "/events?app=callcenter&subscribeAll=false"
    async with aiohttp.ClientSession(headers=auth) as http, http.ws_connect(ws_url) as ws:

        async def post(path: str, **params: str) -> None:
            async with http.post(base + path, params=params) as response:
                await response.read()

        async def events() -> None:
            nonlocal finished
            async for frame in ws:
                event = orjson.loads(frame.data)
                kind = event["type"]
                if kind == "StasisStart":
                    await post(f"/channels/{event['channel']['id']}/play", media=GREETING)
                elif kind == "ChannelDtmfReceived" and event["digit"] == "1":
                    channel = event["channel"]["id"]
                    goodbyes.add(channel)
                    await post(f"/channels/{channel}/play", media=GOODBYE)
                elif kind == "PlaybackFinished":
                    channel = event["playback"]["target_uri"].partition(":")[2]
                    if channel in goodbyes and event["playback"]["media_uri"] == GOODBYE:
                        async with http.delete(f"{base}/channels/{channel}") as response:
                            await response.read()
                elif kind == "ChannelDestroyed":
                    slots.release()
                    finished += 1
                    if finished == len(numbers):
                        done.set()

        reader = asyncio.get_running_loop().create_task(events())
        started = time.perf_counter()
        next_start = started
        for index, number in enumerate(numbers):
            await slots.acquire()
            wait = next_start - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            next_start = max(next_start, time.perf_counter()) + 1.0 / rate
            await post("/channels", endpoint=f"PJSIP/{number}@trunk", app="callcenter",
                       appArgs="care,floor,1", channelId=f"floor-{index}", timeout="60",
                       callerId="12349 <12349>")
        await done.wait()
        seconds = time.perf_counter() - started
        reader.cancel()
    return {"calls": len(numbers), "seconds": seconds, "calls_per_second": len(numbers) / seconds,
            "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """This process's peak resident memory."""
    status = dict(line.split(":", 1) for line in
                  Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(status["VmHWM"].split()[0]) / 1024


if __name__ == "__main__":
    url, numbers_file, trunk, per_second = sys.argv[1:5]
    wanted = Path(numbers_file).read_text().split()
    print(orjson.dumps(asyncio.run(run(url, wanted, int(trunk), float(per_second)))).decode())
