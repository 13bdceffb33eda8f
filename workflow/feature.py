"""The workflow store: work orders (today the SOS follow-up; the closed loop builds on it)."""

from __future__ import annotations

from callcenter.feature import Feature

FEATURE = Feature(name="workflow", models=("workflow.models",))
