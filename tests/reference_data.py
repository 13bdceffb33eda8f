"""Where the tests' reference data lives: copies kept in the repository, found relative to it."""

from __future__ import annotations

from pathlib import Path

# Copied from the project's shared Asterisk captures (real Asterisk 22.10.1); see
# data/asterisk/traces/README.md for how they were recorded.
ASTERISK_DATA = Path(__file__).resolve().parent / "data" / "asterisk"
TRACES = ASTERISK_DATA / "traces"
ARI_API_DOCS = ASTERISK_DATA / "ari-api-docs"
