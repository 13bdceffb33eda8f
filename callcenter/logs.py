"""structlog set-up: JSON lines in production, a readable console in development.

Personal data never reaches a log line in clear (GB/T 35273 §6.3, DESIGN invariant 5):
phone numbers and ID numbers are masked wherever they appear, and the values of
keys that hold a person's name are masked by key. Identifiers (``ID_KEYS``) stay readable.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

# 18-digit resident ID (GB 11643, last char may be X) and the old 15-digit form.
_ID_NUMBER = re.compile(r"(?<!\d)(\d{6})\d{8,11}([\dXx])(?!\d)")
# Phone numbers: mainland mobiles, optionally +86, and fixed lines with area code.
_PHONE = re.compile(r"(?<![\dA-Za-z])(\+?86[- ]?)?(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_FIXED_LINE = re.compile(r"(?<!\d)(0\d{2,3})[- ]?\d{3,4}(\d{4})(?!\d)")

#: Keys whose value is a person's name (or a free text that may carry one).
NAME_KEYS = frozenset(
    {
        "name",
        "elder_name",
        "caller_name",
        "contact_name",
        "full_name",
        "display_name",
        "callerid_name",
        "connected_name",
        "staff_name",
        "kin_name",
    }
)
#: Keys whose value must never be shown at all.
SECRET_KEYS = frozenset({"password", "secret", "token", "auth_token", "api_key", "id_number"})
#: Keys whose value is a product or Asterisk identifier, logged as is: an SOS incident id
#: (``20261130085012a1b2c3``) or a leg or bridge built from it is a digit run that the
#: phone and ID-number patterns would otherwise mask, and an unreadable id helps nobody.
ID_KEYS = frozenset(
    {
        "incident_id",
        "incident",
        "leg_id",
        "leg",
        "channel_id",
        "bridge_id",
        "bridge",
        "case_id",
        "linkedid",
        "uniqueid",
        "alarm_id",
        "reference",
    }
)


def mask_name(name: str) -> str:
    """Keep the first character of a name: 张三丰 → 张**, Alice → A****."""
    name = name.strip()
    if not name:
        return name
    return name[0] + "*" * max(len(name) - 1, 1)


def mask_text(text: str) -> str:
    """Mask every ID number and phone number inside a free text."""
    text = _ID_NUMBER.sub(lambda m: f"{m.group(1)}********{m.group(2)}", text)
    text = _PHONE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(3)}", text)
    return _FIXED_LINE.sub(lambda m: f"{m.group(1)}-****{m.group(2)}", text)


def _mask_value(key: str, value: Any) -> Any:
    if key in SECRET_KEYS:
        return "***"
    if isinstance(value, str):
        if key in ID_KEYS:
            return value
        return mask_name(value) if key in NAME_KEYS else mask_text(value)
    if isinstance(value, Mapping):
        return {k: _mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(key, v) for v in value]
    return value


def mask_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask names, phone numbers and ID numbers."""
    for key, value in list(event_dict.items()):
        if key == "exc_info":
            continue
        event_dict[key] = _mask_value(key, value)
    return event_dict


def _mask_rendered_exception(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    exc = event_dict.get("exception")
    if isinstance(exc, str):
        event_dict["exception"] = mask_text(exc)
    return event_dict


def configure_logging(level: str = "INFO", fmt: str = "auto", env: str = "development") -> None:
    """Route structlog and the standard library through one masking pipeline."""
    json_lines = fmt == "json" or (fmt == "auto" and (env == "production" or not sys.stderr.isatty()))
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_personal_data,
    ]
    renderer: Any
    if json_lines:
        renderer = structlog.processors.JSONRenderer()
        final = [structlog.processors.format_exc_info, _mask_rendered_exception, renderer]
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
        final = [renderer]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiohttp.access", "sqlalchemy.engine", "asyncio"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


bind_context = structlog.contextvars.bind_contextvars
bound_context = structlog.contextvars.bound_contextvars
clear_context = structlog.contextvars.clear_contextvars


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; bind per-call context with :func:`bound_context`."""
    return structlog.get_logger(name)
