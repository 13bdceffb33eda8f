"""The demo's hotline traffic: scripted callers into the queue, scripted agents who answer,
pause and wrap up (part of the composition root, with ``demo.py``).

The simulator runs the rendered ``[hotline-entry]`` dialplan: FastAGI to the product, the
pyst2 fallback script from ``DATA_DIR/agi-bin`` when it does not answer, then the queue.
Demo agents with a softphone log in to the queues; their phones ring 2-4 s and answer;
callers talk a while and hang up, or give up waiting (and are called back). Now and then
an agent takes a break and comes back. The wallboard and the call list move.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from sqlalchemy import select

from callcenter.commands import CommandTimeout
from callcenter.errors import DomainError
from callcenter.feature import Host
from callcenter.logs import get_logger
from callcenter.pbxsim.people import Person
from callcenter.pbxsim.queues import Queue
from callcenter.pbxsim.server import PbxSimulator
from callcenter.store.models import Elder, ElderPhone, ElderStatus, Role, User
from dialplan.render import write_fallback_script

log = get_logger(__name__)
STRANGERS = ("13512340001", "13512340002", "13512340003")


@dataclass(frozen=True)
class HotlineTraffic:
    """How busy the demo hotline is."""

    calls_every: float = 20.0  # mean seconds between callers
    break_every: float = 240.0  # mean seconds between an agent's breaks
    break_seconds: float = 60.0


def prepare_simulator(sim: PbxSimulator, product: Host) -> None:
    """Point the simulated dialplan at the product's FastAGI route, fallback and queues."""
    settings = product.runtime.settings
    hotline = sim.dialplan.hotline
    hotline.agi_url = f"agi://{settings.agi_bind}/hotline"
    hotline.agi_bin = write_fallback_script(settings.data_dir / "agi-bin").parent
    hotline.snapshot = str(settings.hotline_snapshot_path)
    hotline.default_queue = settings.hotline_default_queue
    hotline.dial_template = settings.dial_template
    hotline.endpoint_template = settings.endpoint_dial_template
    if settings.recordings_spool is not None:  # [record-call]'s folder, as rendered
        hotline.spool = settings.recordings_spool
    for name, wrapup in settings.hotline_queues.items():
        queue = sim.queues.queues.setdefault(name, Queue(name, strategy="rrmemory"))
        queue.wrapuptime = wrapup


async def _agent(product: Host, agent: str, action: str, **args: object) -> None:
    # Through the command path, as the console does (the kernel names no feature).
    await product.commands.call("hotline.agent", {"user": agent, "action": action, **args})


async def demo_agents(product: Host) -> list[str]:
    """Log the demo agents with a softphone in to every hotline queue."""
    async with product.runtime.sessions() as session:
        agents = (await session.execute(select(User.username).where(
            User.role == Role.AGENT.value, User.endpoint.is_not(None), User.active.is_(True)
        ).order_by(User.username))).scalars().all()
    queues = list(product.runtime.settings.hotline_queues)
    logged = []
    for agent in agents:
        try:
            await _agent(product, agent, "login", queues=queues)
            logged.append(agent)
        except (DomainError, CommandTimeout) as err:  # the demo goes on with the others
            log.warning("demo agent not logged in", agent=agent, error=str(err))
    return logged


async def run_traffic(sim: PbxSimulator, product: Host, traffic: HotlineTraffic) -> None:
    """Callers, answers and breaks until cancelled."""
    rng = random.Random(12349)
    async with product.runtime.sessions() as session:
        phones = list((await session.execute(
            select(ElderPhone.number).join(Elder, Elder.id == ElderPhone.elder_id)
            .where(Elder.status == ElderStatus.ACTIVE.value).order_by(ElderPhone.id).limit(200)
        )).scalars())
    agents = await demo_agents(product)
    log.info("demo hotline: agents logged in", agents=agents)
    async with asyncio.TaskGroup() as group:
        group.create_task(_callers(sim, rng, phones + list(STRANGERS), traffic))
        if agents:
            group.create_task(_breaks(product, rng, agents, traffic))


async def _callers(sim: PbxSimulator, rng: random.Random, phones: list[str],
                   traffic: HotlineTraffic) -> None:
    while phones:
        await asyncio.sleep(rng.expovariate(1 / traffic.calls_every))
        phone = rng.choice(phones)
        # Talk 30-120 s once answered; a few give up within 10-40 s (and are called back).
        patience = rng.uniform(10, 40) if rng.random() < 0.15 else rng.uniform(60, 180)
        sim.set_person(phone, Person(behaviour="answer", ring_seconds=2))  # for the callback
        sim.dialplan.inbound(phone, "12349", context="hotline-entry", hangup_after=patience)
        log.info("demo: a hotline call")


async def _breaks(product: Host, rng: random.Random, agents: list[str],
                  traffic: HotlineTraffic) -> None:
    while True:
        await asyncio.sleep(rng.expovariate(1 / traffic.break_every))
        agent = rng.choice(agents)
        try:
            await _agent(product, agent, "pause",
                         reason=rng.choice(["break", "training", "meeting"]))
            await asyncio.sleep(traffic.break_seconds)
            await _agent(product, agent, "unpause")
        except (DomainError, CommandTimeout) as err:  # one refused pause: the demo goes on
            log.warning("demo break not taken", agent=agent, error=str(err))
