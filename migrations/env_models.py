"""Imports every module that defines tables, so ``Base.metadata`` holds them all."""

from __future__ import annotations

import callcenter.notify.models  # noqa: F401
import callcenter.store.models  # noqa: F401
