"""Password and token hashing with argon2id (GB/T 22239 level 2: no clear-text secrets)."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# A fixed hash to verify against when the user does not exist, so a login for an
# unknown name costs the same time as one for a known name (no user enumeration).
_DUMMY_PASSWORD = "callcenter-dummy-password"


class Passwords:
    """Hash and verify passwords off the event loop (argon2 is deliberately slow)."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19_456) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
        self._dummy = self._hasher.hash(_DUMMY_PASSWORD)

    def hash_sync(self, password: str) -> str:
        """The argon2id hash of ``password``."""
        return self._hasher.hash(password)

    def verify_sync(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches ``stored`` (None: compare to a dummy)."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerificationError, InvalidHashError):
            return False

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, stored: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify_sync, stored, password)


def check_password_strength(password: str) -> str | None:
    """Why ``password`` is too weak for a console account, or None when it is fine."""
    if len(password) < 10:
        return "at least 10 characters"
    kinds = sum(
        (
            any(c.islower() for c in password),
            any(c.isupper() for c in password),
            any(c.isdigit() for c in password),
            any(not c.isalnum() for c in password),
        )
    )
    if kinds < 3:
        return "at least three of: lower case, upper case, digits, symbols"
    return None
