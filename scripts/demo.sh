#!/usr/bin/env bash
# Run the product on its embedded defaults (SQLite file, in-process bus, the PBX
# simulator) with seeded demo data; prints the console address and the logins.
set -euo pipefail
. "$(dirname "$0")/_env.sh"
ensure_venv ""
exec .venv/bin/callcenter demo "$@"
