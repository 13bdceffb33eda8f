"""The operator console: aiohttp pages, the JSON API and the WebSocket hub."""

from __future__ import annotations

from webui.app import create_app, run_web

__all__ = ["create_app", "run_web"]
