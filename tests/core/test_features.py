"""Features register, the root composes: the kernel names no feature, the root iterates them."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import click
from click.testing import CliRunner

from callcenter.bus import BusMessage, MemoryBus
from callcenter.composition import open_product
from callcenter.feature import Feature, Host
from callcenter.registry import FEATURES
from callcenter.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
#: The composition root: the only modules of ``callcenter/`` that may name features or webui.
COMPOSITION_ROOT = {"registry.py", "composition.py", "server.py", "cli.py", "demo.py",
                    "demo_hotline.py"}
FEATURE_PACKAGES = ("ari_apps", "workflow", "recordings", "webui")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_kernel_imports_no_feature_and_no_webui() -> None:
    offenders = []
    for path in sorted((ROOT / "callcenter").rglob("*.py")):
        if path.parent == ROOT / "callcenter" and path.name in COMPOSITION_ROOT:
            continue
        for name in _imports(path):
            if name.split(".")[0] in FEATURE_PACKAGES:
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_every_feature_is_declared_once_and_the_cli_carries_its_commands() -> None:
    from callcenter.cli import main

    names = [feature.name for feature in FEATURES]
    assert len(names) == len(set(names))
    assert all(isinstance(feature, Feature) for feature in FEATURES)
    commands: list[click.Command] = [
        command for feature in FEATURES if feature.commands is not None
        for command in feature.commands()
    ]
    assert commands, "some feature brings commands"
    for command in commands:
        assert command.name is not None and main.get_command(click.Context(main), command.name)
    listed = CliRunner().invoke(main, ["--help"]).output
    assert all(command.name in listed for command in commands)


def test_the_features_tables_are_on_the_metadata_alembic_sees() -> None:
    import migrations.env_models  # noqa: F401
    from callcenter.store.models import Base

    tables = set(Base.metadata.tables)
    assert {"sos_incidents", "work_orders"} <= tables


async def test_a_feature_s_bus_subscription_runs_while_the_process_runs(settings: Settings) -> None:
    heard: asyncio.Queue[BusMessage] = asyncio.Queue()

    async def load(host: Host) -> None:
        await host.subscribe("census.*", heard.put)

    async def bad(message: BusMessage) -> None:
        raise RuntimeError("one bad message")

    async def load_bad(host: Host) -> None:
        await host.subscribe("census.*", bad)  # its failure must not stop the others

    features = [Feature(name="census", load=load), Feature(name="fragile", load=load_bad)]
    async with open_product(settings, frozenset({"web"}), bus=MemoryBus(),
                            features=features) as host:
        await host.runtime.bus.publish(BusMessage("census.taken", {"n": 1}))
        await host.runtime.bus.publish(BusMessage("other.topic", {}))
        await host.runtime.bus.publish(BusMessage("census.taken", {"n": 2}))
        got = [await asyncio.wait_for(heard.get(), 5) for _ in range(2)]
        assert [m.payload["n"] for m in got] == [1, 2]
    assert heard.empty()
