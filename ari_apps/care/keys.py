"""What the care feature offers its web part and other features in a process (``Host.get``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.feature import ServiceKey

if TYPE_CHECKING:
    from ari_apps.care.app import CareApp

#: The care calls of this process (only in a process that runs the ``calls`` role).
CARE: ServiceKey[CareApp] = ServiceKey("care")
