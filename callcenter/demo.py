"""``callcenter demo``: the whole product on the PBX simulator, with demo data and calls.

Everything runs on loopback in one process: the simulator (ARI, AMI, control API),
a local stand-in for Twilio's HTTP API (so the SMS outbox really sends), the console,
the SOS application and the outbox dispatcher. An elder of the demo directory presses
SOS shortly after start, and again every ``--sos-every`` seconds. ``--reset`` deletes the
demo's SQLite store and recordings first, so it starts again from a fresh demo directory.
"""

from __future__ import annotations

import asyncio
import json
import random
import shlex
import shutil
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import click
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from callcenter import eventloop
from callcenter.clitools import settings_or_exit
from callcenter.composition import ALL_ROLES
from callcenter.crypto import FieldCipher
from callcenter.demo_data import demo_credentials, generate
from callcenter.demo_hotline import HotlineTraffic, prepare_simulator, run_traffic
from callcenter.feature import Host
from callcenter.logs import configure_logging, get_logger
from callcenter.notify.twilio_stub import start_twilio_stub
from callcenter.passwords import Passwords
from callcenter.pbxsim.people import Person
from callcenter.pbxsim.server import PbxSimulator
from callcenter.server import prepare_store, run_roles
from callcenter.settings import Settings, parse_bind
from callcenter.store.models import Elder, ElderPhone, ElderStatus, User

log = get_logger(__name__)

SOS_NUMBER = "12349"  # what an elder's SOS key dials
SOS_HANGUP_AFTER = 240  # seconds an elder's line stays up, as on a real one-key phone


def sos_call(phone: str, app: str) -> dict[str, Any]:
    """The simulator control API body that makes ``phone`` press SOS (POST /control/calls)."""
    return {"from": phone, "to": SOS_NUMBER, "app": app, "args": ["sos"],
            "hangup_after": SOS_HANGUP_AFTER}


def demo_instructions(control_url: str, phone: str | None, app: str) -> list[str]:
    """What the demo tells a newcomer: how to press SOS as a demo elder, how to start over."""
    lines = []
    if phone is not None:
        body = json.dumps(sos_call(phone, app), ensure_ascii=False)
        lines += [
            f"press SOS yourself as the demo elder on {phone}:",
            f"  curl -X POST {control_url}/control/calls "
            f"-H 'Content-Type: application/json' -d {shlex.quote(body)}",
        ]
    lines.append("start again from fresh demo data: stop with Ctrl-C, then run "
                 "`callcenter demo --reset` or `./scripts/demo.sh --reset` "
                 "(deletes the SQLite store and recordings)")
    return lines


def reset_demo_data(settings: Settings) -> list[Path]:
    """Delete the demo's SQLite store and recordings; the paths removed.

    Only a SQLite file is ever deleted: a server database may hold more than the demo.
    """
    if not settings.is_sqlite:
        raise click.UsageError("--reset deletes a SQLite store only; "
                               "CALLCENTER_DATABASE_URL names another database")
    database = make_url(settings.database_url).database
    removed = []
    if database and database != ":memory:":
        # SQLite's journal files go with the database, or it would replay them.
        for suffix in ("", "-journal", "-wal", "-shm"):
            path = Path(database + suffix)
            if path.exists():
                path.unlink()
                removed.append(path)
    if settings.recordings_dir is not None and settings.recordings_dir.exists():
        shutil.rmtree(settings.recordings_dir)
        removed.append(settings.recordings_dir)
    return removed


async def _seed_if_empty(settings: Settings, elders: int) -> None:
    from callcenter.store import create_engine, session_factory

    engine = create_engine(settings.database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session:
            count = (await session.execute(select(func.count(Elder.id)))).scalar_one()
        if count == 0:
            click.echo(f"seeding a demo directory of {elders} elders …")
            await generate(sessions, FieldCipher(settings.secret_key_bytes()), Passwords(),
                           elders=elders)
    finally:
        await engine.dispose()


async def _script_people(sim: PbxSimulator, product: Host) -> list[str]:
    """Who answers in the demo: 120 after 3 s, softphones after 2 s; callers to press SOS."""
    sim.set_person(product.runtime.settings.sos_emergency_number,
                   Person(behaviour="answer", ring_seconds=3))
    async with product.runtime.sessions() as session:
        endpoints = (await session.execute(
            select(User.endpoint).where(User.endpoint.is_not(None))
        )).scalars().all()
        phones = (await session.execute(
            select(ElderPhone.number)
            .join(Elder, Elder.id == ElderPhone.elder_id)
            .where(Elder.status == ElderStatus.ACTIVE.value)
            .order_by(ElderPhone.id)
            .limit(50)
        )).scalars().all()
    for endpoint in endpoints:
        if endpoint:
            sim.set_person(endpoint, Person(behaviour="answer", ring_seconds=2))
    return list(phones)


async def _press_sos(sim: PbxSimulator, app: str, phones: list[str], first_after: float,
                     every: float) -> None:
    await asyncio.sleep(first_after)
    rng = random.Random(7)
    while phones:
        phone = rng.choice(phones)
        sim.dialplan.inbound(phone, SOS_NUMBER, app=app, args=["sos"],
                             hangup_after=SOS_HANGUP_AFTER)
        log.info("demo: an elder pressed SOS")
        await asyncio.sleep(every)


async def run_demo(settings: Settings, ari_port: int, ami_port: int, control_port: int,
                   first_sos: float, sos_every: float,
                   traffic: HotlineTraffic | None = None) -> None:
    await _seed_if_empty(settings, 3000)
    async with AsyncExitStack() as stack:
        sim = await stack.enter_async_context(
            PbxSimulator(ari_port=ari_port, ami_port=ami_port, control_port=control_port,
                         speed=1.0, recordings_dir=settings.recordings_dir)
        )
        twilio = await start_twilio_stub()
        stack.push_async_callback(twilio.close)
        settings = settings.model_copy(update={
            "ari_url": sim.ari_url, "ami_port": sim.ami_port,
            "twilio_account_sid": twilio.account_sid,
            "twilio_auth_token": SecretStr(twilio.auth_token),
            "twilio_from": "+8612349", "twilio_base_url": twilio.base_url,
        })
        tasks: set[asyncio.Task[None]] = set()

        async def ready(product: Host) -> None:
            phones = await _script_people(sim, product)
            prepare_simulator(sim, product)
            host, port = parse_bind(settings.web_bind)
            click.echo("")
            click.echo(f"console:      http://{host}:{port}/")
            click.echo(f"PBX control:  {sim.control_url}/control/state  (simulator, loopback)")
            click.echo("demo logins (demo passwords only):")
            for username, password, role in demo_credentials():
                click.echo(f"  {username:<11} {password:<26} {role}")
            click.echo(f"an elder presses SOS in {first_sos:.0f} s, then every {sos_every:.0f} s;")
            for line in demo_instructions(sim.control_url, phones[0] if phones else None,
                                          settings.ari_app):
                click.echo(line)
            tasks.add(asyncio.create_task(
                _press_sos(sim, settings.ari_app, phones, first_sos, sos_every)
            ))
            hotline = traffic or HotlineTraffic()
            click.echo(f"hotline: a caller about every {hotline.calls_every:.0f} s into "
                       "[hotline-entry] 12349; demo agents answer, pause and wrap up")
            tasks.add(asyncio.create_task(run_traffic(sim, product, hotline)))

        try:
            if not await run_roles(settings, frozenset(ALL_ROLES), ready=ready):
                raise SystemExit("callcenter demo: stopped because a role failed (see the log)")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


@click.command()
@click.option("--ari-port", default=18088, show_default=True, help="The simulator's ARI port.")
@click.option("--ami-port", default=15038, show_default=True, help="The simulator's AMI port.")
@click.option("--control-port", default=18089, show_default=True,
              help="The simulator's control API port.")
@click.option("--first-sos", default=15.0, show_default=True, help="Seconds to the first SOS.")
@click.option("--sos-every", default=300.0, show_default=True, help="Seconds between SOS calls.")
@click.option("--calls-every", default=20.0, show_default=True,
              help="Mean seconds between scripted hotline callers.")
@click.option("--reset", is_flag=True,
              help="Delete the demo's SQLite store and recordings first, then seed afresh.")
def demo(ari_port: int, ami_port: int, control_port: int, first_sos: float,
         sos_every: float, calls_every: float, reset: bool) -> None:
    """Run everything on the built-in PBX simulator with demo data and scripted calls."""
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.log_format, settings.env)
    if reset:
        for path in reset_demo_data(settings):
            click.echo(f"deleted {path}")
    prepare_store(settings)
    eventloop.run(run_demo(settings, ari_port, ami_port, control_port, first_sos, sos_every,
                           HotlineTraffic(calls_every=calls_every)))
