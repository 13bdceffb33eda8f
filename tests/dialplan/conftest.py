"""Fixtures of the dialplan tests: the fixed directory and settings of the golden files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callcenter.settings import Settings, load_settings
from dialplan.directory import Directory, load_directory

HERE = Path(__file__).parent
DIRECTORY_FILE = HERE / "directory.toml"
GOLDEN_DIR = HERE / "golden"
#: The product's queues: the directory's, with its wrap-up seconds.
GOLDEN_QUEUES = {"hotline-main": 15, "sos-backup": 0}

#: Every secret of the fixed input: none may ever reach stdout, stderr or a log.
SECRETS = (
    "golden-ari-secret",
    "golden-ami-secret",
    "golden-trunk-secret",
    "golden-agent-1001-secret",
    "golden-agent-1002-secret",
    "golden-supervisor-secret",
    "golden-device-0001-secret",
    "golden-device-0002-secret",
)


@pytest.fixture
def golden_settings() -> Settings:
    """Fixed product settings: non-default secrets, binds and dial template."""
    return load_settings(
        ari_url="http://10.0.0.5:8088",
        ari_user="callcenter",
        ari_password="golden-ari-secret",
        ari_app="callcenter",
        ami_host="10.0.0.5",
        ami_port=5038,
        ami_user="callcenter",
        ami_secret="golden-ami-secret",
        agi_bind="10.0.0.7:4573",
        dial_template="PJSIP/{number}@carrier",
        hotline_snapshot_path="/var/lib/callcenter/hotline-routing.json",
        recordings_spool="/var/spool/asterisk/callcenter",
        hotline_queues=GOLDEN_QUEUES,
        hotline_default_queue="hotline-main",
    )


@pytest.fixture
def golden_directory() -> Directory:
    """The fixed directory description of the golden files."""
    return load_directory(DIRECTORY_FILE)


@pytest.fixture
def golden_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The golden settings as CALLCENTER_* variables, for the command line."""
    for name, value in {
        "ARI_URL": "http://10.0.0.5:8088",
        "ARI_PASSWORD": "golden-ari-secret",
        "AMI_HOST": "10.0.0.5",
        "AMI_SECRET": "golden-ami-secret",
        "AGI_BIND": "10.0.0.7:4573",
        "DIAL_TEMPLATE": "PJSIP/{number}@carrier",
        "HOTLINE_SNAPSHOT_PATH": "/var/lib/callcenter/hotline-routing.json",
        "HOTLINE_QUEUES": json.dumps(GOLDEN_QUEUES),
        "HOTLINE_DEFAULT_QUEUE": "hotline-main",
    }.items():
        monkeypatch.setenv(f"CALLCENTER_{name}", value)
