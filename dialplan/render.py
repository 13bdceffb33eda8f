"""Render the Asterisk 22 configuration files from the settings and the directory."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2

from callcenter.asterisk.ami.client import EVENT_CLASSES
from callcenter.settings import Settings, parse_bind
from dialplan.directory import UNSAFE_IN_CONFIG, Directory, check_directory
from dialplan.exceptions import DialplanError, SettingsMismatchError

#: Files rendered, in the order Asterisk reads them at start (for the operator's eye only).
CONFIG_FILES: tuple[str, ...] = (
    "http.conf",
    "ari.conf",
    "manager.conf",
    "pjsip.conf",
    "extensions.conf",
    "queues.conf",
    "features.conf",
    "cdr.conf",
    "cdr_manager.conf",
)

# The dial string goes into Dial() arguments: "," would split them, ";" starts a
# comment, "$" and brackets would be dialplan expressions.
_DIAL_UNSAFE = re.compile(r"[,;\s$\[\]()|]")
_USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
#: A folder MixMonitor() is given in the dialplan: absolute, nothing its arguments would
#: split on or expand.
_SPOOL_PATH = re.compile(r"/[A-Za-z0-9_./-]{0,200}")
#: Where Asterisk's MixMonitor writes by default (astspooldir/monitor): the dialplan's
#: folder when RECORDINGS_SPOOL is unset (the product then finds nothing to take).
ASTERISK_MONITOR_DIR = "/var/spool/asterisk/monitor"


@dataclass(frozen=True)
class AsteriskAccess:
    """What the templates need from the product settings, secrets in clear."""

    http_host: str
    http_port: int
    ari_user: str
    ari_password: str
    ari_app: str
    ami_host: str
    ami_port: int
    ami_user: str
    ami_secret: str
    agi_url: str
    dial_string: str
    endpoint_dial_string: str
    recordings_spool: str


def _check_secret(name: str, value: str, problems: list[str]) -> None:
    if not value or UNSAFE_IN_CONFIG.search(value) or value != value.strip():
        problems.append(f"{name}: must be non-empty, without ';', line breaks or edge spaces")


def _check_queues(settings: Settings, directory: Directory, problems: list[str]) -> None:
    """The product's queues are the rendered ones: it routes calls into them by name and
    its agents log in to them. A name only one side knows routes calls to a queue nobody
    answers (the dialplan sends an unknown name to the hotline queue, recorded under the
    wrong name) or leaves a rendered queue with no way for an agent to join it."""
    rendered = {queue.name: queue for queue in directory.queues}
    if settings.hotline_default_queue != directory.hotline.queue:
        problems.append(f"CALLCENTER_HOTLINE_DEFAULT_QUEUE: {settings.hotline_default_queue!r}, "
                        f"but the directory's hotline queue is {directory.hotline.queue!r}")
    for name, wrapup in settings.hotline_queues.items():
        queue = rendered.get(name)
        if queue is None:
            problems.append(f"CALLCENTER_HOTLINE_QUEUES: {name!r} is not a queue of the "
                            f"directory ({', '.join(sorted(rendered))})")
        elif queue.wrapup_seconds != wrapup:
            problems.append(f"CALLCENTER_HOTLINE_QUEUES: {name!r} has {wrapup} s of wrap-up, "
                            f"the directory's queue {queue.wrapup_seconds} s")
    if settings.hotline_after_hours_queue not in (None, *rendered):
        problems.append(f"CALLCENTER_HOTLINE_AFTER_HOURS_QUEUE: {settings.hotline_after_hours_queue!r}"
                        " is not a queue of the directory")
    for key, name in (("hotline.queue", directory.hotline.queue),
                      ("hotline.sos_fallback_queue", directory.sos_fallback_queue)):
        queue = rendered.get(name)
        if queue is not None and not queue.members and name not in settings.hotline_queues:
            problems.append(f"{key} {name!r}: has no static members and is not in "
                            "CALLCENTER_HOTLINE_QUEUES, so no agent could ever join it")


def asterisk_access(settings: Settings, directory: Directory) -> AsteriskAccess:
    """Turn the product settings into Asterisk terms, or raise :class:`SettingsMismatchError`."""
    problems: list[str] = []
    url = urlsplit(settings.ari_url)
    http_host = url.hostname or ""
    try:
        http_port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        http_port = 0
    if url.scheme != "http" or not http_host or not http_port:
        # http.conf serves ARI over plain HTTP on the bind address; TLS is for WebRTC only.
        problems.append(f"CALLCENTER_ARI_URL: expected http://host:port, got {settings.ari_url!r}")
    for name, value in (("CALLCENTER_ARI_USER", settings.ari_user), ("CALLCENTER_AMI_USER", settings.ami_user)):
        if not _USER_NAME.fullmatch(value):
            problems.append(f"{name}: {value!r} must be 1-64 of A-Z a-z 0-9 _ . -")
    _check_secret("CALLCENTER_ARI_PASSWORD", settings.ari_password.get_secret_value(), problems)
    _check_secret("CALLCENTER_AMI_SECRET", settings.ami_secret.get_secret_value(), problems)

    template = settings.dial_template
    dial_string = ""
    if template.count("{number}") != 1:
        problems.append("CALLCENTER_DIAL_TEMPLATE: must contain {number} exactly once, e.g. PJSIP/{number}@trunk")
    elif _DIAL_UNSAFE.search(template.replace("{number}", "")) or "{" in template.replace("{number}", ""):
        problems.append(f"CALLCENTER_DIAL_TEMPLATE: {template!r} may not contain , ; $ ( ) [ ] | {{ }} or spaces")
    else:
        dial_string = template.replace("{number}", "${EXTEN}")
        tech, _, rest = template.partition("/")
        if tech.upper() == "PJSIP" and "@" in rest:
            endpoint = rest.rpartition("@")[2]
            if endpoint != directory.trunk.name:
                problems.append(
                    f"CALLCENTER_DIAL_TEMPLATE: dials endpoint {endpoint!r}, "
                    f"but the trunk is named {directory.trunk.name!r}"
                )
    spool = str(settings.recordings_spool or ASTERISK_MONITOR_DIR).rstrip("/") or "/"
    if not _SPOOL_PATH.fullmatch(spool) or ".." in spool.split("/"):
        problems.append(f"CALLCENTER_RECORDINGS_SPOOL: {spool!r} must be an absolute path of "
                        "A-Z a-z 0-9 _ . - / (it goes into MixMonitor() in the dialplan)")
    _check_queues(settings, directory, problems)
    agi_host, agi_port = parse_bind(settings.agi_bind)
    if problems:
        raise SettingsMismatchError(problems)
    # FastAGI URL hosts in brackets for IPv6, as res_agi parses them.
    agi_host_text = f"[{agi_host}]" if ":" in agi_host else agi_host
    return AsteriskAccess(
        http_host=http_host,
        http_port=http_port,
        ari_user=settings.ari_user,
        ari_password=settings.ari_password.get_secret_value(),
        ari_app=settings.ari_app,
        ami_host=settings.ami_host,
        ami_port=settings.ami_port,
        ami_user=settings.ami_user,
        ami_secret=settings.ami_secret.get_secret_value(),
        agi_url=f"agi://{agi_host_text}:{agi_port}",
        dial_string=dial_string,
        endpoint_dial_string=settings.endpoint_dial_template.replace("{endpoint}", "${EXTEN:2}"),
        recordings_spool=spool,
    )


#: The classic AGI script Asterisk runs when the FastAGI route does not answer; it goes
#: into Asterisk's ``astagidir`` (e.g. /var/lib/asterisk/agi-bin), executable.
FALLBACK_SCRIPT = "callcenter-hotline-fallback.py"
_HOTLINE = Path(__file__).parent.parent / "ari_apps" / "hotline"
#: The routing rules the script shares with the product (ari_apps/hotline/rules.py).
FALLBACK_RULES = "callcenter_hotline_rules.py"


def snapshot_path(settings: Settings) -> str:
    """The routing snapshot's absolute path, as Asterisk's script must open it."""
    path = settings.hotline_snapshot_path
    assert path is not None  # set by the settings' own validation
    return str(path if path.is_absolute() else path.resolve())


#: An interpreter the script's ``#!`` line can name: absolute, and nothing the kernel
#: would split on (it passes the rest of the line after a space as one argument).
_INTERPRETER = re.compile(r"/[A-Za-z0-9_./+-]{1,200}")


def check_interpreter(python: str) -> None:
    """Refuse an interpreter path the fallback script's first line cannot carry."""
    if not _INTERPRETER.fullmatch(python):
        raise DialplanError([f"--agi-python: {python!r} must be an absolute path of "
                             "A-Z a-z 0-9 _ . + - / (it becomes the script's #! line)"])


def fallback_script(python: str | None = None) -> str:
    """The text of the classic AGI fallback script (``ari_apps/hotline/fallback_agi.py``);
    with ``python``, its ``#!`` line runs that interpreter instead of ``/usr/bin/env
    python3`` (a venv's, with pyst2: Debian's own python3 refuses ``pip install``)."""
    text = (_HOTLINE / "fallback_agi.py").read_text(encoding="utf-8")
    if python is None:
        return text
    check_interpreter(python)
    body = text.partition("\n")[2]
    return f"#!{python}\n{body}"


def write_fallback_script(out_dir: Path, python: str | None = None) -> Path:
    """Write the fallback script (0755) and the rules it imports (0644) beside the
    configuration; the script's path."""
    script = fallback_script(python)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomically(out_dir / FALLBACK_RULES, (_HOTLINE / "rules.py").read_text(
        encoding="utf-8"), 0o644)
    target = out_dir / FALLBACK_SCRIPT
    _write_atomically(target, script, 0o755)
    return target


def _write_atomically(target: Path, text: str, mode: int) -> None:
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def template_environment() -> jinja2.Environment:
    """The Jinja2 environment: strict about undefined names, no HTML escaping."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dialplan", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_config(settings: Settings, directory: Directory) -> dict[str, str]:
    """Render every configuration file into memory: file name to text.

    Raises :class:`~dialplan.exceptions.DialplanError` on any problem, before anything
    is written anywhere.
    """
    check_directory(directory)
    access = asterisk_access(settings, directory)
    sip_host, sip_port = parse_bind(directory.pbx.sip_bind)
    context: dict[str, Any] = {
        "access": access,
        "ami_read": EVENT_CLASSES,
        "directory": directory,
        "sip_bind": f"[{sip_host}]:{sip_port}" if ":" in sip_host else f"{sip_host}:{sip_port}",
        # Priority labels for the hotline's queue choice; queue names may hold "-",
        # which labels and extension names treat specially, so number them instead.
        "queue_labels": {queue.name: f"queue{i}" for i, queue in enumerate(directory.queues, 1)},
        "has_webrtc": any(agent.webrtc for agent in directory.agents),
        "tls": parse_bind(directory.webrtc.tls_bind) if directory.webrtc else None,
        "fallback": {"script": FALLBACK_SCRIPT, "snapshot": snapshot_path(settings)},
        "callback_context": settings.hotline_callback_context,
        "recordings_spool": access.recordings_spool,
    }
    env = template_environment()
    return {name: env.get_template(f"{name}.j2").render(context) for name in CONFIG_FILES}


def write_config(files: dict[str, str], out_dir: Path) -> list[Path]:
    """Write the rendered files into ``out_dir``, each atomically, readable by owner and group.

    The files hold the ARI, AMI and SIP secrets, hence mode 0640.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in files.items():
        target = out_dir / name
        fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", dir=out_dir)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(tmp_name, 0o640)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
