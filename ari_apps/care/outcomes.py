"""What follows a care call's attempt: done, another try, or the unreached elder's path.

Pure logic. A wellbeing call not answered (no answer, busy, failed) is tried again after
each of ``CARE_RETRY_DELAYS``; after the last: an agent task "call this elder" and an alert
to kin or the social worker, then, if nobody reaches the elder, a welfare visit. An answer
with no key ("answered, no response") gets one second try, then the same path. A reminder
is tried again when not answered; unconfirmed, it is not repeated (it was said twice on
the line) and a medication reminder is reported to kin when its plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ari_apps.care.models import REACHED, CareKind, CareResult

#: Answered without a key: tries in all before the unreached path.
NO_RESPONSE_TRIES = 2


@dataclass(frozen=True)
class Next:
    """The decision: ``retry_after`` seconds, or ``escalate``, or ``report_kin``, or done."""

    retry_after: float | None = None
    escalate: bool = False
    report_kin: bool = False

    @property
    def final(self) -> bool:
        return self.retry_after is None


def decide(kind: CareKind, result: CareResult, *, attempt: int, no_responses: int,
           retry_delays: list[float], report_to_kin: bool, retryable: bool = True) -> Next:
    """The next step after attempt number ``attempt`` (1-based) ended with ``result``.

    ``no_responses`` counts the attempts so far (this one included) answered without a key.
    ``retryable`` is False when trying again cannot help (no phone, a malformed number).
    """
    if result in REACHED:
        return Next()
    if not retryable:
        if kind.is_reminder:
            return Next(report_kin=kind is CareKind.MEDICATION and report_to_kin)
        return Next(escalate=True)
    if result is CareResult.NO_RESPONSE:
        if kind.is_reminder:
            return Next(report_kin=kind is CareKind.MEDICATION and report_to_kin)
        if no_responses < NO_RESPONSE_TRIES:
            return Next(retry_after=retry_delays[0] if retry_delays else 0.0)
        return Next(escalate=True)
    # Not answered: no answer, busy, failed.
    unanswered_tries = attempt - no_responses
    if unanswered_tries <= len(retry_delays):
        return Next(retry_after=retry_delays[unanswered_tries - 1])
    if kind.is_reminder:
        return Next(report_kin=kind is CareKind.MEDICATION and report_to_kin)
    return Next(escalate=True)


#: Q.850 causes of a call that ended before it was answered, as a care result.
CAUSE_RESULTS = {17: CareResult.BUSY, 18: CareResult.NO_ANSWER, 19: CareResult.NO_ANSWER,
                 21: CareResult.FAILED, 1: CareResult.FAILED, 34: CareResult.FAILED,
                 20: CareResult.FAILED, 3: CareResult.FAILED, 28: CareResult.FAILED}
#: Dial statuses that end a ringing attempt.
DIAL_RESULTS = {"BUSY": CareResult.BUSY, "NOANSWER": CareResult.NO_ANSWER,
                "CONGESTION": CareResult.FAILED, "CHANUNAVAIL": CareResult.FAILED}


def unanswered_result(cause: int | None) -> CareResult:
    """The result of a channel that went away before it was answered."""
    if cause is None:
        return CareResult.NO_ANSWER
    return CAUSE_RESULTS.get(cause, CareResult.NO_ANSWER if cause in (16, 0) else
                             CareResult.FAILED)
