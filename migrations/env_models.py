"""Imports every module that defines tables, so ``Base.metadata`` holds them all."""

from __future__ import annotations

import ari_apps.sos.models  # noqa: F401
import callcenter.notify.models  # noqa: F401
import callcenter.scheduler.models  # noqa: F401
import callcenter.store.models  # noqa: F401
import workflow.models  # noqa: F401
