"""Imports every module that defines tables, so ``Base.metadata`` holds them all: the
kernel's own, then each feature's (``Feature.models``)."""

from __future__ import annotations

import importlib

import callcenter.calls.models  # noqa: F401
import callcenter.notify.models  # noqa: F401
import callcenter.scheduler.models  # noqa: F401
import callcenter.store.models  # noqa: F401
from callcenter.registry import FEATURES

for _feature in FEATURES:
    for _module in _feature.models:
        importlib.import_module(_module)
