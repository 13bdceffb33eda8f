"""Page rendering: the shared template context (translator, user, navigation by role)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp_jinja2
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


# Features not built yet (incidents, wallboard) appear as soon as they register a
# route under that name: no placeholder pages.
NAV = (
    NavItem("elders", "nav.search", ALL_ROLES),
    NavItem("incidents", "nav.incidents", frozenset({Role.AGENT, Role.SUPERVISOR, Role.ADMIN})),
    NavItem("wallboard", "nav.wallboard", frozenset({Role.SUPERVISOR, Role.ADMIN})),
    NavItem("audit", "nav.audit", frozenset({Role.AUDITOR, Role.ADMIN})),
    NavItem("users", "nav.users", frozenset({Role.ADMIN})),
    NavItem("timers", "nav.timers", frozenset({Role.ADMIN})),
)


def navigation(request: web.Request, principal: Principal) -> list[dict[str, Any]]:
    """The links this user's role may follow, among the routes that exist."""
    named = request.app.router.named_resources()
    items = []
    for item in NAV:
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
