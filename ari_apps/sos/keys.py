"""What the SOS feature offers other features and its web part in a process (``Host.get``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.feature import ServiceKey

if TYPE_CHECKING:
    from ari_apps.sos.notifier import SosNotifier
    from ari_apps.sos.stasis import SosApp
    from ari_apps.sos.store import IncidentRecorder

#: The SOS Stasis app (only in a process that runs the ``calls`` role).
SOS: ServiceKey[SosApp] = ServiceKey("sos")
RECORDER: ServiceKey[IncidentRecorder] = ServiceKey("sos.recorder")
NOTIFIER: ServiceKey[SosNotifier] = ServiceKey("sos.notifier")
