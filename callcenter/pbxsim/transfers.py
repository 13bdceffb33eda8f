"""Attended transfers (AMI ``Atxfer`` / ``CancelAtxfer``) as Asterisk 22's bridge_basic.c runs them.

``Atxfer`` queues the ``atxfer`` feature code of features.conf's ``[featuremap]`` (then the
extension) as DTMF on the transferer's channel; only a channel whose bridge grants it the
transfer features (``Dial``/``Queue`` option ``t``) starts a transfer, else the digits
pass through unheard. ``TRANSFER_EXTEN`` on the transferer (Asterisk ≥ 19) names the
target without digit collection. Then the state machine of bridge_basic.c:

- *calling target*: ``Hold`` on the transferer; ``Local/<exten>@<context>`` (no ``/n``)
  is requested with the transferer as requestor (same linkedid, ``TRANSFERERNAME`` and
  ``ATTENDEDTRANSFER`` set), the transferee hears hold music (MusicOnHoldStart), the
  ``;1`` half waits in a new bridge (state Down) and the transferer moves there; the
  ``;2`` half runs the dialplan;
- the target answers (``Newstate`` Up of ``;2`` then ``;1``) → *consulting*;
- the target hangs up, does not answer within ``atxfernoanswertimeout``, or the abort
  code comes (``CancelAtxfer``) → *rebridge*: ``;1`` is hung up, the transferer goes back
  to the transferee, who is unheld. No AttendedTransfer event is published then;
- the transferer hangs up → *complete* (or *blond* while the target still rings): the
  target's bridge merges into the transferee's, ``AttendedTransfer`` ``Result: Success``,
  and app_queue ends the agent's queue call with ``AgentComplete`` ``Reason: transfer``;
- the transferee hangs up → *fail*: ``AttendedTransfer`` ``Result: Fail``.

The order follows Asterisk 22.10.1 as observed on loopback (tests/data/asterisk/traces/
README.md, "Attended transfer") and its source where nothing was observed (app_queue's
AgentComplete, no-answer and abort).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from callcenter.pbxsim.calls import Calls, Leg, Target
from callcenter.pbxsim.model import Model
from callcenter.pbxsim.objects import Bridge, Channel
from callcenter.pbxsim.people import dialplan_person
from callcenter.pbxsim.queues import Queues

STEP = 0.25  # seconds of PBX time between looks at the transfer's parties


@dataclass
class Consult:
    """One attended transfer in progress."""

    transferer: Channel
    transferee: Channel
    home: Bridge  # the transferee's bridge
    consult: Bridge  # the transferer's bridge with the target
    leg: Leg  # Local/<exten>@<context>: ;1 joins the consult bridge, ;2 runs the dialplan
    state: str = "calling"  # calling, consulting, then done
    abort: bool = False


class AttendedTransfers:
    """Atxfer and CancelAtxfer on the simulated bridges."""

    def __init__(self, model: Model, calls: Calls, queues: Queues,
                 run_extension: Callable[[Channel], Coroutine[Any, Any, None]]) -> None:
        self.model = model
        self.calls = calls
        self.queues = queues
        self._run_extension = run_extension
        #: features.conf: ``[featuremap] atxfer`` (empty: none, as Asterisk's default) and
        #: ``atxferabort``; ``atxfernoanswertimeout`` in seconds.
        self.feature_code = "*2"
        self.abort_code = "*1"
        self.no_answer_timeout = 15.0
        self.active: dict[str, Consult] = {}  # by the transferer's channel id
        calls.detach_hooks.insert(0, self._on_detach)

    def start(self, transferer: Channel, context: str, exten: str) -> None:
        """The queued DTMF reached the bridge: start the transfer if the features allow it."""
        if context:
            self.model.set_var(transferer, "TRANSFER_CONTEXT", context)
        home = transferer.bridge
        if home is None or not transferer.may_transfer or transferer.id in self.active:
            return  # the digits pass through the bridge: nothing happens
        context = context or transferer.variables.get("TRANSFER_CONTEXT", "") \
            or transferer.context
        exten = transferer.variables.get("TRANSFER_EXTEN") or exten
        others = [c for c in home.channels if c is not transferer]
        if not others:
            return
        transferee = others[0]
        home.held = True
        self.model.ami_event("Hold", transferer.ami())
        leg = self.calls.new_leg(Target("Local", f"{exten}@{context}", context=context,
                                        exten=exten), linkedid=transferer.linkedid,
                                 app_name="AppDial2")
        far = leg.far
        assert far is not None
        for half in (leg.ch, far):
            self.model.set_var(half, "TRANSFERERNAME", transferer.name)
            self.model.set_var(half, "ATTENDEDTRANSFER", transferer.name)
        # copy_caller_data: ;1's connected line is the transferer's caller; ;2 shows it as
        # its caller id (the transferee's number, which the agent's leg carries).
        leg.ch.connected = transferer.caller
        far.caller = transferer.caller
        far.variables.update({k: v for k, v in transferer.variables.items()
                              if k.startswith("_")})
        self.model.ami_event("MusicOnHoldStart", {**transferee.ami(), "Class": "default"})
        consult = Bridge(str(uuid.uuid4()), "basic", "", self.model.clock.now(), creator="",
                         bridge_class="basic")
        consult.held = True
        self.model.ami_event("BridgeCreate", consult.ami())
        # The target's ;1 waits in the new bridge while it rings (state Down, as 22.10.1
        # shows it); the transferer moves there (calling_target_enter).
        self.model.enter_bridge(consult, leg.ch)
        self.model.enter_bridge(consult, transferer)
        self.queues.transferring.add(transferer.id)
        run = self.active[transferer.id] = Consult(transferer, transferee, home, consult, leg)
        if dialplan_person(context, exten) is not None:  # the traces' scripted parties
            self.model.spawn(self.calls.run_leg(leg, self.no_answer_timeout + 1))
        else:
            far.task = self.model.spawn(self._run_extension(far))
        self.model.spawn(self._watch(run))

    def cancel(self, transferer: Channel) -> None:
        """The abort code (CancelAtxfer): back to the transferee."""
        run = self.active.get(transferer.id)
        if run is not None:
            run.abort = True

    async def _watch(self, run: Consult) -> None:
        clock = self.model.clock
        deadline = clock.elapsed() + self.no_answer_timeout
        one, far = run.leg.ch, run.leg.far
        assert far is not None
        while run.state in ("calling", "consulting"):
            if run.abort or one.gone or far.gone:
                self._rebridge(run)
                return
            if run.state == "calling":
                if far.bridge is not None or far.state == "Up":
                    self._answered(run)
                elif clock.elapsed() >= deadline:
                    self._rebridge(run)
                    return
            await clock.sleep(STEP)

    def _answered(self, run: Consult) -> None:
        one, far = run.leg.ch, run.leg.far
        assert far is not None
        run.state = "consulting"
        self.model.set_state(far, "Up")
        self.model.set_state(one, "Up")

    def _rebridge(self, run: Consult) -> None:
        """The target is gone, did not answer, or the transfer was aborted."""
        run.state = "done"
        self.active.pop(run.transferer.id, None)
        self.queues.transferring.discard(run.transferer.id)
        if not run.leg.ch.gone:
            self.calls.hangup(run.leg.ch, 16)
        if run.transferer.gone or run.transferee.gone:
            return
        self.model.enter_bridge(run.home, run.transferer)
        self.model.ami_event("BridgeDestroy", run.consult.ami())
        run.home.held = False
        self.model.ami_event("Unhold", run.transferer.ami())
        self.model.ami_event("MusicOnHoldStop", run.transferee.ami())

    def _on_detach(self, ch: Channel) -> None:
        """A party of a transfer hangs up (before app_queue and the bridges hear of it)."""
        for run in list(self.active.values()):
            if ch is run.transferer:
                self._complete(run)
            elif ch is run.transferee:
                self._fail(run)

    def _complete(self, run: Consult) -> None:
        """Transferer hung up: the target's bridge merges into the transferee's (22.10.1
        shows the target's BridgeLeave/BridgeEnter after AttendedTransfer, no BridgeMerge)."""
        run.state = "done"
        self.active.pop(run.transferer.id, None)
        one = run.leg.ch
        self.model.leave_bridge(run.transferer, quiet_vars=True)
        self.model.ami_event("AttendedTransfer", self._transfer_fields(run, "Success"))
        run.home.held = False
        if not one.gone:
            self.model.enter_bridge(run.home, one)
        self.model.ami_event("MusicOnHoldStop", run.transferee.ami())
        self.model.ami_event("BridgeDestroy", run.consult.ami())
        self.queues.transferred(run.transferer)

    def _fail(self, run: Consult) -> None:
        run.state = "done"
        self.active.pop(run.transferer.id, None)
        self.queues.transferring.discard(run.transferer.id)
        run.home.held = False
        self.model.ami_event("AttendedTransfer", self._transfer_fields(run, "Fail"))

    def _transfer_fields(self, run: Consult, result: str) -> dict[str, str]:
        # Asterisk 22.10.1 leaves TransferTarget* out about half the time when the
        # transferer's hang-up completes (a race in bridge_basic.c get_transfer_parties());
        # the product reads none of these fields.
        return {**_prefixed(run.home.ami(), "Orig"), **run.transferer.ami("OrigTransferer"),
                **_prefixed(run.consult.ami(), "Second"),
                **run.transferer.ami("SecondTransferer"), "IsExternal": "No",
                "DestType": "Bridge", "DestBridgeUniqueid": run.home.id,
                **run.transferee.ami("Transferee"), **run.leg.ch.ami("TransferTarget"),
                "Result": result}


def _prefixed(fields: dict[str, str], prefix: str) -> dict[str, str]:
    """AMI's multi-bridge blocks: ``OrigBridgeUniqueid``, ``SecondBridgeType``…"""
    return {f"{prefix}{k}": v for k, v in fields.items()}
