"""Retention's answers to changes of keep-until's inputs (``retention.recompute`` says which).

The recordings app may not import retention: it sends ``recording_ingested`` and
``recording_grounds_changed`` (a consent withdrawn, given or refused, an objection decided, a
recording's purposes changed), answered here inline, in the sender's transaction. Changes of a
retention policy or of a legitimate-interest assessment reach many recordings: they queue a
durable recomputation, run by a worker once the change commits. Connected in ``retention.apps``.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from recordings.models import LegitimateInterestAssessment, Recording, SubjectRestriction
from retention.keep_until import keep_until_recompute
from retention.models import HeldErasure, KeepUntilRecomputation, LegalHold, RetentionPolicy
from retention.recompute import recomputation_queue
from retention.services import recording_keep_until_recompute

Trigger = KeepUntilRecomputation.Trigger


def keep_until_on_ingest(sender, *, recording: Recording, **kwargs) -> None:
    recording_keep_until_recompute(recording=recording)


def keep_until_on_grounds_changed(sender, *, recordings: list[Recording], **kwargs) -> None:
    """One subject's calls: recomputed in the same transaction as the withdrawal or decision."""
    keep_until_recompute([recording.pk for recording in recordings], now=timezone.now())


def keep_until_on_policy_saved(
    sender, *, instance: RetentionPolicy, created: bool, raw: bool = False, **kwargs
):
    if raw:
        return  # loading a fixture
    verb = "set" if created else "changed"
    recomputation_queue(
        trigger=Trigger.POLICY_CHANGED,
        description=f"Policy {instance.purpose.code} {verb}: {instance.keep_days} days",
        purpose_id=instance.purpose_id,
    )


def keep_until_on_policy_deleted(sender, *, instance: RetentionPolicy, **kwargs) -> None:
    recomputation_queue(
        trigger=Trigger.POLICY_DELETED,
        description=f"Policy {instance.purpose.code} deleted: default {settings.RETENTION_DEFAULT_DAYS} days",
        purpose_id=instance.purpose_id,
    )


def _assessment_changed(assessment: LegitimateInterestAssessment, what: str) -> None:
    if not Recording.objects.filter(legitimate_interest_assessment=assessment).exists():
        return  # a new assessment holds no recording yet
    recomputation_queue(
        trigger=Trigger.ASSESSMENT_CHANGED,
        description=f"Assessment {assessment.pk} {what}",
        assessment_id=assessment.pk,
    )


def keep_until_on_assessment_saved(sender, *, instance, created: bool, raw: bool = False, **kwargs) -> None:
    if not raw and not created:
        _assessment_changed(instance, "approved" if instance.is_approved else "not approved (withdrawn)")


def keep_until_on_assessment_purposes(sender, *, instance, action: str, reverse: bool, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    assessments = (
        [instance]
        if not reverse
        else list(LegitimateInterestAssessment.objects.filter(pk__in=kwargs.get("pk_set") or []))
    )
    for assessment in assessments:
        _assessment_changed(assessment, "purposes changed")


def restricted_for_held_erasure(sender, *, restriction: SubjectRestriction, **kwargs) -> list[int]:
    """Lifting a restriction gives back none of its calls whose erasure waits for a legal hold:
    they stay restricted until the erasure is carried out."""
    return list(
        HeldErasure.objects.filter(
            recording__restrictions=restriction, state__in=HeldErasure.OPEN_STATES
        ).values_list("recording_id", flat=True)
    )


def reattribution_refused_by_holds(
    sender, *, recording: Recording, old_subject, new_subject, **kwargs
) -> str:
    """A call may not leave a subject whose legal hold keeps it (Art. 17(3)(e)): moving it would
    release it from that hold without anyone releasing the hold. A hold on the call itself or on
    its queue goes with it, and a hold on the new subject takes it in: neither is broken. Nor may
    it move while an erasure a hold deferred waits on it (that erasure is the old subject's)."""
    hold = LegalHold.objects.filter(
        scope=LegalHold.Scope.SUBJECT, subject=old_subject, released_at__isnull=True
    ).first()
    if hold is not None:
        return (
            f"The legal hold {hold.case_reference} on {old_subject.reference} keeps this call; "
            "re-attributing it would take it out of the hold. Release the hold first, or ask its owner."
        )
    erasure = HeldErasure.objects.filter(recording=recording, state__in=HeldErasure.OPEN_STATES).first()
    if erasure is not None:
        return (
            f"An erasure under {erasure.request_reference} waits on this call "
            f"({erasure.get_state_display().lower()}); it cannot be re-attributed before that is done."
        )
    return ""
