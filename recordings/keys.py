"""What the recordings feature offers other features and its web part (``Host.get``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.feature import ServiceKey

if TYPE_CHECKING:
    from recordings.capture import Capture
    from recordings.holds import HoldService
    from recordings.services import Recordings

#: ``place_hold`` / ``release_hold`` / ``release_case``: the complaint workflow's holds.
HOLDS: ServiceKey[HoldService] = ServiceKey("recordings.holds")
#: Takes recordings into the store (every process that loads the feature).
CAPTURE: ServiceKey[Capture] = ServiceKey("recordings.capture")
#: The feature's objects (store, policy, sweeper) for its web part.
RECORDINGS: ServiceKey[Recordings] = ServiceKey("recordings")
