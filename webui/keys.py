"""App-scoped objects shared by every module; each feature module defines its own key too."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from callcenter.directory.services import Jurisdiction
from callcenter.runtime import Runtime
from callcenter.store.models import Role

Clock = Callable[[], datetime]

RUNTIME = web.AppKey("runtime", Runtime)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")


@dataclass(frozen=True, slots=True)
class Principal:
    """The logged-in user behind a request, or the API client of a bearer token (``via_token``)."""

    user_id: int
    username: str
    display_name: str
    role: str
    area_path: str | None
    token_hash: str
    csrf_token: str
    expires_at: datetime
    via_token: bool = False

    @property
    def jurisdiction(self) -> Jurisdiction:
        return Jurisdiction(self.area_path)

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles


PRINCIPAL = web.RequestKey("principal", Principal)
