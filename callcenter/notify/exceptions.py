"""Notification errors: each carries a stable error id and details."""

from __future__ import annotations

from typing import Any


class NotifyError(Exception):
    """Base of the notification errors."""

    error_id = "notify-error"
    status = 500

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidNotification(NotifyError):
    """A notification request that can never be delivered as given (bad channel, empty body)."""

    error_id = "notification-invalid"
    status = 422


class SendError(NotifyError):
    """A sender could not hand the message over."""

    error_id = "notification-send-failed"
    status = 502
    #: False: the provider refused it for good (invalid number); True: try again later.
    transient = True


class TransientSendError(SendError):
    """The provider is down, slow or busy: the message is retried with backoff."""

    error_id = "notification-send-transient"


class PermanentSendError(SendError):
    """The provider refused this message for good: it goes dead at once."""

    error_id = "notification-send-refused"
    transient = False


class SenderNotConfigured(PermanentSendError):
    """No sender for the channel (e.g. no Twilio account configured)."""

    error_id = "notification-sender-missing"
