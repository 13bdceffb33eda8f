"""Bad input gets a clear error and nothing is written; secrets never reach the terminal."""

from __future__ import annotations

import dataclasses
import logging
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from callcenter.cli import main
from callcenter.settings import Settings
from dialplan.directory import (
    Agent,
    Directory,
    SosDevice,
    directory_from_mapping,
    example_directory,
)
from dialplan.exceptions import DirectoryError, SettingsMismatchError
from dialplan.render import CONFIG_FILES, FALLBACK_RULES, FALLBACK_SCRIPT, render_config
from tests.dialplan.conftest import DIRECTORY_FILE, SECRETS


def golden_mapping() -> dict[str, Any]:
    """The fixed directory as parsed TOML, to be broken by each test."""
    return tomllib.loads(DIRECTORY_FILE.read_text(encoding="utf-8"))


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def render_cli(out: Path, directory_file: Path | None = None, *options: str) -> Result:
    args = ["dialplan", "render", "--out", str(out), *options]
    if directory_file is not None:
        args += ["--directory", str(directory_file)]
    return CliRunner().invoke(main, args)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# ------------------------------------------------------------------ the command line


@pytest.mark.usefixtures("golden_env")
def test_cli_writes_every_file_owner_group_only_and_prints_no_secret(tmp_path: Path) -> None:
    """`callcenter dialplan render` writes all files (mode 0640) and the hotline's fallback
    AGI script (0755), prints only their paths, and says where the script goes."""
    out = tmp_path / "asterisk"
    result = render_cli(out, DIRECTORY_FILE)
    assert result.exit_code == 0, result.output
    written = [*CONFIG_FILES, FALLBACK_RULES, FALLBACK_SCRIPT]
    assert sorted(p.name for p in out.iterdir()) == sorted(written)
    modes = {FALLBACK_SCRIPT: 0o755, FALLBACK_RULES: 0o644}
    for path in out.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == modes.get(path.name, 0o640)
    assert result.stdout.split() == [str(out / name) for name in written]
    assert "agi-bin" in result.stderr
    assert_no_secret(result.output)
    # The secrets are in the files, where Asterisk needs them.
    assert "password = golden-trunk-secret" in (out / "pjsip.conf").read_text()
    assert "secret = golden-ami-secret" in (out / "manager.conf").read_text()


@pytest.mark.usefixtures("golden_env")
def test_cli_agi_python_runs_the_fallback_script_on_that_interpreter(tmp_path: Path) -> None:
    """`--agi-python` puts a python that has pyst2 (a venv's) in the script's #! line: run
    as Asterisk runs it, with no python3 on its PATH, the script still routes the caller."""
    out = tmp_path / "agi-bin"
    result = render_cli(out, DIRECTORY_FILE, "--agi-python", sys.executable)
    assert result.exit_code == 0, result.output
    script = out / FALLBACK_SCRIPT
    assert script.read_text().splitlines()[0] == f"#!{sys.executable}"
    assert sys.executable in result.stderr
    # Asterisk's side: the AGI environment, then "200 result=1" to every command.
    asterisk_says = "agi_callerid: 13800138000\n\n" + "200 result=1\n" * 20
    ran = subprocess.run([str(script), str(tmp_path / "no-snapshot.json")],
                         input=asterisk_says, capture_output=True, text=True,
                         env={"PATH": "/nonexistent"}, timeout=30, check=False)
    assert ran.returncode == 0, ran.stderr
    assert 'SET VARIABLE "CALLCENTER_QUEUE" "hotline"' in ran.stdout  # no snapshot: the default


@pytest.mark.usefixtures("golden_env")
@pytest.mark.parametrize("python", ["venv/bin/python", "/opt/agi venv/bin/python",
                                    "/usr/bin/python3\n"], ids=["relative", "space", "newline"])
def test_cli_refuses_an_agi_python_the_first_line_cannot_carry(tmp_path: Path, python: str) -> None:
    """A relative path or one the kernel would split is named, and nothing is written."""
    result = render_cli(tmp_path / "out", DIRECTORY_FILE, "--agi-python", python)
    assert result.exit_code == 2
    assert "--agi-python" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_endpoint_password_is_reported_and_nothing_written(tmp_path: Path) -> None:
    """An agent without a password names the field and leaves no file behind."""
    text = DIRECTORY_FILE.read_text().replace('password = "golden-agent-1002-secret"\n', "")
    result = render_cli(tmp_path / "out", write_toml(tmp_path / "dir.toml", text))
    assert result.exit_code == 2
    assert "agents[1].password: field required" in result.stderr
    assert not (tmp_path / "out").exists()
    assert_no_secret(result.output)


def test_cli_dial_template_without_number_is_reported_and_nothing_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CALLCENTER_DIAL_TEMPLATE without {number} stops the render with the setting's name."""
    monkeypatch.setenv("CALLCENTER_DIAL_TEMPLATE", "PJSIP/trunk")
    result = render_cli(tmp_path / "out", DIRECTORY_FILE)
    assert result.exit_code == 2
    assert "CALLCENTER_DIAL_TEMPLATE" in result.stderr and "{number}" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_duplicate_endpoint_leaves_existing_files_untouched(tmp_path: Path) -> None:
    """A failed render does not touch the files of the previous good render."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "pjsip.conf").write_text("previous\n")
    text = DIRECTORY_FILE.read_text().replace('endpoint = "sos-0002"', 'endpoint = "1002"')
    result = render_cli(out, write_toml(tmp_path / "dir.toml", text))
    assert result.exit_code == 2
    assert "duplicate endpoint name '1002'" in result.stderr
    assert [p.name for p in out.iterdir()] == ["pjsip.conf"]
    assert (out / "pjsip.conf").read_text() == "previous\n"


def test_cli_without_directory_renders_the_loopback_example(tmp_path: Path) -> None:
    """Development without --directory renders the example and says so on stderr."""
    result = render_cli(tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "loopback example" in result.stderr
    assert "bind = 127.0.0.1:5060" in (tmp_path / "out" / "pjsip.conf").read_text()


def test_cli_refuses_the_example_in_production(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Production must name its directory: the example's passwords are public."""
    for name, value in {
        "ENV": "production",
        "SECRET_KEY": "k" * 40,
        "ARI_PASSWORD": "a-real-ari-password",
        "AMI_SECRET": "a-real-ami-secret",
    }.items():
        monkeypatch.setenv(f"CALLCENTER_{name}", value)
    result = render_cli(tmp_path / "out")
    assert result.exit_code == 2
    assert "--directory is required in production" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_reports_toml_syntax_errors(tmp_path: Path) -> None:
    """A file that is not TOML is named in the error."""
    bad = write_toml(tmp_path / "dir.toml", "[hotline\n")
    result = render_cli(tmp_path / "out", bad)
    assert result.exit_code == 2
    assert "not valid TOML" in result.stderr


# ------------------------------------------------------------------ the directory checks


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(DirectoryError) as caught:
        directory_from_mapping(data)
    assert caught.value.error_id == "invalid-directory"
    return caught.value.problems


def test_duplicate_endpoint_names_are_reported_case_insensitively() -> None:
    """PJSIP section names clash whatever their case: both places are named."""
    data = golden_mapping()
    data["sos_devices"][1]["endpoint"] = "SOS-0001"
    assert problems_of(data) == ["sos_devices[1]: duplicate endpoint name 'SOS-0001' (also sos_devices[0])"]


def test_endpoint_may_not_take_the_trunk_name() -> None:
    """An agent named like the trunk would merge with its endpoint section."""
    data = golden_mapping()
    data["agents"][0]["endpoint"] = "carrier"
    assert "agents[0]: duplicate endpoint name 'carrier' (also trunk.name)" in problems_of(data)


def test_every_problem_is_listed_at_once() -> None:
    """The operator fixes everything in one round: all problems come together."""
    data = golden_mapping()
    data["agents"][0]["password"] = "short"
    data["queues"][0]["members"] = ["1001", "9999"]
    data["queues"][1]["strategy"] = "roundrobin"
    data["hotline"]["queue"] = "nope"
    problems = problems_of(data)
    assert any("queues[1].strategy" in p for p in problems), problems
    # Structural errors are reported before semantic ones; fix the strategy and look again.
    data["queues"][1]["strategy"] = "ringall"
    assert problems_of(data) == [
        "agents[0]: password is shorter than 8 characters",
        "queues[0].members: '9999' is not an agent endpoint",
        "hotline.queue: 'nope' is not one of the queues (names are exact)",
    ]


@pytest.mark.parametrize(
    "password",
    ["", "abc;defgh", "line\nbreak9", " leading-space"],
    ids=["empty", "semicolon", "newline", "edge-space"],
)
def test_unsafe_passwords_are_refused_without_echoing_them(password: str) -> None:
    """A ';' would start a comment in pjsip.conf and cut the password silently."""
    data = golden_mapping()
    data["sos_devices"][0]["password"] = password
    problems = problems_of(data)
    assert len(problems) == 1 and problems[0].startswith("sos_devices[0]: password")
    if password:
        assert password not in problems[0]


def test_registering_trunk_needs_credentials() -> None:
    """A trunk that registers without a user name or password is refused."""
    data = golden_mapping()
    del data["trunk"]["username"], data["trunk"]["password"]
    assert problems_of(data) == [
        "trunk.username: required to register or authenticate (no ; @ or line breaks)",
        "trunk: password is missing",
    ]


def test_unknown_keys_are_refused() -> None:
    """A misspelt key is an error, not silently ignored."""
    data = golden_mapping()
    data["agents"][0]["pasword"] = "golden-agent-1001-secret"
    assert "agents[0].pasword: unexpected keyword argument" in problems_of(data)


def test_agent_names_may_not_hold_dashes() -> None:
    """Asterisk ignores '-' in extension names, so agents (dialled by name) may not use it."""
    data = golden_mapping()
    data["agents"][1]["endpoint"] = "agent-2"
    data["queues"][0]["members"] = ["1001", "agent-2"]
    data["queues"][1]["members"] = ["1001", "agent-2"]
    assert problems_of(data) == ["agents[1].endpoint: 'agent-2' must be 1-40 letters, digits or _"]


# ------------------------------------------------------------------ settings checks


def test_dial_template_without_number_is_refused_by_render(
    golden_settings: Settings, golden_directory: Directory
) -> None:
    """Even settings built without validation cannot produce a Dial() without the number."""
    settings = golden_settings.model_copy(update={"dial_template": "PJSIP/carrier"})
    with pytest.raises(SettingsMismatchError, match="CALLCENTER_DIAL_TEMPLATE: must contain"):
        render_config(settings, golden_directory)


@pytest.mark.parametrize("template", ["PJSIP/{number}@carrier,30", "PJSIP/{number}@carrier;x"])
def test_dial_template_that_would_break_dial_arguments_is_refused(
    golden_settings: Settings, golden_directory: Directory, template: str
) -> None:
    """',' would split Dial()'s arguments and ';' start a comment."""
    settings = golden_settings.model_copy(update={"dial_template": template})
    with pytest.raises(SettingsMismatchError, match="may not contain"):
        render_config(settings, golden_directory)


def test_dial_template_must_dial_the_trunk(golden_settings: Settings, golden_directory: Directory) -> None:
    """PJSIP/{number}@X must name the directory's trunk, or no call would ever go out."""
    settings = golden_settings.model_copy(update={"dial_template": "PJSIP/{number}@trunk"})
    with pytest.raises(SettingsMismatchError, match="but the trunk is named 'carrier'"):
        render_config(settings, golden_directory)


def test_local_dial_template_is_accepted(golden_settings: Settings, golden_directory: Directory) -> None:
    """Any channel technology works; only {number} becomes ${EXTEN}."""
    settings = golden_settings.model_copy(update={"dial_template": "Local/{number}@people/n"})
    files = render_config(settings, golden_directory)
    assert "Dial(Local/${EXTEN}@people/n,60,T)" in files["extensions.conf"]


def test_render_logs_no_secret(
    golden_settings: Settings, golden_directory: Directory, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Rendering and a failed render leave no secret in logs or on the terminal."""
    caplog.set_level(logging.DEBUG)
    render_config(golden_settings, golden_directory)
    bad = dataclasses.replace(
        golden_directory,
        agents=(*golden_directory.agents, Agent(endpoint="1001", password="golden-agent-1001-secret")),
    )
    with pytest.raises(DirectoryError) as caught:
        render_config(golden_settings, bad)
    captured = capsys.readouterr()
    assert_no_secret(caplog.text + captured.out + captured.err + str(caught.value))
    assert_no_secret(repr(bad))


def test_example_directory_is_valid() -> None:
    """The built-in example renders; its SOS device and agents are on loopback."""
    directory = example_directory()
    assert isinstance(directory.sos_devices[0], SosDevice)
    files = render_config(Settings(), directory)
    assert "bind = 127.0.0.1:5060" in files["pjsip.conf"]


def test_example_directory_queues_have_no_static_members() -> None:
    """Agents join the example's queues by logging in (QueueAdd, MemberName = username).

    Static `member =>` lines made Asterisk answer the login's QueueAdd "Already there":
    the member stayed named after the endpoint, so the login answered `logged_out`, calls
    were credited to "1001" instead of the agent (who then could not hear their own
    recordings) and the phone kept ringing after a logout.
    """
    files = render_config(Settings(), example_directory())
    assert "member =>" not in files["queues.conf"]


def test_the_example_renders_the_queues_a_default_product_routes_to_and_logs_agents_in_to() -> None:
    """Rendered without a directory, Asterisk has the product's default queues.

    The example once rendered 'care-hotline' and 'sos-backup' while a product on default
    settings routed to 'hotline' and let agents log in to 'hotline' only (seen on a real
    Asterisk 22: the login was refused as an unknown queue, the call rang nobody).
    """
    settings = Settings()
    files = render_config(settings, example_directory())
    rendered = re.findall(r"^\[([\w-]+)\]$", files["queues.conf"], re.MULTILINE)
    assert [q for q in rendered if q != "general"] == list(settings.hotline_queues)
    assert f"Set(CALLCENTER_QUEUE={settings.hotline_default_queue})" in files["extensions.conf"]


def test_queues_the_product_and_the_directory_disagree_on_are_refused(
    golden_settings: Settings, golden_directory: Directory
) -> None:
    settings = golden_settings.model_copy(update={
        "hotline_queues": {"hotline-main": 10, "vip": 0},
        "hotline_default_queue": "vip",
        "hotline_after_hours_queue": "night",
    })
    with pytest.raises(SettingsMismatchError) as caught:
        render_config(settings, golden_directory)
    assert caught.value.problems == [
        "CALLCENTER_HOTLINE_DEFAULT_QUEUE: 'vip', but the directory's hotline queue is 'hotline-main'",
        "CALLCENTER_HOTLINE_QUEUES: 'hotline-main' has 10 s of wrap-up, the directory's queue 15 s",
        "CALLCENTER_HOTLINE_QUEUES: 'vip' is not a queue of the directory (hotline-main, sos-backup)",
        "CALLCENTER_HOTLINE_AFTER_HOURS_QUEUE: 'night' is not a queue of the directory",
    ]


def test_a_queue_no_agent_could_join_is_refused(
    golden_settings: Settings, golden_directory: Directory
) -> None:
    """The SOS fallback queue without static members must be one agents log in to."""
    directory = dataclasses.replace(golden_directory, queues=tuple(
        dataclasses.replace(q, members=()) if q.name == "sos-backup" else q
        for q in golden_directory.queues))
    settings = golden_settings.model_copy(update={"hotline_queues": {"hotline-main": 15}})
    with pytest.raises(SettingsMismatchError, match="hotline.sos_fallback_queue 'sos-backup': "
                       "has no static members and is not in CALLCENTER_HOTLINE_QUEUES"):
        render_config(settings, directory)
    render_config(golden_settings, directory)  # with it in HOTLINE_QUEUES: rendered


# ------------------------------------------------------------------ recordings


@pytest.mark.parametrize("spool", ["/var/spool/my recordings", "/var/spool/a,b", "/srv/${X}",
                                   "/srv/../etc", "/var/spool/recordings\n"])
def test_a_spool_that_would_break_mixmonitor_is_refused(
    golden_settings: Settings, golden_directory: Directory, spool: str
) -> None:
    """The spool goes into MixMonitor()'s arguments: nothing that splits or expands them."""
    settings = golden_settings.model_copy(update={"recordings_spool": Path(spool)})
    with pytest.raises(SettingsMismatchError, match="CALLCENTER_RECORDINGS_SPOOL"):
        render_config(settings, golden_directory)


def test_without_a_spool_calls_are_still_recorded_into_asterisks_monitor_folder(
    golden_settings: Settings, golden_directory: Directory
) -> None:
    settings = golden_settings.model_copy(update={"recordings_spool": None})
    files = render_config(settings, golden_directory)
    assert ("MixMonitor(/var/spool/asterisk/monitor/${CALLCENTER_RECORDING}.wav)"
            in files["extensions.conf"])


def test_every_call_the_product_causes_goes_through_record_call(
    golden_settings: Settings, golden_directory: Directory
) -> None:
    """Before every Queue() and every Dial() out of the centre the call is recorded."""
    text = render_config(golden_settings, golden_directory)["extensions.conf"]
    contexts: dict[str, list[str]] = {}
    name = ""
    for line in text.splitlines():
        if line.startswith("["):
            name = line.strip("[]")
        elif not line.lstrip().startswith(";"):
            contexts.setdefault(name, []).append(line)
    for context in ("hotline-queue", "dial-out", "hotline-transfer", "sos"):
        lines = contexts[context]
        for i, line in enumerate(lines):
            if ",Queue(" in line or ",Dial(" in line:
                assert any("Gosub(record-call,s,1)" in earlier for earlier in lines[:i]), line
    assert "linkedid => LinkedID" in render_config(golden_settings,
                                                   golden_directory)["cdr_manager.conf"]


@pytest.mark.parametrize("field", ["ari_user", "ami_user"])
@pytest.mark.parametrize("value", ["callcenter\n", "call center", ""])
def test_a_user_name_that_would_break_its_config_section_is_refused(
    golden_settings: Settings, golden_directory: Directory, field: str, value: str
) -> None:
    """ari.conf and manager.conf name the user as a section: one plain word, nothing after."""
    settings = golden_settings.model_copy(update={field: value})
    with pytest.raises(SettingsMismatchError, match=f"CALLCENTER_{field.upper()}"):
        render_config(settings, golden_directory)
