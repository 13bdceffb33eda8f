"""Page rendering: the shared template context (translator, user, navigation by role)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from callcenter.store.models import Role
from webui.i18n import CATALOGS, translator
from webui.keys import PRINCIPAL, Principal

ALL_ROLES = frozenset(Role)


@dataclass(frozen=True)
class NavItem:
    """A header link, shown to ``roles`` once a route named ``route_name`` exists."""

    route_name: str
    label_key: str
    roles: frozenset[str]


@dataclass(frozen=True)
class ConsolePart:
    """What a feature adds to every page of a logged-in user: an included template (a pop,
    say), style sheets and scripts."""

    template: str | None = None
    styles: tuple[str, ...] = ()
    scripts: tuple[str, ...] = ()


#: The console's own menu; features add theirs with :func:`add_nav` (shown once the named
#: route exists, so a link never leads to a missing page).
NAV = (
    NavItem("elders", "nav.search", ALL_ROLES),
    NavItem("audit", "nav.audit", frozenset({Role.AUDITOR, Role.ADMIN})),
    NavItem("users", "nav.users", frozenset({Role.ADMIN})),
    NavItem("timers", "nav.timers", frozenset({Role.ADMIN})),
)


NAV_ITEMS = web.AppKey("nav_items", list[NavItem])
PARTS = web.AppKey("console_parts", list[ConsolePart])


def add_nav(app: web.Application, item: NavItem) -> None:
    """A feature's menu entry."""
    app[NAV_ITEMS].append(item)


def add_part(app: web.Application, part: ConsolePart) -> None:
    """A feature's part of every page (see :class:`ConsolePart`)."""
    app[PARTS].append(part)


def add_web_dir(app: web.Application, name: str, directory: Path) -> None:
    """A feature's own web folder: ``templates/`` searched after the console's,
    ``locale/<lang>.json`` merged into the catalogs, ``static/`` served at ``/assets/<name>/``
    (not under ``/static/``: that prefix is the console's own folder)."""
    if (directory / "templates").is_dir():
        loader = aiohttp_jinja2.get_env(app).loader
        assert isinstance(loader, jinja2.FileSystemLoader)
        loader.searchpath.append(str(directory / "templates"))
    if (directory / "locale").is_dir():
        app[CATALOGS].add(directory / "locale")
    if (directory / "static").is_dir():
        app.router.add_static(f"/assets/{name}/", directory / "static", name=f"assets-{name}")


def navigation(request: web.Request, principal: Principal) -> list[dict[str, Any]]:
    """The links this user's role may follow, among the routes that exist."""
    named = request.app.router.named_resources()
    items = []
    for item in request.app[NAV_ITEMS]:
        if principal.role in item.roles and item.route_name in named:
            url = str(named[item.route_name].url_for())
            items.append({"url": url, "label_key": item.label_key,
                          "active": request.path == url or request.path.startswith(url + "/")})
    return items


def template_context(request: web.Request) -> dict[str, Any]:
    """What every page needs: translator, language, user, navigation, CSRF token."""
    principal = request.get(PRINCIPAL)
    _ = translator(request)
    return {
        "_": _,
        "lang": _.lang,
        "languages": request.app[CATALOGS].languages,
        "principal": principal,
        "nav": navigation(request, principal) if principal else [],
        "parts": request.app[PARTS] if principal else [],
        "csrf_token": principal.csrf_token if principal else "",
        "here": request.rel_url.path_qs,
    }


def render(
    request: web.Request, template: str, context: Mapping[str, Any], *, status: int = 200
) -> web.Response:
    """Render a page with the shared context (also for error pages raised before a handler)."""
    return aiohttp_jinja2.render_template(
        template, request, {**template_context(request), **context}, status=status
    )
