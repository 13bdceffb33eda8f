"""Failed logins counted per client address, apart from the per-account lockout.

The choice (see README, "Console sign-in"): after ``login_max_failures_per_address``
failed logins from one address within ``login_address_window_seconds``, that address is
refused with 429 for ``login_address_block_seconds``, before any password is checked and
for every account. The account lockout stays as the defence against guessing spread over
many addresses, but one address counts at most once per window against a given account:
a single stranger can no longer lock somebody out by typing five wrong passwords, and a
throttled address is never checked, so it counts against nobody.

The counts live in this process (a restart forgets them; with ``web_workers`` > 1 each
worker counts for itself). The address is the TCP peer's: behind a reverse proxy that
would be the proxy, so serve the console directly or give ``create_app`` a
``client_address`` that reads the proxy's header.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from datetime import datetime, timedelta

from aiohttp import web

from webui.keys import Clock

ClientAddress = Callable[[web.Request], str]


def peer_address(request: web.Request) -> str:
    """The TCP peer of the request (the default ``client_address``)."""
    return request.remote or ""


class LoginThrottle:
    """Remembers recent failed logins per address and per (address, account)."""

    def __init__(
        self, *, max_failures: int, window_seconds: int, block_seconds: int, clock: Clock,
        max_addresses: int = 100_000,
    ) -> None:
        self._max_failures = max_failures
        self._window = timedelta(seconds=window_seconds)
        self._block = timedelta(seconds=block_seconds)
        self._clock = clock
        self._max_addresses = max_addresses
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._blocked_until: dict[str, datetime] = {}
        self._counted: OrderedDict[tuple[str, int], datetime] = OrderedDict()

    def blocked(self, address: str) -> bool:
        """True while ``address`` is refused (too many recent failures)."""
        until = self._blocked_until.get(address)
        if until is None:
            return False
        if until > self._clock():
            return True
        del self._blocked_until[address]
        return False

    def record_failure(self, address: str, user_id: int | None) -> bool:
        """Note a failed login; True when it should count against the account ``user_id``."""
        now = self._clock()
        recent = self._failures.pop(address, None) or deque()
        while recent and recent[0] <= now - self._window:
            recent.popleft()
        recent.append(now)
        self._failures[address] = recent
        if len(recent) >= self._max_failures:
            self._blocked_until[address] = now + self._block
            recent.clear()
        self._trim(self._failures)
        if user_id is None:
            return False
        key = (address, user_id)
        last = self._counted.pop(key, None)
        self._counted[key] = now if last is None or last <= now - self._window else last
        self._trim(self._counted)
        return last is None or last <= now - self._window

    def _trim(self, table: OrderedDict[str, deque[datetime]] | OrderedDict[tuple[str, int], datetime]
              ) -> None:
        # Oldest first: a flood of addresses cannot grow the tables without bound.
        while len(table) > self._max_addresses:
            table.popitem(last=False)


THROTTLE = web.AppKey("login_throttle", LoginThrottle)
CLIENT_ADDRESS: web.AppKey[ClientAddress] = web.AppKey("client_address")
