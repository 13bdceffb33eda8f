"""A small registry of /api routes that installs them and generates their OpenAPI 3.1 document."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from webui.errors import ErrorBody

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PATH_PARAM = re.compile(r"\{(\w+)(?::[^{}]+)?\}")
_REF = "#/components/schemas/{model}"
_SUCCESS_TEXT = {200: "OK", 201: "Created", 202: "Accepted"}
SECURITY_SCHEMES: dict[str, Any] = {
    "session": {"type": "apiKey", "in": "cookie", "name": "cc_session",
                "description": "A console login (POST /login); mutating calls also send "
                "X-CSRF-Token."},
    "apiToken": {"type": "http", "scheme": "bearer",
                 "description": "An API token from `callcenter api-token create NAME --role "
                 "ROLE [--area CODE]`, scoped like a user of that role and area; no CSRF "
                 "token. Opens /api routes only."},
    "deviceToken": {"type": "http", "scheme": "bearer",
                    "description": "An SOS device's token from `callcenter device token "
                    "DEVICE_ID`, sent with the header X-Device-Id: <device id>."},
}
_STATUS_TEXT = {
    400: "Bad request",
    401: "Not logged in, or the API token is unknown or revoked (api-token-invalid)",
    403: "Role not allowed, or CSRF token missing or wrong",
    404: "Not found (or outside the user's jurisdiction)",
    422: "Invalid parameters",
    503: "Unhealthy",
}


@dataclass(frozen=True)
class ApiRoute:
    """One documented HTTP route."""

    method: str
    path: str
    handler: Handler
    summary: str
    response: type[BaseModel] | None
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    path_types: dict[str, str] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    public: bool = False
    tag: str = "console"
    #: The status of a success (e.g. 202 for an accepted alarm).
    status: int = 200
    #: Security schemes of a public route that authenticates by itself (e.g. device tokens).
    security: tuple[str, ...] = ()

    @property
    def mutating(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


class ApiRegistry:
    """The routes of the JSON API; the OpenAPI document is derived from them."""

    def __init__(self, title: str, version: str) -> None:
        self.title = title
        self.version = version
        self.routes: list[ApiRoute] = []

    def add(self, route: ApiRoute) -> None:
        self.routes.append(route)

    def install(self, router: web.UrlDispatcher) -> None:
        """Register every route's handler on the app's router."""
        for route in self.routes:
            router.add_route(route.method, route.path, route.handler)

    def document(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every registered route."""
        schemas: dict[str, Any] = {}
        paths: dict[str, dict[str, Any]] = {}
        for route in self.routes:
            documented = _PATH_PARAM.sub(r"{\1}", route.path)  # drop aiohttp's regexes
            paths.setdefault(documented, {})[route.method.lower()] = self._operation(route, schemas)
        return {
            "openapi": "3.1.0",
            "info": {"title": self.title, "version": self.version},
            "paths": paths,
            "components": {
                "schemas": dict(sorted(schemas.items())),
                "securitySchemes": SECURITY_SCHEMES,
            },
        }

    def _operation(self, route: ApiRoute, schemas: dict[str, Any]) -> dict[str, Any]:
        parameters: list[dict[str, Any]] = [
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": route.path_types.get(name, "string")},
            }
            for name in _PATH_PARAM.findall(route.path)
        ]
        if route.query is not None:
            parameters.extend(_query_parameters(route.query))
        if route.mutating and not route.public:
            parameters.append(
                {
                    "name": "X-CSRF-Token",
                    "in": "header",
                    "required": False,
                    "description": "Required with a session cookie: the session's CSRF token "
                    "(GET /api/me returns it). Not sent with an API token.",
                    "schema": {"type": "string"},
                }
            )
        responses: dict[str, Any] = {}
        success = str(route.status)
        if route.response is not None:
            responses[success] = _json_content(_SUCCESS_TEXT.get(route.status, "OK"),
                                               _ref(route.response, schemas, "serialization"))
        else:
            responses[success] = {"description": "OK"}
        errors = set(route.errors)
        if not route.public or route.security:
            errors.add(401)
            if route.mutating:
                errors.add(403)
        if route.query is not None or route.body is not None:
            errors.add(422)
        error_ref = _ref(ErrorBody, schemas, "serialization")
        for status in sorted(errors):
            responses[str(status)] = _json_content(_STATUS_TEXT.get(status, "Error"), error_ref)
        operation: dict[str, Any] = {
            "operationId": _operation_id(route),
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": parameters,
            "responses": responses,
            "security": _security(route),
        }
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                **_json_content("", _ref(route.body, schemas, "validation")),
            }
            del operation["requestBody"]["description"]
        return operation


def _security(route: ApiRoute) -> list[dict[str, list[str]]]:
    if route.public:
        return [{scheme: []} for scheme in route.security]
    return [{"session": []}, {"apiToken": []}]


def _operation_id(route: ApiRoute) -> str:
    words = re.sub(r"[{}]", "", _PATH_PARAM.sub(r"\1", route.path)).strip("/").replace("/", "_").replace(".", "_")
    return f"{route.method.lower()}_{words}"


def _json_content(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _ref(model: type[BaseModel], schemas: dict[str, Any], mode: str) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, schema)
    return {"$ref": _REF.format(model=model.__name__)}


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(ref_template=_REF)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description")}
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        description = schema["properties"][name].get("description")
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


API = web.AppKey("api", ApiRegistry)


async def openapi_document(request: web.Request) -> web.Response:
    """GET /api/openapi.json."""
    return web.json_response(request.app[API].document())
