"""``callcenter pbxsim``: run the simulator alone, for tests and training."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import click

from callcenter.settings import parse_bind


def _bind(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[str, int]:
    try:
        return parse_bind(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from err


@click.command("pbxsim")
@click.option("--ari-bind", default="127.0.0.1:8088", callback=_bind, help="ARI host:port")
@click.option("--ami-bind", default="127.0.0.1:5038", callback=_bind, help="AMI host:port")
@click.option("--control-bind", default="127.0.0.1:8089", callback=_bind,
              help="control API host:port")
@click.option("--user", default="callcenter", help="ARI and AMI user")
@click.option("--password", default="callcenter", help="ARI and AMI password")
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="simulated seconds per real second; 0 = manual clock (control API advances)")
@click.option("--recordings-dir", type=click.Path(path_type=Path), default=None,
              help="where recordings are written (default: a temporary directory)")
@click.option("--agi-url", default="agi://127.0.0.1:4573/route?lang=zh", show_default=True,
              help="FastAGI URL of the [agi-test] extension")
def pbxsim(ari_bind: tuple[str, int], ami_bind: tuple[str, int],
           control_bind: tuple[str, int], user: str, password: str, speed: float,
           recordings_dir: Path | None, agi_url: str) -> None:
    """Run the PBX simulator (ARI, AMI, control API) until interrupted."""
    from callcenter.pbxsim.server import PbxSimulator

    async def run() -> None:
        sim = PbxSimulator(host=ari_bind[0], ari_port=ari_bind[1], ami_port=ami_bind[1],
                           control_port=control_bind[1], user=user, password=password,
                           speed=speed or None, recordings_dir=recordings_dir, agi_url=agi_url)
        await sim.start()
        click.echo(f"pbxsim: ARI {sim.ari_url}  AMI {sim.host}:{sim.ami_port}  "
                   f"control {sim.control_url}")
        try:
            await asyncio.Event().wait()
        finally:
            await sim.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
