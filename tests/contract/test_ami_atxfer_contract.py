"""The AMI attended transfer the hotline's consultations rely on (consult.py): ``Setvar``
``TRANSFER_EXTEN``, ``Atxfer``, ``CancelAtxfer`` and the events that follow, on the traces'
dialplan.

The call: an originated ``Local/agent1@agents-sim/n`` (answered after 2 s) runs
``Dial(Local/answer2@people/n,20,T)``: it may transfer (option ``T``), as a hotline agent
may in ``Queue(…,t)``, and it is the transferer. Its ``FEATUREMAP(atxfer)`` is set by the
originate, so the test needs no features.conf of its own (the product's rendered
features.conf maps the code for every channel)."""

from __future__ import annotations

import pytest

from callcenter.asterisk import AmiActionError, AmiEvent
from contract.conftest import Ami, Pbx, ami_event

CALLER = "Local/agent1@agents-sim/n"
CALLEE = "Local/answer2@people/n"
TARGET = "Local/answer@people-"  # the consultation's Local channel (no /n: Asterisk's own)


async def bridged_call(pbx: Pbx, ami: Ami, start: int) -> tuple[AmiEvent, AmiEvent]:
    """(the transferer's BridgeEnter, the transferee's) once both are in one bridge."""
    placed = await pbx.run(ami.client.originate(CALLER, application="Dial",
                                                data=f"{CALLEE},20,T",
                                                caller_id="Caller <5551234>",
                                                variables={"FEATUREMAP(atxfer)": "*2"}))
    linkedid = placed.uniqueid  # other clients' calls may use the same scripted parties
    transferer = await ami.seen.wait_for(
        lambda e: e.name == "BridgeEnter" and e.get("Linkedid") == linkedid
        and e.get("Channel").startswith("Local/agent1@agents-sim-"), start)
    transferee = await ami.seen.wait_for(
        lambda e: e.name == "BridgeEnter" and e.get("Linkedid") == linkedid
        and e.get("Channel").startswith("Local/answer2@people-")
        and e.get("BridgeUniqueid") == transferer.get("BridgeUniqueid"), start)
    return transferer, transferee


async def test_atxfer_consults_then_completes_when_the_transferer_hangs_up(
        pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    start = ami.seen.mark()
    agent, caller = await bridged_call(pbx, ami, start)
    transferer = agent.get("Channel")
    await client.set_var(transferer, "TRANSFER_EXTEN", "answer")
    resp = await client.attended_transfer(transferer, "people", "0")
    assert resp.message == "Atxfer successfully queued"
    mark = ami.seen.mark()
    # The consultation is requested by the transferer: it carries the call's linkedid.
    local = await ami.seen.wait_for(
        lambda e: e.name == "Newchannel" and e.get("Channel").startswith(TARGET)
        and e.get("Channel").endswith(";1") and e.get("Linkedid") == agent.get("Linkedid"),
        mark)
    await ami.seen.wait_for(ami_event("Newstate", Uniqueid=local.get("Uniqueid"),
                                      ChannelState="6"), mark)
    consultation = await ami.seen.wait_for(ami_event("BridgeEnter",
                                                     Uniqueid=local.get("Uniqueid")), mark)
    await client.hangup(transferer, cause=16)
    done = await ami.seen.wait_for(ami_event("AttendedTransfer",
                                             OrigTransfererChannel=transferer), mark)
    assert done.get("Result") == "Success"
    assert done.get("TransfereeChannel") == caller.get("Channel")
    # The two bridges: the caller's (kept, the destination) and the consultation's.
    assert done.get("OrigBridgeUniqueid") == caller.get("BridgeUniqueid")
    assert done.get("DestBridgeUniqueid") == caller.get("BridgeUniqueid")
    assert done.get("SecondBridgeUniqueid") == consultation.get("BridgeUniqueid")
    # Asterisk 22.10.1 leaves the TransferTarget* fields out about half the time when the
    # transferer's hang-up completes the transfer: bridge_basic.c get_transfer_parties()
    # races the transferer leaving the consultation bridge. The product never reads them.
    assert done.headers.get("TransferTargetChannel") in (None, local.get("Channel"))
    # The consultation's channel joins the caller's bridge (the target bridge merged in).
    await ami.seen.wait_for(ami_event("BridgeEnter", Uniqueid=local.get("Uniqueid"),
                                      BridgeUniqueid=caller.get("BridgeUniqueid")), mark)
    await client.hangup(caller.get("Channel"), cause=16)


async def test_cancel_atxfer_hangs_the_target_up_and_rebridges_without_an_event(
        pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    start = ami.seen.mark()
    agent, caller = await bridged_call(pbx, ami, start)
    transferer = agent.get("Channel")
    await client.set_var(transferer, "TRANSFER_EXTEN", "answer")
    mark = ami.seen.mark()
    await client.attended_transfer(transferer, "people", "0")
    local = await ami.seen.wait_for(
        lambda e: e.name == "Newchannel" and e.get("Channel").startswith(TARGET)
        and e.get("Channel").endswith(";1") and e.get("Linkedid") == agent.get("Linkedid"),
        mark)
    await ami.seen.wait_for(ami_event("Newstate", Uniqueid=local.get("Uniqueid"),
                                      ChannelState="6"), mark)
    resp = await client.cancel_attended_transfer(transferer)
    assert resp.message == "CancelAtxfer successfully queued"
    await ami.seen.wait_for(ami_event("Hangup", Uniqueid=local.get("Uniqueid")), mark)
    back = await ami.seen.wait_for(ami_event("BridgeEnter", Channel=transferer,
                                             BridgeUniqueid=caller.get("BridgeUniqueid")), mark)
    assert back.get("Linkedid") == agent.get("Linkedid")
    assert not [e for e in ami.seen.events[mark:] if e.name == "AttendedTransfer"
                and e.get("OrigTransfererChannel") == transferer]
    await client.hangup(caller.get("Channel"), cause=16)


async def test_atxfer_errors_are_clear(pbx: Pbx, ami: Ami) -> None:
    client = ami.client
    with pytest.raises(AmiActionError, match="Channel specified does not exist"):
        await client.attended_transfer("PJSIP/nobody-00000000", "people", "0")
    with pytest.raises(AmiActionError, match="No extension specified"):
        await client.send_action({"Action": "Atxfer", "Channel": "PJSIP/nobody-00000000"})
    with pytest.raises(AmiActionError, match="Channel specified does not exist"):
        await client.cancel_attended_transfer("PJSIP/nobody-00000000")
