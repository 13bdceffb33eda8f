"""Device alarms run on the SOS app: the SOS scenario fixtures, shared."""

from __future__ import annotations

from tests.sos.conftest import seeded, sim, sos  # noqa: F401
