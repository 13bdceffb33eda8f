"""The product's features, one line each: the composition root iterates this list.

Part of the composition root (with ``composition.py``, ``server.py``, ``cli.py``, ``demo.py``
and ``demo_hotline.py``), not of the kernel: adding a feature is its own package plus one
line here.
Order matters where a feature builds on another's objects (alarms on SOS).
"""

from __future__ import annotations

from ari_apps.alarms.feature import FEATURE as ALARMS
from ari_apps.care.feature import FEATURE as CARE
from ari_apps.hotline.feature import FEATURE as HOTLINE
from ari_apps.screenpop.feature import FEATURE as SCREENPOP
from ari_apps.sos.feature import FEATURE as SOS
from ari_apps.wallboard.feature import FEATURE as WALLBOARD
from callcenter.feature import Feature
from recordings.feature import FEATURE as RECORDINGS
from workflow.feature import FEATURE as WORKFLOW

FEATURES: tuple[Feature, ...] = (
    WORKFLOW,
    SOS,
    ALARMS,
    RECORDINGS,
    HOTLINE,
    SCREENPOP,
    WALLBOARD,
    CARE,
)
