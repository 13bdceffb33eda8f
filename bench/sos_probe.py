"""What the SOS load run reads of the product: when each press arrived and its first
round's originates returned, and what its speech cost (``sos.py``)."""

from __future__ import annotations

import asyncio
import re
import resource
import time
from dataclasses import dataclass, field
from typing import Any

from ari_apps.sos.conference import SosConference
from callcenter.asterisk import AriClient, StasisStart

#: The legs begin() dials: 120, the first doctor, the first two kin, the social worker.
_FIRST_ROUND = re.compile(r"-(e0|d0|k0|k1|s0)$")


@dataclass
class Probe:
    """When each caller's StasisStart arrived and when each leg's originate returned."""

    arrived: dict[str, float] = field(default_factory=dict)
    originated: dict[str, float] = field(default_factory=dict)

    def attach(self, client: AriClient) -> None:
        handle_frame = client.handle_frame
        originate = client.channels.originate

        def timed_frame(frame: str | bytes) -> Any:
            received = time.perf_counter()
            event = handle_frame(frame)
            if isinstance(event, StasisStart) and event.args[:1] == ["sos"]:
                self.arrived[event.channel.id] = received
            return event

        async def timed_originate(*args: Any, **kwargs: Any) -> Any:
            result = await originate(*args, **kwargs)
            self.originated[kwargs["channel_id"]] = time.perf_counter()
            return result

        client.handle_frame = timed_frame  # type: ignore[method-assign]
        client.channels.originate = timed_originate  # type: ignore[method-assign]

    def latency(self, conference: SosConference) -> float:
        """StasisStart arrival → the last first-round originate returned, in seconds."""
        caller = next(iter(conference.legs))  # the elder's channel comes first
        first_round = [leg for leg in conference.legs if _FIRST_ROUND.search(leg)]
        return max(self.originated[leg] for leg in first_round) - self.arrived[caller]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def speech_settled(started: list[SosConference], within: float = 120.0) -> None:
    """Until every incident's speech was asked for and is made, failed or dropped."""
    async with asyncio.timeout(within):
        for c in started:
            await c.wait_for(lambda c: c._speech_asked or c.done.is_set(), within)
            tasks = [task for _, task in c.speech._tasks.values()]  # noqa: SLF001 - a bench
            await asyncio.gather(*tasks, return_exceptions=True)
