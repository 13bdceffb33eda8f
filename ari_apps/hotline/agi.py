"""The FastAGI ``hotline`` route: ``[hotline-entry]`` asks who is calling and where they go.

Whatever the request lacks (no caller id, ``unknown``, letters, no uniqueid) the call is
routed: an unidentified caller to the default queue at normal priority. When the store
does not answer within ``LOOKUP_SECONDS`` the default decision is taken (logged), so a
slow database never holds a caller in silence. The variables set are those of
:meth:`RoutingDecision.variables`, with ``CALLCENTER_AGI_STATUS=OK`` in the same exchange
(the dialplan checks it before it falls back to the classic script).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from ari_apps.hotline.calls import CallTracker, LiveCall
from ari_apps.hotline.routing import LOOKUP_SECONDS, decide, default_decision, raised_for_care
from ari_apps.hotline.rules import CARE_CALL_VARIABLE, CARE_PRIORITY_VARIABLE, REASON_VARIABLE
from callcenter.asterisk import AgiHangup, AgiSession
from callcenter.logs import get_logger
from callcenter.settings import Settings
from callcenter.store.direct import DirectStatements

log = get_logger(__name__)
ROUTE = "hotline"
#: What the dialplan passes as the route's arguments, in order.
FACT_ARGUMENTS = (CARE_PRIORITY_VARIABLE, CARE_CALL_VARIABLE, "CHANNEL(linkedid)")


class HotlineRoute:
    """The FastAGI endpoint (``agi://host:port/hotline``)."""

    def __init__(self, reads: DirectStatements, settings: Settings, tracker: CallTracker,
                 clock: Callable[[], datetime]) -> None:
        self.reads = reads
        self.settings = settings
        self.tracker = tracker
        self.clock = clock

    async def serve(self, session: AgiSession) -> None:
        """Route one call."""
        request = session.request
        number = request.callerid if request.callerid.replace("+", "").isdigit() else ""
        now = self.clock()
        this_call = self.tracker.arrived_as(request.uniqueid)
        try:
            async with asyncio.timeout(LOOKUP_SECONDS):
                decision = await self.reads.run(
                    lambda reader: decide(reader, self.settings, number, now, this_call))
        except Exception as err:  # noqa: BLE001 - any store trouble: route by default
            log.warning("hotline routing without the store", error=f"{type(err).__name__}")
            decision = default_decision(self.settings, now)
        call: LiveCall | None = None
        try:
            asked, care_call, linkedid = await _channel_facts(session)
            decision = raised_for_care(decision, asked)
            # Read before the decision's variables replace it: the care call's own words.
            care_reason = (await session.get_variable(REASON_VARIABLE) or "") if care_call else ""
            call = self.tracker.routing(request.uniqueid, linkedid or request.uniqueid, number,
                                        decision, care_call, care_reason) if request.uniqueid else None
            await session.set_variables(decision.variables(), last=True)
        except AgiHangup:
            # The caller hung up while the route asked and answered: a call all the same (a
            # confused elder who hangs up may still need help), recorded and called back.
            if request.uniqueid:
                call = call or self.tracker.routing(request.uniqueid, request.uniqueid, number,
                                                    decision)
                await self.tracker.routed(call, callback_pending=decision.callback_pending)
                await self.tracker.left_before_a_queue(call, "hung up during the route")
            raise
        if call is not None:
            await self.tracker.routed(call, callback_pending=decision.callback_pending)
        log.info("hotline call routed", uniqueid=request.uniqueid, queue=decision.queue,
                 priority=decision.priority, caller_kind=decision.caller_kind,
                 reason=decision.reason)


async def _channel_facts(session: AgiSession) -> tuple[str, str, str]:
    """The care call's priority and id and the call's linkedid: the three arguments the
    rendered ``[hotline-entry]`` passes (``AGI(…/hotline,${CALLCENTER_PRIORITY},
    ${CALLCENTER_CARE_CALL},${CHANNEL(linkedid)})``, no round trip); asked for one by one
    when the request does not carry exactly three (a dialplan rendered before, or a value
    with a comma in it)."""
    if len(session.request.args) == len(FACT_ARGUMENTS):
        asked, care_call, linkedid = session.request.args
        return asked, care_call, linkedid
    asked, care_call, linkedid = [await session.get_variable(name) or ""
                                  for name in FACT_ARGUMENTS]
    return asked, care_call, linkedid
