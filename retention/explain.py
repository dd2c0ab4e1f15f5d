"""Why a recording is kept or deleted: the same sentence for the DPO's admin and for
``manage.py retention_preview``. References and dates only, never personal data. The cause and
rule of a retention that has ended are those stored with keep-until (``retention.keep_until``),
which the sweep's tombstone names too."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from recordings.models import Recording
from recordings.selectors import purposes_lawful_for
from retention.models import DeletionReason, DispositionApproval, RetentionPolicy
from retention.restricted import restriction_reason
from retention.selectors import holds_covering, keep_days_for, retention_ended, retention_policies_for


@dataclass(frozen=True)
class RetentionVerdict:
    deleted_by_sweep: bool  # the sweep at that moment deletes it
    reason: str


def _day(moment: datetime.datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d}"


def retention_verdict(recording: Recording, at: datetime.datetime) -> RetentionVerdict:
    """What the sweep would do to ``recording`` at ``at``, and why."""
    if recording.status == Recording.Status.ERASED:
        return RetentionVerdict(False, "Already erased.")
    holds = list(holds_covering(recording).order_by("placed_at"))
    if holds:
        cases = ", ".join(hold.case_reference for hold in holds)
        return RetentionVerdict(
            False, f"Held by case {cases}: no retention or erasure applies while it is held."
        )
    if recording.status == Recording.Status.RESTRICTED:
        # Art. 18: stored only. The sweep deletes nothing restricted, whatever its retention.
        ended = (
            f"; retention ended {_day(recording.keep_until)}"
            if recording.keep_until is not None and retention_ended(recording.keep_until, at)
            else ""
        )
        return RetentionVerdict(
            False,
            f"Restricted: {restriction_reason(recording)}{ended}. Stored only; not deleted while restricted.",
        )
    if recording.keep_until is None:
        return RetentionVerdict(False, "No retention computed yet.")
    if not retention_ended(recording.keep_until, at):
        lawful = purposes_lawful_for(recording)
        policies = retention_policies_for([purpose.pk for purpose in lawful])
        grounds = ", ".join(
            f"{purpose.name.lower()} ({recording.get_lawful_basis_display().split(' (')[0].lower()}, "
            + (
                f"{keep_days_for(purpose, policies)}-day policy"
                if purpose.pk in policies
                else "default period"
            )
            + ")"
            for purpose in lawful
        )
        rule = f" Rule: {recording.keep_until_rule}." if recording.keep_until_rule else ""
        return RetentionVerdict(
            False, f"Kept until {_day(recording.keep_until)} for {grounds or 'the default period'}.{rule}"
        )
    why = _why_ended(recording)
    needs_review = RetentionPolicy.objects.filter(
        purpose__in=recording.purposes.all(), disposition_review=True
    ).exists()
    if needs_review and not DispositionApproval.objects.filter(recording=recording).exists():
        return RetentionVerdict(
            False,
            f"Retention ended {_day(recording.keep_until)}{why}; waiting for the DPO's disposition review.",
        )
    return RetentionVerdict(True, f"Retention ended {_day(recording.keep_until)}{why}: deleted by the sweep.")


def _why_ended(recording: Recording) -> str:
    """The cause and rule stored with keep-until, as the sweep's tombstone will name them."""
    if not recording.keep_until_rule:
        return ""
    cause = DeletionReason(recording.keep_until_cause or DeletionReason.RETENTION_EXPIRED).label
    return f" ({cause}: {recording.keep_until_rule})"
