"""The PBX side of bench/screenpop.py, in a process of its own: two simulators (the
product's and the bare relay's) and the calls made on them, each ``AgentCalled`` timed as
it is written. The measuring process (the consoles' sockets) only receives frames, so its
own event loop adds the same small delay to every path.

It prints one JSON line with its simulators' addresses, then reads one JSON command a line
on stdin (``{"path": "bare relay" | "product", "rate": …, "seconds": …, "agents": […],
"numbers": […]}``), drives it and prints one JSON line with the send times
(``time.perf_counter``: CLOCK_MONOTONIC, one clock for every process of the machine).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from callcenter.pbxsim.objects import CallerId
from callcenter.pbxsim.server import PbxSimulator

QUEUE = "hotline"
#: ``Playback(one-moment-please)`` in ``[hotline-entry]``, between the arrival and the route.
GREETING_SECONDS = 1.0
#: The relay alongside gets its copy of a ringing this long after the product: written at
#: the same instant, its wake-up took one of the two cores from the product's own pop
#: (half a call's interval at 50 calls a second; the load it measures is the same).
ALONGSIDE_AFTER = 0.010


async def paced(rate: float, seconds: float) -> AsyncIterator[int]:
    """``rate`` ticks a second for ``seconds``, on schedule (not each after the last's work)."""
    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = started + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        yield n


class Calls:
    """Calls as Asterisk makes them: ``[hotline-entry]``'s arrival event, a greeting, the
    FastAGI route into the product with the dialplan's three arguments, then app_queue's
    events (``QueueCallerJoin`` and at once ``AgentCalled``; a second later the answer and
    the hang-up). The bare relay gets each of the product's ``AgentCalled`` too, 10 ms
    later: the floor under the load the product's calls put on the machine."""

    def __init__(self, product: PbxSimulator, relay: PbxSimulator, agi_url: str) -> None:
        self.product, self.relay = product, relay
        self.agi_url = agi_url
        self.numbers = itertools.count(1)
        self.tasks: set[asyncio.Task[None]] = set()
        self.sent: dict[str, dict[str, float]] = {}

    def _sent(self, path: str, call_id: str) -> None:
        self.sent.setdefault(path, {})[call_id] = time.perf_counter()

    def relay_only(self, call_id: str, agent: str, _number: str) -> None:
        self._sent("bare relay", call_id)
        self.relay.model.ami_event("AgentCalled", {
            "Queue": QUEUE, "MemberName": agent, "Interface": f"PJSIP/{agent}",
            "CallerIDNum": "13800138000", "Uniqueid": call_id, "Linkedid": call_id})

    def product_call(self, _call_id: str, agent: str, number: str) -> None:
        task = asyncio.get_running_loop().create_task(self._call(agent, number))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _call(self, agent: str, number: str) -> None:
        model = self.product.model
        ch = model.new_channel(f"PJSIP/trunk-{next(self.numbers):08x}", "PJSIP", state="Ring",
                               context="hotline-entry", exten="12349",
                               caller=CallerId(number=number))
        model.ami_event("UserEvent", {**ch.ami(), "UserEvent": "CallcenterHotline",
                                      "Stage": "arrived", "CareCall": ""})
        model.set_state(ch, "Up")
        await asyncio.sleep(GREETING_SECONDS)
        agi = self.product.dialplan.agi
        assert agi is not None
        # AGI(agi://…/hotline,${CALLCENTER_PRIORITY},${CALLCENTER_CARE_CALL},${CHANNEL(linkedid)})
        if await agi.run(ch, self.agi_url, ["", "", ch.linkedid]) != "SUCCESS":
            print("the product's FastAGI did not answer", file=sys.stderr)
            return
        model.ami_event("QueueCallerJoin", {**ch.ami(), "Queue": QUEUE, "Position": "1",
                                            "Count": "1"})
        member = model.new_channel(f"PJSIP/{agent}-{next(self.numbers):08x}", "PJSIP",
                                   state="Ringing", context="from-queue", exten=agent,
                                   linkedid=ch.linkedid)
        called = {**ch.ami(), **member.ami("Dest"), "Queue": QUEUE,
                  "Interface": f"PJSIP/{agent}", "MemberName": agent}
        self._sent("product", ch.linkedid)
        model.ami_event("AgentCalled", called)
        asyncio.get_running_loop().call_later(ALONGSIDE_AFTER, self._alongside, called)
        await asyncio.sleep(1.0)  # the agent answers, talks a moment and hangs up
        model.set_state(member, "Up")
        model.ami_event("AgentConnect", {**called, "HoldTime": "1", "RingTime": "1"})
        model.ami_event("AgentComplete", {**called, "HoldTime": "1", "TalkTime": "0",
                                          "Reason": "agent"})
        model.destroy(member, 16)
        model.destroy(ch, 16)

    def _alongside(self, called: dict[str, str]) -> None:
        self._sent("bare relay alongside", called["Linkedid"])
        self.relay.model.ami_event("AgentCalled", called)

    async def drive(self, command: dict[str, Any], ids: itertools.count[int]) -> None:
        """``rate`` calls a second for ``seconds``, on schedule (not after each other)."""
        send = self.product_call if command["path"] == "product" else self.relay_only
        agents, numbers, rate = command["agents"], command["numbers"], float(command["rate"])
        async for _ in paced(rate, float(command["seconds"])):
            send(f"bench-{next(ids)}", random.choice(agents), random.choice(numbers))
        while self.tasks:  # the last calls' answers and hang-ups
            await asyncio.gather(*self.tasks, return_exceptions=True)


async def serve(agi_port: int) -> None:
    product, relay = (PbxSimulator(ari_port=0, ami_port=0, control_port=0) for _ in range(2))
    await product.start()
    await relay.start()
    calls = Calls(product, relay, f"agi://127.0.0.1:{agi_port}/hotline")
    print(orjson.dumps({"product": {"ari_url": product.ari_url, "host": product.host,
                                    "ami_port": product.ami_port, "user": product.user,
                                    "password": product.password},
                        "relay": {"ami_port": relay.ami_port}}).decode(), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    ids = itertools.count(1)
    try:
        while line := await reader.readline():
            calls.sent.clear()
            await calls.drive(orjson.loads(line), ids)
            print(orjson.dumps(calls.sent).decode(), flush=True)
    finally:
        await product.stop()
        await relay.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agi-port", type=int, required=True)
    asyncio.run(serve(parser.parse_args().agi_port))


if __name__ == "__main__":
    main()
