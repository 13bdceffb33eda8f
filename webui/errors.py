"""One error middleware (JSON under /api, HTML pages elsewhere) and the security headers.

No traceback, SQL or personal data ever reaches the client: an unexpected error is
logged (masked) with a reference the client sees, so support can find it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError

from callcenter.errors import DomainError
from callcenter.logs import get_logger
from webui.i18n import translator
from webui.pages import render

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
    "object-src 'none'"
)
_ERROR_IDS = {
    400: "bad-request",
    401: "login-required",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    413: "too-large",
    422: "invalid-parameters",
    429: "too-many-attempts",
}


class ErrorBody(BaseModel):
    """Every /api error: a stable id, the HTTP status, a readable message, details."""

    error_id: str
    status: int
    message: str
    details: dict[str, Any] = Field(default_factory=dict)
    reference: str | None = Field(default=None, description="Quote it to support (5xx only).")


class InvalidParameters(Exception):
    """Request parameters or body that fail validation (422)."""

    def __init__(self, err: ValidationError) -> None:
        super().__init__("invalid parameters")
        self.details = {
            "errors": [
                {"loc": [str(p) for p in e["loc"]], "msg": e["msg"], "type": e["type"]}
                for e in err.errors(include_url=False, include_context=False, include_input=False)
            ]
        }


def _respond(
    request: web.Request,
    status: int,
    error_id: str,
    details: dict[str, Any] | None = None,
    reference: str | None = None,
) -> web.StreamResponse:
    _ = translator(request)
    message = _(f"error.{error_id}") if _.has(f"error.{error_id}") else _("error.generic")
    if request.path.startswith("/api/"):
        body = ErrorBody(error_id=error_id, status=status, message=message,
                         details=details or {}, reference=reference)
        return web.json_response(text=body.model_dump_json(), status=status)
    return render(
        request,
        "error.html",
        {"status": status, "message": message, "reference": reference},
        status=status,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn every failure into a clean JSON or HTML error."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        error_id = "csrf-failed" if exc.reason == "csrf" else _ERROR_IDS.get(exc.status, "error")
        response = _respond(request, exc.status, error_id)
        if exc.status == 405 and "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except DomainError as err:
        return _respond(request, err.status, err.error_id, err.details)
    except InvalidParameters as err:
        return _respond(request, 422, "invalid-parameters", err.details)
    except Exception:  # noqa: BLE001 - the request boundary: log, answer 500, never leak
        reference = uuid.uuid4().hex[:12]
        log.exception("request failed", reference=reference, method=request.method,
                      route=request.match_info.route.resource.canonical
                      if request.match_info.route.resource else request.path)
        return _respond(request, 500, "internal", reference=reference)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: CSP, no framing, and no caching of anything but static files."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    if not request.path.startswith("/static/"):
        # Pages and API answers carry personal data: never kept by browsers or proxies.
        headers["Cache-Control"] = "no-store"
