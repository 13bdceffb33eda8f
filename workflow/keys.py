"""What the workflow store offers other features, and what it takes from them (ServiceKeys).

- :data:`CALL_STATS` (taken): the hotline's answer rate, once the hotline provides it
  (``host.provide(CALL_STATS, …)`` in its ``load``; looked up at each evaluation, so the
  order of the features does not matter). Without it the evaluation shows the answer rate
  as unavailable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from callcenter.feature import ServiceKey


class CallStats(Protocol):
    """The hotline's figures for an area and a period."""

    async def answer_rate(self, area_path: str | None, start: datetime,
                          end: datetime) -> float | None:
        """Answered calls / offered calls in ``[start, end)``, or None without calls."""


CALL_STATS: ServiceKey[CallStats] = ServiceKey("hotline.call_stats")
