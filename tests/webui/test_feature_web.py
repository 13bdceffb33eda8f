"""A feature's web part plugs into the console from its own folder: a page with its own
template and messages, a menu entry, a part of every page and its own assets."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from callcenter.runtime import Runtime
from callcenter.store.models import Role
from tests.webui.conftest import FakeClock, World, submit_login
from webui import create_app
from webui.auth import require_role
from webui.pages import ConsolePart, NavItem, add_nav, add_part, add_web_dir, render


def _feature_folder(root: Path) -> Path:
    web_dir = root / "web"
    (web_dir / "templates").mkdir(parents=True)
    (web_dir / "static").mkdir()
    (web_dir / "locale").mkdir()
    (web_dir / "templates" / "board.html").write_text(
        '{% extends "base.html" %}{% block content %}<h1>{{ _("board.title") }}</h1>'
        "{% endblock %}")
    (web_dir / "templates" / "_board_part.html").write_text('<div id="board-part"></div>')
    (web_dir / "static" / "board.js").write_text("// the board")
    (web_dir / "locale" / "zh-CN.json").write_bytes(
        orjson.dumps({"board.title": "大屏", "nav.board": "大屏"}))
    (web_dir / "locale" / "en.json").write_bytes(
        orjson.dumps({"board.title": "Wallboard", "nav.board": "Board"}))
    return web_dir


async def board(request: web.Request) -> web.StreamResponse:
    require_role(request, Role.SUPERVISOR)
    return render(request, "board.html", {})


@pytest.fixture
async def server(runtime: Runtime, clock: FakeClock, world: World,
                 tmp_path: Path) -> AsyncIterator[TestServer]:
    web_dir = _feature_folder(tmp_path)

    def install(app: web.Application) -> None:
        add_web_dir(app, "board", web_dir)
        app.router.add_get("/board", board, name="board")
        add_nav(app, NavItem("board", "nav.board", frozenset({Role.SUPERVISOR})))
        add_part(app, ConsolePart(template="_board_part.html", scripts=("/assets/board/board.js",)))

    async with TestServer(create_app(runtime, clock=clock, features=[install])) as started:
        yield started


async def test_a_feature_page_menu_part_and_assets_come_from_its_own_folder(
    server: TestServer,
) -> None:
    async with aiohttp.ClientSession(base_url=server.make_url(""),
                                     cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        assert (await submit_login(http, "super_d1")).status == 303
        async with http.get("/board") as response:
            page = await response.text()
        assert response.status == 200
        assert "<h1>大屏</h1>" in page  # its template, its messages
        assert 'href="/board"' in page  # its menu entry
        assert '<div id="board-part"></div>' in page  # its part of every page
        assert '<script src="/assets/board/board.js" defer></script>' in page
        async with http.get("/assets/board/board.js") as response:
            assert response.status == 200 and await response.text() == "// the board"
        async with http.get("/elders") as response:
            assert '<div id="board-part"></div>' in await response.text()


def test_two_features_defining_the_same_message_is_an_error(tmp_path: Path) -> None:
    from webui.i18n import Catalogs

    web_dir = _feature_folder(tmp_path)
    catalogs = Catalogs()
    catalogs.add(web_dir / "locale")
    with pytest.raises(RuntimeError, match="board.title"):
        catalogs.add(web_dir / "locale")
