"""After a restart of the product or of Asterisk: open call rows taken back or closed.

On every AMI FullyBooted the rows still open in the store (and the calls followed in
memory) are compared with what Asterisk holds (QueueStatus entries, CoreShowChannels): a
caller still queued or an answered call still up is followed again; a call that ended
while nobody listened is closed from what is known (answered: its talk time up to now;
otherwise abandoned, and called back). Nothing is left open, nothing is lost.

A queue call that has no row at all (routed by the classic-AGI fallback while the product
was down) is taken up too: still waiting, from its QueueStatus entry; talking to a known
agent, from the caller in ``Queue`` and the agent's leg (``AppQueue``) that Asterisk lists
in one bridge. A row of that id that exists already (ended: the caller stayed in
``Queue()`` after a transfer) is never touched. A row written on the caller's arrival that
the fallback routed meanwhile, still waiting, gets the channel's routing (who calls, why
first) instead of being followed as an unknown caller.
"""

from __future__ import annotations

from sqlalchemy import select

from ari_apps.hotline.agents import AgentState
from ari_apps.hotline.calls import CallTracker, LiveCall
from callcenter.asterisk import AmiClient, AmiEvent
from callcenter.calls.models import Call, CallKind, CallOutcome
from callcenter.logs import get_logger

log = get_logger(__name__)


async def reconcile(tracker: CallTracker, ami: AmiClient) -> None:
    """Take back the open rows Asterisk still has; close the others (never lost).

    Only calls that began before Asterisk was asked are judged: one routed while the
    answer was on its way is missing from it, not gone."""
    asked_at = tracker.clock()
    followed = {c.id for c in [*tracker.live.values(), *tracker.expected.values()]}
    entries = {e.get("Uniqueid"): e for e in await ami.queue_status() if e.name == "QueueEntry"}
    listed = await ami.core_show_channels()
    channels = {c.get("Uniqueid"): c for c in listed}
    async with tracker.sessions() as db:
        rows = list((await db.execute(select(Call).where(
            Call.ended_at.is_(None), Call.started_at < asked_at,
            Call.kind.in_([CallKind.HOTLINE.value, CallKind.CALLBACK.value])))).scalars())
    in_memory = {c.id: c for c in [*tracker.live.values(), *tracker.expected.values()]}
    known = {ident: c for ident, c in in_memory.items() if ident in followed}
    for row in rows:
        if row.id not in in_memory:  # followed ones are known; newer ones are not judged
            known[row.id] = _from_row(row)
    talking = _talking_in_queues(tracker, listed)
    for call in known.values():
        found = talking.get(call.uniqueid)
        if (found is not None and call.answered_at is None and call.parent_id is None
                and call.kind == CallKind.HOTLINE.value):
            # Its row never saw the queue (heard of on arrival, or routed) and an agent took
            # it while the product was down: taken up as talking, under that row.
            tracker.expected.pop(call.uniqueid, None)
            tracker.live.pop(call.uniqueid, None)
            await tracker.adopt(*found, row=call.id)
            continue
        if call.arrived and call.uniqueid in entries:
            # Heard of on arrival; the classic script routed it while the product was down.
            await tracker.waiting_found(entries[call.uniqueid], channels.get(call.uniqueid),
                                        arrival=call)
            continue
        await _reconciled(tracker, call, call.uniqueid in entries, call.uniqueid in channels)
    await _adopt(tracker, talking)
    await _take_up_waiting(tracker, entries, channels)
    log.info("hotline calls reconciled", open_rows=len(rows), live=len(tracker.live))


Talking = dict[str, tuple[AmiEvent, AmiEvent, AgentState]]


def _talking_in_queues(tracker: CallTracker, listed: list[AmiEvent]) -> Talking:
    """Each queue caller bridged with one known agent's leg, by the caller's uniqueid."""
    legs: dict[str, list[AmiEvent]] = {}
    for channel in listed:
        if channel.get("Application") == "AppQueue" and channel.get("BridgeId"):
            legs.setdefault(channel.get("BridgeId"), []).append(channel)
    talking: Talking = {}
    for caller in listed:
        bridge = caller.get("BridgeId")
        if caller.get("Application") != "Queue" or not bridge or len(legs.get(bridge, [])) != 1:
            continue
        leg = legs[bridge][0]
        agent = tracker.agents.by_channel(leg.get("Channel"))
        if agent is not None:
            talking[caller.get("Uniqueid")] = (caller, leg, agent)
    return talking


async def _adopt(tracker: CallTracker, talking: Talking) -> None:
    """Follow the answered queue calls no row stands for (see the module's docstring)."""
    followed = {c.uniqueid for c in [*tracker.live.values(), *tracker.expected.values(),
                                     *tracker.outside.values()]}
    for uniqueid, found in talking.items():
        if uniqueid not in followed:
            await tracker.adopt(*found)


async def _take_up_waiting(tracker: CallTracker, entries: dict[str, AmiEvent],
                           channels: dict[str, AmiEvent]) -> None:
    """Follow the queue callers still waiting that no row stands for (see the module's
    docstring): their answer, abandon and callback would otherwise go unrecorded."""
    followed = {c.uniqueid for c in [*tracker.live.values(), *tracker.expected.values(),
                                     *tracker.outside.values()]}
    for uniqueid, entry in entries.items():
        if uniqueid and uniqueid not in followed:
            await tracker.waiting_found(entry, channels.get(uniqueid))


def _from_row(row: Call) -> LiveCall:
    details = row.details or {}
    state = "talking" if row.answered_at else "waiting" if row.queued_at else "routed"
    return LiveCall(id=row.id, uniqueid=str(details.get("uniqueid") or row.id),
                    number=row.caller_number, kind=row.kind, caller_kind=row.caller_kind,
                    elder_id=row.elder_id, reason=str(details.get("reason", "")),
                    priority=row.priority, queue=row.queue, parent_id=row.parent_id,
                    started_at=row.started_at, queued_at=row.queued_at,
                    answered_at=row.answered_at, agent=row.agent, state=state,
                    agent_uniqueid=str(details.get("agent_uniqueid") or ""),
                    agent_channel=str(details.get("agent_channel") or ""),
                    callback_id=details.get("callback_id"),
                    adopted=bool(details.get("adopted")),
                    # Written on arrival and never routed since (a route names who routed).
                    arrived=row.kind == CallKind.HOTLINE.value and "routed_by" not in details
                    and row.queued_at is None and row.parent_id is None)


async def _reconciled(tracker: CallTracker, call: LiveCall, queued: bool,
                      exists: bool) -> None:
    uniqueid = call.uniqueid
    if queued or (exists and call.answered_at is not None):
        call.state = "waiting" if queued else "talking"
        tracker.expected.pop(uniqueid, None)
        tracker.live[uniqueid] = call
        return
    if exists:  # between the router and the queue
        tracker.live.pop(uniqueid, None)
        tracker.expected[uniqueid] = call
        return
    tracker.live.pop(uniqueid, None)
    tracker.expected.pop(uniqueid, None)
    now = tracker.clock()
    if call.answered_at is not None:
        await tracker.ended(call, CallOutcome.ANSWERED, hangup_cause="ended-unobserved",
                         talk_seconds=int((now - call.answered_at).total_seconds()))
        return
    if call.kind == CallKind.CALLBACK.value and call.queued_at is None:
        # A callback attempt that rang out unobserved (callbacks.recover retries it).
        await tracker.ended(call, CallOutcome.NO_ANSWER, hangup_cause="ended-unobserved")
        return
    since = call.queued_at or call.started_at or now
    waited = int((now - since).total_seconds())
    short = waited < tracker.settings.hotline_short_abandon_seconds
    await tracker.ended(call, CallOutcome.SHORT_ABANDON if short else CallOutcome.ABANDONED,
                     wait_seconds=waited, hangup_cause="ended-unobserved")
