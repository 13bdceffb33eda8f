"""The bus interface shared by the Redis and in-process implementations."""

from __future__ import annotations

import fnmatch
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The audience of a message for the product's processes alone, never a console socket.
SERVERS_ONLY: dict[str, Any] = {"browsers": False}


@dataclass(frozen=True, slots=True)
class BusMessage:
    """One published message: a dotted ``topic`` and a JSON-able ``payload``.

    ``audience`` says who on the console may receive it: ``roles``, ``users``
    (ids) and ``area_path`` (only users whose jurisdiction covers that area).
    An empty audience means every logged-in user; :data:`SERVERS_ONLY` means no browser
    (raw facts with personal data that a feature turns into its own, narrower messages).
    """

    topic: str
    payload: dict[str, Any]
    audience: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "payload": self.payload, "audience": self.audience}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BusMessage:
        topic = data.get("topic")
        payload = data.get("payload")
        audience = data.get("audience") or {}
        if not isinstance(topic, str) or not isinstance(payload, dict):
            raise ValueError("a bus message needs a string topic and an object payload")
        if not isinstance(audience, dict):
            raise ValueError("a bus message's audience must be an object")
        return cls(topic, payload, audience)


def topic_matches(pattern: str, topic: str) -> bool:
    """Glob match of a topic: ``sos.*`` matches ``sos.started``."""
    return fnmatch.fnmatchcase(topic, pattern)


class Subscription(Protocol):
    """An open subscription; iterate it for messages, close it when done."""

    def __aiter__(self) -> AsyncIterator[BusMessage]: ...

    async def close(self) -> None: ...


class Bus(Protocol):
    """Publish and subscribe by topic pattern."""

    async def start(self) -> None: ...

    async def publish(self, message: BusMessage) -> None: ...

    def publish_nowait(self, message: BusMessage) -> None:
        """Publish from synchronous code: this process's subscribers have it on return,
        the others in order with the publishes around it."""
        ...

    async def subscribe(self, pattern: str) -> Subscription: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...
