#!/usr/bin/env bash
# Run the whole test suite: lint, then pytest against real PostgreSQL, Redis,
# Mosquitto, an SMTP server, headless Chromium and espeak-ng. Extra arguments go to pytest.
set -euo pipefail
. "$(dirname "$0")/_env.sh"
ensure_venv dev
ensure_services
ensure_system_packages
.venv/bin/ruff check .
.venv/bin/mypy callcenter webui ari_apps workflow dialplan recordings
exec .venv/bin/python -m pytest -q "$@"
