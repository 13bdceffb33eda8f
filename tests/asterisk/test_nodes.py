"""Several nodes: events tagged with their node, commands routed to the owning node."""

from __future__ import annotations

import asyncio

from ari_replay import AriReplayServer, WsScript, frames_of, load_trace, ws_bodies
from conftest import make_client

from callcenter.asterisk import AriEvent, AsteriskCluster, StasisStart
from callcenter.asterisk.nodes import UnknownOwner
from callcenter.settings import AsteriskNode, Settings

WAIT = 5.0


async def test_events_carry_node_and_commands_go_to_the_owner() -> None:
    s1 = AriReplayServer(records=load_trace("ari-sos-conference.jsonl"))
    s2 = AriReplayServer(records=load_trace("ari-snoop.jsonl"))
    for server in (s1, s2):
        await server.start()
    s1.scripts.append(WsScript(frames_of(ws_bodies(s1.records)[:1]), then="hold"))
    s2.scripts.append(WsScript(frames_of(ws_bodies(s2.records)[:1]), then="hold"))
    c1 = make_client(s1)
    c2 = make_client(s2)
    c2.node = "pbx2"
    c2.rest.node = "pbx2"
    cluster = AsteriskCluster([c1, c2])
    starts: dict[str, StasisStart] = {}
    both: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_start(event: AriEvent) -> None:
        assert isinstance(event, StasisStart)
        starts[event.node] = event
        if len(starts) == 2:
            both.set_result(None)

    cluster.on(StasisStart, on_start)
    await cluster.start()
    async with asyncio.timeout(WAIT):
        await both
        owner1 = await cluster.for_channel(starts["pbx1"].channel.id)
        owner2 = await cluster.for_channel(starts["pbx2"].channel.id)
        try:
            await cluster.for_bridge("nowhere")
            raised = False
        except UnknownOwner:
            raised = True
    await cluster.close()
    for server in (s1, s2):
        await server.close()
    assert owner1 is c1 and owner2 is c2
    assert raised


def test_cluster_from_settings_builds_one_client_pair_per_node() -> None:
    settings = Settings(asterisk_nodes=[AsteriskNode(name="pbx2", ari_url="http://10.0.0.2:8088",
                                                     ami_host="10.0.0.2")])
    cluster = AsteriskCluster.from_settings(settings)
    assert list(cluster.ari) == ["default", "pbx2"] and list(cluster.ami) == ["default", "pbx2"]
    assert cluster.ari["pbx2"].base_url == "http://10.0.0.2:8088"
    assert cluster.ami["pbx2"].host == "10.0.0.2"
