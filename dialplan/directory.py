"""The directory description the Asterisk configuration is rendered from.

It names what Asterisk must know about the call centre's people and lines: the
agents' softphones, the elders' SOS devices, the trunk, the hotline and SOS numbers
and the queues. Today it is read from a TOML file (or the built-in example); later
the product's database will fill the same dataclasses.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, TypeAdapter, ValidationError

from callcenter.settings import parse_bind
from dialplan.exceptions import DirectoryError

# app_queue strategies in Asterisk 22 (apps/app_queue.c, `strategies[]`).
QueueStrategy = Literal[
    "ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear", "wrandom"
]

# Agents are dialled by their endpoint name from the [agents] context. Asterisk drops
# "-" from extension names when matching (555-1212 == 5551212), so agent names keep
# to letters, digits and "_"; devices and the trunk may also use "." and "-".
AGENT_NAME = re.compile(r"^[A-Za-z0-9_]{1,40}$")
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,39}$")
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PHONE_NUMBER = re.compile(r"^\+?[0-9*#]{1,20}$")
HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")
SOUND = re.compile(r"^[A-Za-z0-9_/-]{1,80}(&[A-Za-z0-9_/-]{1,80}){0,9}$")
CODEC = re.compile(r"^[a-z0-9_]{2,20}$")
NETWORK = re.compile(r"^[0-9A-Fa-f:.]+(/[0-9.]{1,15})?$")
# A value ends at ";" in Asterisk config files (a comment), and at a line break.
UNSAFE_IN_CONFIG = re.compile(r"[;\r\n\x00]")
MIN_PASSWORD_LENGTH = 8

# Section names the templates use themselves; an endpoint may not take them.
RESERVED_SECTIONS = frozenset({"global", "system", "transport-udp", "transport-ws", "transport-wss"})


@dataclass(frozen=True)
class PbxNetwork:
    """Where Asterisk listens for SIP, and its NAT view of the world."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    sip_bind: str = "127.0.0.1:5060"
    external_address: str | None = None
    local_nets: tuple[str, ...] = ()
    # Who may log in to AMI (manager.conf permit), address/mask.
    manager_permit: tuple[str, ...] = ("127.0.0.1/255.255.255.255",)


@dataclass(frozen=True)
class Agent:
    """An agent's softphone: a browser (WebRTC) or a plain SIP phone."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    endpoint: str
    password: str = field(repr=False)
    display_name: str = ""
    webrtc: bool = False


@dataclass(frozen=True)
class SosDevice:
    """An elder's one-key SOS terminal registering as a SIP endpoint."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    endpoint: str
    password: str = field(repr=False)
    # The number the SOS app looks the elder up by; the endpoint name when empty.
    caller_id: str = ""


@dataclass(frozen=True)
class Trunk:
    """The carrier trunk: hotline calls come in on it, every outside call goes out on it."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    host: str
    name: str = "trunk"
    port: int = 5060
    username: str = ""
    password: str = field(default="", repr=False)
    register: bool = True
    codecs: tuple[str, ...] = ("alaw", "ulaw")


@dataclass(frozen=True)
class Queue:
    """A hotline queue: who answers it, how calls are distributed, rest between calls."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    name: str
    strategy: QueueStrategy = "rrmemory"
    wrapup_seconds: int = 10
    ring_seconds: int = 15
    max_wait_seconds: int = 180
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Hotline:
    """The numbers the public dials and where their calls go."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    number: str
    queue: str
    sos_numbers: tuple[str, ...] = ()
    # Where an SOS goes when the Stasis app is not connected (DESIGN invariant 1).
    sos_fallback_queue: str = ""


@dataclass(frozen=True)
class Prompts:
    """Sound files (without extension) played so no caller waits in silence."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    # Defaults are in Asterisk's core sounds (en); the centre installs its own (zh).
    hotline_welcome: str = "one-moment-please"
    sos_fallback: str = "pls-hold-while-try"
    overflow: str = "im-sorry&please-try-call-later"
    goodbye: str = "vm-goodbye"


@dataclass(frozen=True)
class WebRtc:
    """TLS for the WebSocket SIP transport browsers use (wss needs a certificate)."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    tls_bind: str = "0.0.0.0:8089"
    cert_file: str = ""
    private_key_file: str = ""


@dataclass(frozen=True)
class Directory:
    """Everything Asterisk must know about the centre's endpoints, numbers and queues."""

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid", hide_input_in_errors=True)

    hotline: Hotline
    trunk: Trunk
    queues: tuple[Queue, ...]
    agents: tuple[Agent, ...] = ()
    sos_devices: tuple[SosDevice, ...] = ()
    pbx: PbxNetwork = field(default_factory=PbxNetwork)
    prompts: Prompts = field(default_factory=Prompts)
    webrtc: WebRtc | None = None

    @property
    def sos_fallback_queue(self) -> str:
        """The queue an SOS falls back to: the configured one, else the hotline's."""
        return self.hotline.sos_fallback_queue or self.hotline.queue


_DIRECTORY_ADAPTER: TypeAdapter[Directory] = TypeAdapter(Directory)


def _location(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def directory_from_mapping(data: dict[str, Any]) -> Directory:
    """Build and check a :class:`Directory` from parsed TOML, or raise :class:`DirectoryError`."""
    try:
        directory = _DIRECTORY_ADAPTER.validate_python(data)
    except ValidationError as err:
        problems = [
            f"{_location(error['loc'])}: {str(error['msg']).lower()}"
            for error in err.errors(include_input=False, include_url=False)
        ]
        raise DirectoryError(problems) from None
    check_directory(directory)
    return directory


def load_directory(path: Path) -> Directory:
    """Read a directory description from a TOML file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DirectoryError([f"{path}: cannot read ({err.strerror})"]) from None
    except tomllib.TOMLDecodeError as err:
        raise DirectoryError([f"{path}: not valid TOML ({err})"]) from None
    return directory_from_mapping(data)


def _check_password(where: str, password: str, problems: list[str]) -> None:
    # Never echo the password itself: these messages reach the terminal.
    if not password:
        problems.append(f"{where}: password is missing")
    elif len(password) < MIN_PASSWORD_LENGTH:
        problems.append(f"{where}: password is shorter than {MIN_PASSWORD_LENGTH} characters")
    elif UNSAFE_IN_CONFIG.search(password) or password != password.strip():
        problems.append(f"{where}: password may not contain ';', line breaks or edge spaces")


def _check_endpoints(directory: Directory, problems: list[str]) -> None:
    seen: dict[str, str] = {}

    def claim(name: str, where: str) -> None:
        key = name.lower()
        if key in RESERVED_SECTIONS or key == f"{directory.trunk.name}-auth".lower():
            problems.append(f"{where}: endpoint name {name!r} is reserved")
        elif key in seen:
            problems.append(f"{where}: duplicate endpoint name {name!r} (also {seen[key]})")
        else:
            seen[key] = where

    claim(directory.trunk.name, "trunk.name")
    for i, agent in enumerate(directory.agents):
        where = f"agents[{i}]"
        if not AGENT_NAME.match(agent.endpoint):
            problems.append(f"{where}.endpoint: {agent.endpoint!r} must be 1-40 letters, digits or _")
        claim(agent.endpoint, where)
        _check_password(where, agent.password, problems)
        if UNSAFE_IN_CONFIG.search(agent.display_name) or any(c in agent.display_name for c in '"<>'):
            problems.append(f"{where}.display_name: may not contain ; \" < > or line breaks")
    for i, device in enumerate(directory.sos_devices):
        where = f"sos_devices[{i}]"
        if not ENDPOINT_NAME.match(device.endpoint):
            problems.append(f"{where}.endpoint: {device.endpoint!r} must be 1-40 of A-Z a-z 0-9 _ . -")
        claim(device.endpoint, where)
        _check_password(where, device.password, problems)
        if device.caller_id and not PHONE_NUMBER.match(device.caller_id):
            problems.append(f"{where}.caller_id: must be a phone number")


def _check_trunk(trunk: Trunk, problems: list[str]) -> None:
    if not ENDPOINT_NAME.match(trunk.name):
        problems.append(f"trunk.name: {trunk.name!r} must be 1-40 of A-Z a-z 0-9 _ . -")
    if not HOST.match(trunk.host):
        problems.append(f"trunk.host: {trunk.host!r} is not a host name or address")
    if not 0 < trunk.port < 65536:
        problems.append(f"trunk.port: {trunk.port} is not a port")
    if trunk.register or trunk.username or trunk.password:
        if not trunk.username or UNSAFE_IN_CONFIG.search(trunk.username) or "@" in trunk.username:
            problems.append("trunk.username: required to register or authenticate (no ; @ or line breaks)")
        _check_password("trunk", trunk.password, problems)
    if not trunk.codecs:
        problems.append("trunk.codecs: at least one codec")
    problems.extend(f"trunk.codecs: {c!r} is not a codec name" for c in trunk.codecs if not CODEC.match(c))


def _check_numbers_and_queues(directory: Directory, problems: list[str]) -> None:
    hotline = directory.hotline
    numbers = [("hotline.number", hotline.number)] + [
        (f"hotline.sos_numbers[{i}]", n) for i, n in enumerate(hotline.sos_numbers)
    ]
    seen_numbers: set[str] = set()
    for where, number in numbers:
        if not PHONE_NUMBER.match(number):
            problems.append(f"{where}: {number!r} is not a phone number")
        elif number in seen_numbers:
            problems.append(f"{where}: {number!r} is listed twice")
        seen_numbers.add(number)

    agents = {agent.endpoint for agent in directory.agents}
    queue_names: set[str] = set()
    for i, queue in enumerate(directory.queues):
        where = f"queues[{i}]"
        if not QUEUE_NAME.match(queue.name):
            problems.append(f"{where}.name: {queue.name!r} must be 1-64 of A-Z a-z 0-9 _ -")
        elif queue.name.lower() in {"general", *queue_names}:
            problems.append(f"{where}.name: duplicate or reserved queue name {queue.name!r}")
        queue_names.add(queue.name.lower())
        for key, value, low in (
            ("wrapup_seconds", queue.wrapup_seconds, 0),
            ("ring_seconds", queue.ring_seconds, 1),
            ("max_wait_seconds", queue.max_wait_seconds, 10),
        ):
            if value < low:
                problems.append(f"{where}.{key}: must be at least {low}")
        for member in queue.members:
            if member not in agents:
                problems.append(f"{where}.members: {member!r} is not an agent endpoint")
        if len(set(queue.members)) != len(queue.members):
            problems.append(f"{where}.members: an agent is listed twice")
    if not directory.queues:
        problems.append("queues: at least one queue is needed for the hotline")
    for key, name in (("hotline.queue", hotline.queue), ("hotline.sos_fallback_queue", hotline.sos_fallback_queue)):
        if name and name not in {queue.name for queue in directory.queues}:
            problems.append(f"{key}: {name!r} is not one of the queues (names are exact)")


def _check_network(directory: Directory, problems: list[str]) -> None:
    try:
        parse_bind(directory.pbx.sip_bind)
    except ValueError as err:
        problems.append(f"pbx.sip_bind: {err}")
    if directory.pbx.external_address is not None and not HOST.match(directory.pbx.external_address):
        problems.append("pbx.external_address: not a host name or address")
    for key in ("local_nets", "manager_permit"):
        problems.extend(
            f"pbx.{key}: {net!r} is not address/mask" for net in getattr(directory.pbx, key) if not NETWORK.match(net)
        )
    for key, sound in vars(directory.prompts).items():
        if not SOUND.match(sound):
            problems.append(f"prompts.{key}: {sound!r} is not a sound name (letters, digits, _ / - and &)")
    webrtc = directory.webrtc
    if webrtc is not None:
        try:
            parse_bind(webrtc.tls_bind)
        except ValueError as err:
            problems.append(f"webrtc.tls_bind: {err}")
        for key in ("cert_file", "private_key_file"):
            value = getattr(webrtc, key)
            if not value.startswith("/") or UNSAFE_IN_CONFIG.search(value):
                problems.append(f"webrtc.{key}: an absolute path is required")


def check_directory(directory: Directory) -> None:
    """Raise :class:`DirectoryError` listing every problem of ``directory``."""
    problems: list[str] = []
    _check_endpoints(directory, problems)
    _check_trunk(directory.trunk, problems)
    _check_numbers_and_queues(directory, problems)
    _check_network(directory, problems)
    if problems:
        raise DirectoryError(problems)


def example_directory() -> Directory:
    """A loopback-only example centre, for development and the demo (demo passwords)."""
    return Directory(
        pbx=PbxNetwork(sip_bind="127.0.0.1:5060"),
        # Its queue is the product's default (CALLCENTER_HOTLINE_QUEUES, _DEFAULT_QUEUE), so
        # the example renders for a product started with the default settings.
        hotline=Hotline(number="12349", queue="hotline", sos_numbers=("123491",)),
        trunk=Trunk(
            name="trunk", host="127.0.0.2", port=5060, username="callcenter", password="example-trunk-pw"
        ),
        agents=(
            Agent(endpoint="1001", password="example-agent-1001", display_name="Agent 1001", webrtc=True),
            Agent(endpoint="1002", password="example-agent-1002", display_name="Agent 1002"),
        ),
        sos_devices=(SosDevice(endpoint="sos-0001", password="example-device-0001", caller_id="5550001"),),
        queues=(
            # No static members: agents join through the product's login (QueueAdd with
            # their username as MemberName). A static member is always rung, whatever the
            # console says, and its calls are credited to the endpoint, not the agent.
            Queue(name="hotline", strategy="rrmemory", wrapup_seconds=10),
        ),
    )
