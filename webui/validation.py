"""The console's shared input checks: database ids, NUL bytes, audited reasons, redirect targets.

Every handler takes its ids, query strings and reasons through here, so hostile input
(an id past the column's range, a NUL byte PostgreSQL refuses in text, a reason made of
zero-width spaces, a ``next`` that leaves the site) is a clear 4xx and never reaches the
store as a 500.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated
from urllib.parse import unquote, urlsplit

from aiohttp import web
from pydantic import Field

from callcenter.errors import DomainError

#: The largest id an INTEGER column holds on PostgreSQL (int4); SQLite's are wider.
DB_ID_MAX = 2**31 - 1
#: A database id as a body or query field: out of range is a 422, never a store error.
DbId = Annotated[int, Field(ge=1, le=DB_ID_MAX)]
#: Characters that carry nothing a reader sees: spaces, zero-width and format characters.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp"})
MIN_REASON_CHARS = 2

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InvalidCharacters(DomainError):
    """A parameter carries a NUL byte (no text column can hold one)."""

    error_id = "invalid-characters"
    status = 400


class ReasonRequired(DomainError):
    """An audited action needs a reason a person can read."""

    error_id = "reason-required"
    status = 422


def path_id(request: web.Request, name: str) -> int:
    """The database id in path parameter ``name``; 404 when it cannot name a row."""
    raw = request.match_info.get(name, "")
    # Length first: int() of a long digit string is needlessly slow.
    if not raw.isascii() or not raw.isdigit() or len(raw) > len(str(DB_ID_MAX)):
        raise web.HTTPNotFound()
    value = int(raw)
    if not 1 <= value <= DB_ID_MAX:
        raise web.HTTPNotFound()
    return value


def nul_location(value: object, location: str = "") -> str | None:
    """Where a NUL byte sits in ``value`` (a key path into mappings and lists), or None."""
    if isinstance(value, str):
        return (location or "value") if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            name = f"{location}.{key}" if location else str(key)
            if "\x00" in str(key):
                return name
            found = nul_location(item, name)
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = nul_location(item, f"{location}[{index}]")
            if found is not None:
                return found
    return None


def reject_nul(value: object) -> None:
    """Raise :class:`InvalidCharacters` when ``value`` holds a NUL byte anywhere."""
    location = nul_location(value)
    if location is not None:
        raise InvalidCharacters("a parameter contains a NUL byte", {"parameter": location})


@web.middleware
async def query_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse any request whose query string carries a NUL byte, on every route."""
    reject_nul(request.query)
    return await handler(request)


def _visible(char: str) -> bool:
    return unicodedata.category(char) not in _INVISIBLE_CATEGORIES


def meaningful_reason(text: str, min_chars: int = MIN_REASON_CHARS) -> str:
    """``text`` trimmed of invisible edges; 422 when fewer than ``min_chars`` visible characters."""
    if sum(1 for char in text if _visible(char)) < min_chars or "\x00" in text:
        raise ReasonRequired("give a reason of at least a few visible characters",
                             {"min_chars": min_chars})
    start = next(i for i, char in enumerate(text) if _visible(char))
    end = next(i for i in range(len(text) - 1, -1, -1) if _visible(text[i]))
    return text[start:end + 1]


def _leaves_the_site(target: str) -> bool:
    # Browsers drop tabs and newlines inside URLs and read a backslash as a slash, so
    # "/\t/evil.example" is "//evil.example": a link to another site.
    if any(char.isspace() or not _visible(char) for char in target):
        return True
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return True
    parts = urlsplit(target)
    return bool(parts.scheme or parts.netloc)


def safe_next(value: str | None, default: str = "/") -> str:
    """A same-site absolute path to go to after a redirect; anything else becomes ``default``."""
    if not value or _leaves_the_site(value) or _leaves_the_site(unquote(value)):
        return default
    return value
