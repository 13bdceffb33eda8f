"""Console fixtures: a Runtime over the test store, a seeded directory, HTTP clients."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.bus import MemoryBus
from callcenter.crypto import FieldCipher
from callcenter.passwords import Passwords
from callcenter.runtime import Runtime, open_runtime
from callcenter.settings import Settings
from callcenter.store.models import ContactRole, Role
from tests.factories import (
    DEFAULT_PASSWORD,
    ContactSpec,
    make_area,
    make_elder,
    make_provider,
    make_user,
)
from webui import create_app


class FakeClock:
    """A clock the test moves by hand: lockouts and expiry without sleeping."""

    def __init__(self) -> None:
        self.now = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class World:
    """Ids of the seeded directory: two districts, three communities, six users."""

    elder_c1: int  # 张秀英, community C1 (district D1 / street S1)
    elder_c2: int  # 张国强, community C2 (D1 / S1)
    elder_c3: int  # 张桂兰, community C3 (district D2)
    elder_wang: int  # 王建华, community C1, no ID number
    path_c1: str
    path_d1: str
    path_d2: str


class ClientAddress:
    """The client address the console sees; a test moves it to play several machines."""

    def __init__(self) -> None:
        self.value = "127.0.0.1"

    def __call__(self, _request: web.Request) -> str:
        return self.value


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client_address() -> ClientAddress:
    return ClientAddress()


@pytest.fixture
async def runtime(settings: Settings, passwords: Passwords) -> AsyncIterator[Runtime]:
    """The product's runtime over the test store, with cheap argon2 and the memory bus."""
    async with open_runtime(settings, bus=MemoryBus()) as opened:
        yield dataclasses.replace(opened, passwords=passwords)


@pytest.fixture
async def world(runtime: Runtime, cipher: FieldCipher, passwords: Passwords) -> World:
    """Areas, elders with contacts, and one user per role and scope."""
    async with runtime.sessions.begin() as db:
        d1 = await make_area(db, "D1", "南开区")
        s1 = await make_area(db, "S1", "长虹街道", d1)
        c1 = await make_area(db, "C1", "长江里社区", s1)
        c2 = await make_area(db, "C2", "黄河里社区", s1)
        d2 = await make_area(db, "D2", "和平区")
        s2 = await make_area(db, "S2", "劝业场街道", d2)
        c3 = await make_area(db, "C3", "花园路社区", s2)
        provider = await make_provider(db, "P1", "乐康居家养老服务中心", "02287654321")
        e1 = await make_elder(
            db, cipher, c1, "张秀英",
            id_number="120104194005171234",
            phones=["13800138001", "02223456789"],
            contacts=[
                ContactSpec(ContactRole.KIN, "张伟", "13911110001", 1, "儿子"),
                ContactSpec(ContactRole.KIN, "张丽", "13911110002", 2, "女儿"),
                ContactSpec(ContactRole.DOCTOR, "李医生", "13911110003", 1),
                ContactSpec(ContactRole.SOCIAL_WORKER, "赵社工", "13911110004", 1),
            ],
            devices=["SOS-0001"],
            provider=provider,
            lives_alone=True,
            health_notes="高血压",
        )
        e2 = await make_elder(db, cipher, c2, "张国强", id_number="120104193811025678",
                              phones=["13800138002"])
        e3 = await make_elder(db, cipher, c3, "张桂兰", id_number="120101194202021234",
                              phones=["13900139003"], disabled=True)
        e4 = await make_elder(db, cipher, c1, "王建华", phones=["13700137004"])
        await make_user(db, passwords, "agent_street", Role.AGENT, area=s1, display_name="坐席甲")
        await make_user(db, passwords, "agent_c1", Role.AGENT, area=c1)
        await make_user(db, passwords, "agent_d2", Role.AGENT, area=d2)
        await make_user(db, passwords, "super_d1", Role.SUPERVISOR, area=d1)
        await make_user(db, passwords, "auditor", Role.AUDITOR)
        await make_user(db, passwords, "admin", Role.ADMIN)
    return World(e1.id, e2.id, e3.id, e4.id, c1.path, d1.path, d2.path)


@pytest.fixture
def app(runtime: Runtime, clock: FakeClock, client_address: ClientAddress) -> web.Application:
    return create_app(runtime, clock=clock, client_address=client_address)


@pytest.fixture
async def server(app: web.Application) -> AsyncIterator[TestServer]:
    async with TestServer(app) as started:
        yield started


Connect = Callable[[], Awaitable[aiohttp.ClientSession]]
Login = Callable[..., Awaitable[aiohttp.ClientSession]]


@pytest.fixture
async def connect(server: TestServer) -> AsyncIterator[Connect]:
    """Open a fresh browser-like HTTP session (own cookie jar) on the test server."""
    opened: list[aiohttp.ClientSession] = []

    async def open_one() -> aiohttp.ClientSession:
        session = aiohttp.ClientSession(
            base_url=server.make_url(""), cookie_jar=aiohttp.CookieJar(unsafe=True)
        )
        opened.append(session)
        return session

    yield open_one
    for session in opened:
        await session.close()


async def submit_login(
    http: aiohttp.ClientSession, username: str, password: str = DEFAULT_PASSWORD, next_: str = ""
) -> aiohttp.ClientResponse:
    """GET the login form (for its CSRF token), then POST the credentials."""
    async with http.get("/login") as page:
        match = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
    assert match is not None
    data = {"username": username, "password": password, "csrf_token": match.group(1),
            "next": next_}
    async with http.post("/login", data=data, allow_redirects=False) as response:
        await response.read()
        return response


@pytest.fixture
def login(connect: Connect, world: World) -> Login:
    """A session logged in as ``username`` (fails the test if the login does not work)."""

    async def login_as(username: str, password: str = DEFAULT_PASSWORD) -> aiohttp.ClientSession:
        http = await connect()
        response = await submit_login(http, username, password)
        assert response.status == 303, f"login as {username} failed: {response.status}"
        return http

    return login_as


async def csrf_of(http: aiohttp.ClientSession) -> str:
    """The session's CSRF token, as a script would fetch it."""
    async with http.get("/api/me") as response:
        assert response.status == 200
        token: str = (await response.json())["csrf_token"]
        return token
