"""The hotline's bus topics (the contract with screenpop/wallboard) and what it offers in-process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from callcenter.bus import SERVERS_ONLY
from callcenter.feature import ServiceKey

if TYPE_CHECKING:
    from ari_apps.hotline.services import HotlineService

# Published by the hotline; the wallboard helper spells these strings literally.
CALL_ROUTED = "hotline.call.routed"  # on the way to a queue: who (the pop is read ahead)
CALL_RINGING = "hotline.call.ringing"
CALL_ANSWERED = "hotline.call.answered"
CALL_STOPPED_RINGING = "hotline.call.stopped_ringing"
CALL_ENDED = "hotline.call.ended"
QUEUE_CHANGED = "hotline.queue.changed"
AGENT_CHANGED = "hotline.agent.changed"
CALLBACKS_CHANGED = "hotline.callbacks.changed"
CONSULT_CHANGED = "hotline.call.consult"

#: Who hears the hotline's topics: raw facts with callers' numbers, so servers only (the
#: screen-pop and the wallboard narrow them for browsers).
AUDIENCE = SERVERS_ONLY

#: The hotline's call control (only in a process that runs the ``calls`` role).
HOTLINE: ServiceKey[HotlineService] = ServiceKey("hotline")

#: Commands a console process sends to the process with call control.
COMMAND_PREFIX = "hotline."
