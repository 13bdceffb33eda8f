"""One typed settings object from ``CALLCENTER_*`` variables and an optional TOML file.

Precedence, highest first: environment variables, the TOML file named by
``CALLCENTER_CONFIG``, the embedded defaults (a SQLite file under ``data_dir``,
the in-process bus, the PBX simulator's loopback addresses).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from callcenter.alarm_types import AlarmKind

ENV_PREFIX = "CALLCENTER_"
#: The law's minimum retention (seed B §5.10): recordings at least 3 months, call records at
#: least 3 years, in calendar months and years. Settings may lengthen, never shorten them.
LAW_MIN_AUDIO_MONTHS = 3
LAW_MIN_RECORDS_YEARS = 3


class SettingsError(Exception):
    """Every invalid or missing setting, gathered into one message."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid configuration ({len(problems)} problem(s)):\n{lines}")


def parse_bind(value: str) -> tuple[str, int]:
    """Split ``host:port`` (``[::1]:port`` for IPv6) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"expected host:port, got {value!r}")
    return host.strip("[]"), int(port)


class AsteriskNode(BaseModel):
    """One Asterisk server: its ARI and AMI addresses."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "callcenter"
    ari_password: SecretStr = SecretStr("callcenter")
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, gt=0, lt=65536)
    ami_user: str = "callcenter"
    ami_secret: SecretStr = SecretStr("callcenter")


class Settings(BaseSettings):
    """The product's configuration, validated once at start."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        extra="forbid",
        validate_default=True,
        hide_input_in_errors=True,
    )

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")
    database_url: str = ""
    redis_url: str | None = None
    secret_key: SecretStr | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Asterisk: the first node's addresses; more nodes in ``asterisk_nodes``.
    ari_url: str = "http://127.0.0.1:8088"
    ari_user: str = "callcenter"
    ari_password: SecretStr = SecretStr("callcenter")
    ari_app: str = Field(default="callcenter", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    ami_host: str = "127.0.0.1"
    ami_port: int = Field(default=5038, gt=0, lt=65536)
    ami_user: str = "callcenter"
    ami_secret: SecretStr = SecretStr("callcenter")
    asterisk_nodes: list[AsteriskNode] = Field(default_factory=list)
    agi_bind: str = "127.0.0.1:4573"
    dial_template: str = "PJSIP/{number}@trunk"
    # How a PJSIP endpoint (an agent's softphone, an elder's SOS device) becomes a dial string.
    endpoint_dial_template: str = "PJSIP/{endpoint}"

    web_bind: str = "127.0.0.1:8080"
    # The centre's time zone (IANA name): every time the console shows is in it, whatever
    # the browser's or the server's own zone; the store keeps UTC.
    time_zone: str = "Asia/Shanghai"
    web_origins: list[str] = Field(default_factory=list)
    session_ttl_seconds: int = Field(default=8 * 3600, gt=60)
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=15 * 60, ge=1)
    # Failed logins per client address (webui/throttle.py): this many within the window
    # refuse the address (429) for the block period, whatever account it tries.
    login_max_failures_per_address: int = Field(default=10, ge=1)
    login_address_window_seconds: int = Field(default=15 * 60, ge=1)
    login_address_block_seconds: int = Field(default=15 * 60, ge=1)

    recordings_dir: Path | None = None
    # Where Asterisk's MixMonitor writes the dialplan's recordings (queue calls, calls out,
    # transfers), shared with Asterisk at the same path; `dialplan render` writes it into
    # [record-call]. Unset: Asterisk records into its own monitor folder, out of reach.
    recordings_spool: Path | None = None
    # Seal audio at rest (AES-GCM, a key derived from SECRET_KEY).
    recordings_encrypt: bool = False
    # How long a play or download link given to a console user stays valid.
    recordings_link_seconds: int = Field(default=300, ge=10, le=3600)
    # Retention (B §5.10): at least the law's minimum, in calendar months and years.
    retention_audio_months: int = Field(default=LAW_MIN_AUDIO_MONTHS, le=1200)
    retention_records_years: int = Field(default=LAW_MIN_RECORDS_YEARS, le=100)
    # An SOS incident's recordings are held this many calendar months (at least the audio's).
    retention_incident_months: int = Field(default=24, le=1200)
    # What happens to a call record past its retention: personal data blanked, or the row gone.
    retention_records_action: Literal["anonymise", "purge"] = "anonymise"
    # The daily sweep's local time (TIME_ZONE), HH:MM.
    retention_sweep_at: str = Field(default="03:30", pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
    # Asterisk's cdr_custom CSV (see README): calls the product missed while down are
    # reconciled from it at start and daily; unset: only live AMI ``Cdr`` events.
    cdr_csv: Path | None = None

    # One-key SOS (REQUIREMENTS §1): who is dialled, how long it rings, when agents are rung.
    sos_emergency_number: str = Field(default="120", pattern=r"^[0-9*#+]{2,32}$")
    sos_kin_at_once: int = Field(default=2, ge=1, le=10)
    sos_ring_timeout: int = Field(default=30, ge=5, le=180)
    sos_emergency_retries: int = Field(default=2, ge=0, le=10)
    sos_emergency_retry_delay: float = Field(default=5.0, ge=0, le=120)
    sos_agent_after_seconds: float = Field(default=20.0, gt=0, le=600)
    sos_supervisor_after_seconds: float = Field(default=40.0, gt=0, le=1200)
    sos_caller_id: str = Field(default="12349", pattern=r"^[0-9*#+]{2,32}$")
    sos_prompt_sound: str = "sound:callcenter/sos-help-coming"
    sos_announce_sound: str = "sound:callcenter/sos-announce"
    # Kin, the doctor and the social worker press 1 to join; no key within this many
    # seconds counts as no answer (a voicemail must never join the elder's call).
    sos_confirm_seconds: float = Field(default=20.0, ge=3, le=120)
    # What they hear when the per-incident prompt cannot be spoken.
    sos_confirm_sound: str = "sound:callcenter/sos-confirm"
    # Per-incident speeches made at once (each is espeak-ng into sox, about one core for
    # 40-80 ms; one at a time makes some 15 a second). More only on a machine with cores
    # to spare: the calls share them. Late speech is replaced by the generic prompts.
    sos_speech_at_once: int = Field(default=1, ge=1, le=16)
    # Care calls (issue 12). Pacing: calls at once per trunk (the part of the dial string
    # after "@"), new calls per second, across every campaign.
    care_max_per_trunk: int = Field(default=4, ge=1, le=500)
    care_calls_per_second: float = Field(default=2.0, gt=0, le=200)
    # Campaigns pause while this many SOS incidents are active, or this many callers wait
    # in the hotline queues (0: never for that reason); they resume by themselves.
    care_pause_sos_active: int = Field(default=1, ge=0, le=1000)
    care_pause_hotline_waiting: int = Field(default=3, ge=0, le=1000)
    # Elders are slow to the phone: a long ring; a key is waited for this long after each
    # saying (the question is said twice).
    care_ring_seconds: int = Field(default=60, ge=10, le=180)
    care_key_seconds: float = Field(default=8.0, ge=2, le=60)
    # Seconds before each retry of an unreached elder (its length = the retries).
    care_retry_delays: list[float] = Field(default_factory=lambda: [900.0, 1800.0])
    # After the last try: an agent task and an alert to kin / the social worker; when nobody
    # has reached the elder this many seconds later, a welfare-visit work order.
    care_visit_after_seconds: float = Field(default=7200.0, ge=0, le=172800)
    # No calls in these local hours ("HH:MM-HH:MM", may cross midnight; "" for none).
    care_quiet_hours: str = Field(default="21:00-08:00", pattern=r"^(\d\d:\d\d-\d\d:\d\d)?$")
    # The daily plans: when each day's calls are laid out (local time), and default plans.
    care_layout_at: str = Field(default="00:05", pattern=r"^\d\d:\d\d$")
    care_default_time: str = Field(default="09:30", pattern=r"^\d\d:\d\d$")
    # A process holding a queued call says so this often; another takes it after 3 times.
    care_watch_seconds: float = Field(default=300.0, ge=1, le=3600)
    care_caller_id: str = Field(default="12349", pattern=r"^[0-9*#+]{2,32}$")
    # Spoken per call by espeak-ng at a slow pace; this sound stands in when it cannot be.
    care_speech: bool = True
    care_fallback_sound: str = "sound:callcenter/care-greeting"
    # The one-key call to kin: each kin rings this long before the next one is dialled.
    care_kin_ring_seconds: int = Field(default=25, ge=5, le=120)
    # Where "press 2" and an unreached kin call go: the hotline's entry in the dialplan.
    care_hotline_context: str = Field(default="hotline-entry", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    care_hotline_extension: str = Field(default="12349", pattern=r"^[0-9A-Za-z*#+_-]{1,32}$")
    # How Asterisk reaches the console for per-incident speech (res_http_media_cache);
    # default: the console's own WEB_BIND address.
    media_base_url: str | None = None
    # The spoken message kin hear for an alarm: this prefix + the alarm kind (e.g. "fall").
    alarm_sound_prefix: str = "sound:callcenter/alarm-"
    # Device alarms (C §7.3.2.8) of these types become a conference like an SOS; every
    # other type calls kin with a spoken message. "sos" is always a conference.
    alarm_conference_types: list[AlarmKind] = ["sos", "fall", "smoke", "gas"]
    # Alarms raised longer ago than this are refused (``alarm-too-old``): a stale alarm
    # must not start calls; the device's clock may also run late (``at`` is its time).
    alarm_max_age_seconds: int = Field(default=600, ge=10, le=7 * 24 * 3600)
    # Bad device tokens: after this many failures for one device id or one client
    # address within the window, every attempt answers 429 for the lockout (per process).
    alarm_auth_max_failures: int = Field(default=10, ge=1)
    alarm_auth_window_seconds: int = Field(default=300, ge=1)
    alarm_auth_lockout_seconds: int = Field(default=300, ge=1)

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from: str | None = None
    twilio_base_url: str | None = None

    smtp_host: str | None = None
    smtp_port: int = Field(default=25, gt=0, lt=65536)
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "callcenter@localhost"
    smtp_starttls: bool = False

    mqtt_url: str | None = None
    # Every ``calls`` process joins this MQTT 5 shared subscription: each alarm goes to one.
    mqtt_share_group: str = Field(default="callcenter", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # The broker keeps this client's session (and its QoS 1 alarms) across reconnects;
    # default ``callcenter-<host name>``. Two ``calls`` processes on one host need two ids.
    mqtt_client_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    # The durable scheduler: the longest it sleeps between passes, how often a failing
    # timer is tried, the first retry delay (doubling each time), and how long a claim
    # holds a timer (a handler is cut off at half of it; a dead process's claim lapses).
    scheduler_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    scheduler_max_attempts: int = Field(default=5, ge=1, le=100)
    scheduler_retry_seconds: float = Field(default=10.0, ge=0, le=3600)
    scheduler_lease_seconds: float = Field(default=120.0, ge=2, le=86400)
    # Finished timers (done, failed, cancelled) stay this long for the /timers page, then go.
    scheduler_keep_days: int = Field(default=30, ge=1, le=3650)

    # The workflow store: deadlines (working days on the Chinese calendar; consults in
    # hours), the warning before a deadline, and when repeated requests are supervised
    # (the same elder and service type this many times within so many days), and the
    # satisfaction (1–5) below which a result counts as unsatisfied.
    workflow_work_order_days: int = Field(default=3, ge=1, le=60)
    workflow_complaint_days: int = Field(default=5, ge=1, le=60)
    workflow_consult_hours: int = Field(default=48, ge=1, le=720)
    workflow_warn_hours: float = Field(default=24.0, ge=0, le=720)
    workflow_repeat_count: int = Field(default=3, ge=2, le=100)
    workflow_repeat_days: int = Field(default=30, ge=1, le=365)
    workflow_unsatisfied_below: int = Field(default=3, ge=1, le=5)

    # The hotline (issue 9). Queues the product logs agents into, each with its wrap-up
    # seconds (keep equal to queues.conf ``wrapuptime``, rendered from the directory).
    hotline_queues: dict[str, int] = Field(default_factory=lambda: {"hotline": 10})
    hotline_default_queue: str = Field(default="hotline", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Opening hours in the centre's time zone ("HH:MM-HH:MM"; 00:00-24:00 = 7x24). Outside
    # them calls go to ``hotline_after_hours_queue`` (the default queue when unset).
    hotline_hours: str = Field(default="00:00-24:00", pattern=r"^\d\d:\d\d-\d\d:\d\d$")
    hotline_after_hours_queue: str | None = Field(default=None,
                                                  pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # A caller who hangs up within this many seconds of joining is a short abandon
    # (counted apart by the figures, still called back).
    hotline_short_abandon_seconds: int = Field(default=5, ge=0, le=600)
    # Calling again within this window puts the caller first (a repeat caller).
    hotline_repeat_window_seconds: int = Field(default=600, ge=0, le=86400)
    # Pause reasons an agent may give, and whether each counts as productive work.
    hotline_pause_reasons: dict[str, bool] = Field(default_factory=lambda: {
        "after-call-work": True, "training": True, "meeting": True, "outbound": True,
        "break": False, "lunch": False, "restroom": False})
    # Callback attempts: seconds before each one (its length is the number of attempts).
    hotline_callback_delays: list[float] = Field(default_factory=lambda: [5.0, 60.0, 300.0, 900.0])
    hotline_callback_ring_seconds: int = Field(default=30, ge=5, le=180)
    hotline_callback_context: str = Field(default="hotline-callback",
                                          pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # The routing snapshot the classic-AGI fallback reads when FastAGI does not answer.
    hotline_snapshot_path: Path | None = None
    hotline_snapshot_seconds: float = Field(default=60.0, ge=1, le=3600)

    # The supervisor's figures (README "Supervisor's live view"; short abandons are the
    # hotline's HOTLINE_SHORT_ABANDON_SECONDS): the service level counts answers within T
    # seconds (per queue, else the default); a queue named here belongs to that area (code)
    # and shows only to users whose jurisdiction covers it.
    wallboard_service_level_seconds: int = Field(default=20, ge=1, le=3600)
    wallboard_queue_service_level: dict[str, int] = {}
    wallboard_queue_areas: dict[str, str] = {}
    # A screen-pop whose call never said it stopped ringing is dropped after this long.
    screenpop_ring_seconds: int = Field(default=180, ge=10, le=3600)
    # A console process without the calls role reads app_queue's AgentCalled off an AMI
    # session of its own (agent events only) and pops at once, rather than after the
    # hotline's ringing message crossed the bus from the calls process.
    screenpop_ami: bool = True

    # Processes serving ``serve --role web`` on one port (SO_REUSEPORT); other roles stay single.
    web_workers: int = Field(default=1, ge=1, le=64)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("agi_bind", "web_bind")
    @classmethod
    def _check_bind(cls, value: str) -> str:
        parse_bind(value)
        return value

    @field_validator("dial_template")
    @classmethod
    def _check_dial_template(cls, value: str) -> str:
        if "{number}" not in value:
            raise ValueError("must contain {number}, e.g. PJSIP/{number}@trunk")
        try:
            value.format(number="0")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"only the {{number}} placeholder is allowed ({err})") from err
        return value

    @field_validator("endpoint_dial_template")
    @classmethod
    def _check_endpoint_dial_template(cls, value: str) -> str:
        if "{endpoint}" not in value:
            raise ValueError("must contain {endpoint}, e.g. PJSIP/{endpoint}")
        try:
            value.format(endpoint="0")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"only the {{endpoint}} placeholder is allowed ({err})") from err
        return value

    @field_validator("media_base_url")
    @classmethod
    def _check_media_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
            raise ValueError("expected an http(s) URL without a query, e.g. http://10.0.0.5:8080")
        return value

    @field_validator("wallboard_queue_service_level")
    @classmethod
    def _check_queue_service_level(cls, value: dict[str, int]) -> dict[str, int]:
        wrong = sorted(q for q, seconds in value.items() if not 1 <= seconds <= 3600)
        if wrong:
            raise ValueError(f"service-level seconds must be 1..3600 (queues {', '.join(wrong)})")
        return value

    @field_validator("time_zone")
    @classmethod
    def _check_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Shanghai") from err
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
            )
        return value

    @field_validator("alarm_conference_types")
    @classmethod
    def _check_alarm_conference_types(cls, value: list[str]) -> list[str]:
        if "sos" not in value:
            raise ValueError('must include "sos": an SOS alarm is always a conference')
        return sorted(set(value))

    @field_validator("redis_url", "mqtt_url")
    @classmethod
    def _check_service_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        schemes = {"redis_url": ("redis", "rediss", "unix"), "mqtt_url": ("mqtt", "mqtts")}
        allowed = schemes[str(info.field_name)]
        parts = urlsplit(value)
        if parts.scheme not in allowed or (parts.scheme != "unix" and not parts.hostname):
            raise ValueError(f"expected {' or '.join(a + '://' for a in allowed)}host[:port]")
        try:
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError as err:
            raise ValueError(f"bad port ({err})") from err
        return value

    @model_validator(mode="after")
    def _complete(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'callcenter.db'}"
        if self.recordings_dir is None:
            self.recordings_dir = self.data_dir / "recordings"
        if self.hotline_snapshot_path is None:
            self.hotline_snapshot_path = self.data_dir / "hotline-routing.json"
        problems = []
        if self.env == "production":
            if self.secret_key is None:
                problems.append("SECRET_KEY: required in production (32+ random characters)")
            if self.ari_password.get_secret_value() == "callcenter":
                problems.append("ARI_PASSWORD: the default password is refused in production")
            if self.ami_secret.get_secret_value() == "callcenter":
                problems.append("AMI_SECRET: the default secret is refused in production")
        if self.secret_key is not None and len(self.secret_key.get_secret_value()) < 32:
            problems.append("SECRET_KEY: must be at least 32 characters")
        if self.retention_audio_months < LAW_MIN_AUDIO_MONTHS:
            problems.append(
                f"RETENTION_AUDIO_MONTHS: {self.retention_audio_months} is shorter than the law "
                f"allows: recordings must be kept at least {LAW_MIN_AUDIO_MONTHS} calendar months "
                "(B §5.10); a setting may lengthen it, never shorten it")
        if self.retention_records_years < LAW_MIN_RECORDS_YEARS:
            problems.append(
                f"RETENTION_RECORDS_YEARS: {self.retention_records_years} is shorter than the law "
                f"allows: call records must be kept at least {LAW_MIN_RECORDS_YEARS} calendar "
                "years (B §5.10); a setting may lengthen it, never shorten it")
        if self.retention_incident_months < self.retention_audio_months:
            problems.append(
                "RETENTION_INCIDENT_MONTHS: an SOS incident's recordings are held at least as "
                f"long as any recording ({self.retention_audio_months} months)")
        if self.twilio_account_sid and not (self.twilio_auth_token and self.twilio_from):
            problems.append("TWILIO_AUTH_TOKEN, TWILIO_FROM: required with TWILIO_ACCOUNT_SID")
        problems.extend(self._hotline_problems())
        if problems:
            raise ValueError("\n".join(ENV_PREFIX + p for p in problems))
        return self

    def _hotline_problems(self) -> list[str]:
        problems = []
        if not self.hotline_queues:
            problems.append("HOTLINE_QUEUES: at least one queue")
        for name, wrapup in self.hotline_queues.items():
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name) or not 0 <= wrapup <= 3600:
                problems.append(f"HOTLINE_QUEUES: {name!r}: a queue name and 0-3600 s of wrap-up")
            elif name.lower() == "general":  # queues.conf's own settings, never a queue
                problems.append("HOTLINE_QUEUES: 'general' is queues.conf's settings section, "
                                "not a queue Asterisk can load: name the queue otherwise")
        for queue in (self.hotline_default_queue, self.hotline_after_hours_queue):
            if queue is not None and queue not in self.hotline_queues:
                problems.append(f"HOTLINE_QUEUES: {queue!r} is used but not listed")
        start, _, end = self.hotline_hours.partition("-")
        if not (start <= "24:00" and end <= "24:00" and start[3:] < "60" and end[3:] < "60"):
            problems.append("HOTLINE_HOURS: HH:MM-HH:MM within 00:00-24:00")
        if not self.hotline_callback_delays or any(
                not 0 <= d <= 86400 for d in self.hotline_callback_delays):
            problems.append("HOTLINE_CALLBACK_DELAYS: 1+ delays of 0-86400 s")
        if not self.hotline_pause_reasons or any(
                not re.fullmatch(r"[a-z0-9_-]{1,32}", r) for r in self.hotline_pause_reasons):
            problems.append("HOTLINE_PAUSE_REASONS: names of a-z 0-9 _ - (1-32)")
        return problems

    @property
    def nodes(self) -> list[AsteriskNode]:
        """Every Asterisk node: the one from the ``ARI_*``/``AMI_*`` settings first."""
        primary = AsteriskNode(
            name="default",
            ari_url=self.ari_url,
            ari_user=self.ari_user,
            ari_password=self.ari_password,
            ami_host=self.ami_host,
            ami_port=self.ami_port,
            ami_user=self.ami_user,
            ami_secret=self.ami_secret,
        )
        return [primary, *self.asterisk_nodes]

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def secret_key_bytes(self) -> bytes:
        """The key that seals ID numbers and signs tokens.

        In development a random key is created once under ``data_dir`` so the
        embedded defaults just work; production must configure it.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(os.urandom(32).hex())
        return path.read_text().strip().encode()


def _describe(error: Any) -> list[str]:
    message = str(error["msg"]).removeprefix("Value error, ")
    if not error["loc"]:  # whole-object checks already name their settings
        return message.splitlines()
    loc = ".".join(str(part) for part in error["loc"])
    return [f"{ENV_PREFIX}{loc.upper()}: {message}"]


def load_settings(**overrides: Any) -> Settings:
    """Build the settings or raise :class:`SettingsError` listing every problem."""
    config_file = os.environ.get(f"{ENV_PREFIX}CONFIG")
    if config_file and not Path(config_file).is_file():
        raise SettingsError([f"{ENV_PREFIX}CONFIG: no such file {config_file!r}"])
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    unknown = [
        f"{name}: unknown setting (a typo?)"
        for name in sorted(os.environ)
        if name.startswith(ENV_PREFIX)
        and name not in known
        and name != f"{ENV_PREFIX}CONFIG"
        and not name.startswith(f"{ENV_PREFIX}TEST_")
    ]
    try:
        settings = Settings(**overrides)
    except ValidationError as err:
        problems = unknown + [line for error in err.errors(include_input=False) for line in _describe(error)]
        raise SettingsError(problems) from None
    except (ValueError, OSError) as err:  # e.g. a TOML file that does not parse
        raise SettingsError([*unknown, f"{ENV_PREFIX}CONFIG: {err}"]) from None
    if unknown:
        raise SettingsError(unknown)
    return settings
