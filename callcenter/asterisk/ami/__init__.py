"""AMI on panoramisk: login, actions and event lists, glob events, reconnect, resync.

``client`` owns the connection and events, ``actions`` the typed actions, ``protocol``
the wire (framing, junk warnings), ``messages`` and ``errors`` what callers get back.
"""

from __future__ import annotations

from callcenter.asterisk.ami.client import AmiClient, AmiHandler, ResyncHook, ami_client_for
from callcenter.asterisk.ami.errors import AmiActionError, AmiConnectionError, AmiError, AmiTimeout
from callcenter.asterisk.ami.messages import (
    ORIGINATE_REASONS,
    AmiEvent,
    AmiResponse,
    OriginateResult,
)

__all__ = [
    "ORIGINATE_REASONS", "AmiActionError", "AmiClient", "AmiConnectionError", "AmiError",
    "AmiEvent", "AmiHandler", "AmiResponse", "AmiTimeout", "OriginateResult", "ResyncHook",
    "ami_client_for",
]
