"""AMI errors: an action failed, timed out, or the connection was not there."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from callcenter.asterisk.ami.messages import AmiResponse


class AmiError(Exception):
    """An AMI action failed; carries the action, its ActionID, the node and Asterisk's message."""

    error_id = "ami_error"

    def __init__(self, message: str, *, action: str = "", action_id: str = "", node: str = "",
                 response: AmiResponse | None = None) -> None:
        self.message = message
        self.action = action
        self.action_id = action_id
        self.node = node
        self.response = response
        super().__init__(f"[{node}] {action} ({action_id}): {message}")


class AmiConnectionError(AmiError):
    """Not connected, or the connection dropped before the answer came."""

    error_id = "ami_unreachable"


class AmiTimeout(AmiError):
    """No (complete) answer within the action timeout."""

    error_id = "ami_timeout"


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error`` (e.g. 'Extension does not exist.')."""

    error_id = "ami_action_error"
