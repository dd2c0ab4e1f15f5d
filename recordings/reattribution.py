"""Re-attributing a call to another data subject: a DPO's correction of whose call it is.

A recording's key is wrapped under its subject's key (``recordings.vault.keys``), so changing the
subject is not a field edit: the recording key is unwrapped with the old subject's key and wrapped
again under the new one's, in the same transaction as the new subject, the consents given in the
call, the history and the access event. The key itself does not change, so the audio, the sealed
transcript and open share links (all under the recording key) stay readable without a rewrite.

Rules (``reattribution_refusal``), checked again under the locks:
- the recording is live and active: an erased call has nothing to move, a restricted one is
  stored only (Art. 18(2)): moving it is processing, and its restriction names it;
- neither subject is erased (their key destroyed) or under a restriction in force;
- no higher app objects: ``recording_reattributing`` receivers answer a refusal of their own
  (retention: a legal hold on the old subject keeps this call; an erasure a hold deferred).

Consents: a consent recorded *for this call* (``Consent.recording``) was given by whoever was on
the line, so it moves with the call to the new subject, withdrawal and all. Consents for all of
the old subject's calls (no recording) are the old subject's and stay. Objections are per subject
and stay. Keep-until and QA visibility follow from the ledger: both subjects' calls are computed
again (``grounds_changed_announce``), and shares that lost their ground are revoked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import model_update
from recordings.models import AtRestRedaction, Consent, DataSubject, Recording, RecordingKey, SubjectKey
from recordings.selectors import restriction_in_force
from recordings.services import grounds_changed_announce
from recordings.vault.keys import (
    CiphertextError,
    KeyDestroyedError,
    recording_key_rewrap,
    subject_key,
    wrapped_recording_key_rewrap,
)

PERMISSION = "recordings.reattribute_recording"
REASON_MIN_LENGTH = 10
REASON_MAX_LENGTH = 500

# Sent with ``recording``, ``old_subject`` and ``new_subject`` before anything is written (for
# the preview, and again under the locks). A receiver returns a refusal (a sentence for the DPO)
# or "" / None: retention answers for legal holds, which recordings may not import.
recording_reattributing = Signal()


@dataclass(frozen=True)
class ReattributionPreview:
    recording: Recording
    old_subject: DataSubject
    new_subject: DataSubject
    consents: list[Consent]  # those recorded for this call: they move with it
    open_shares: int
    refusal: str


def _erased(subject: DataSubject) -> bool:
    row = SubjectKey.objects.filter(subject=subject).first()
    return row is None or row.destroyed_at is not None


def reattribution_refusal(*, recording: Recording, old_subject: DataSubject, new_subject: DataSubject) -> str:
    """Why this call may not move from ``old_subject`` to ``new_subject`` now ("" when it may)."""
    if new_subject.pk == old_subject.pk:
        return f"{recording.reference} is already attributed to {new_subject.reference}."
    if recording.status == Recording.Status.ERASED:
        return f"{recording.reference} is erased: there is nothing left to re-attribute."
    if recording.status == Recording.Status.RESTRICTED:
        return (
            f"{recording.reference} is restricted (Art. 18): it is stored only, and re-attributing "
            "it is processing. Lift the restriction first."
        )
    for subject in (old_subject, new_subject):
        if _erased(subject):
            return f"Subject {subject.reference} is erased: no call can be attributed to or from them."
        if restriction_in_force(subject) is not None:
            return (
                f"Subject {subject.reference} is under a restriction of processing (Art. 18): "
                "their calls are stored only until it is lifted."
            )
    for _receiver, refusal in recording_reattributing.send(
        sender=Recording, recording=recording, old_subject=old_subject, new_subject=new_subject
    ):
        if refusal:
            return str(refusal)
    return ""


def reattribution_preview(*, recording: Recording, new_subject: DataSubject) -> ReattributionPreview:
    """What ``recording_reattribute`` would do, and its refusal if it would refuse; writes nothing."""
    old_subject = recording.subject
    consents = list(
        Consent.objects.filter(recording=recording).select_related("purpose").order_by("captured_at", "pk")
    )
    return ReattributionPreview(
        recording=recording,
        old_subject=old_subject,
        new_subject=new_subject,
        consents=consents,
        open_shares=recording.shares.filter(revoked_at__isnull=True).count(),
        refusal=reattribution_refusal(recording=recording, old_subject=old_subject, new_subject=new_subject),
    )


def _locked_subjects(ids: Iterable[int]) -> dict[int, DataSubject]:
    # Subjects first and in id order, as an erasure and a restriction lock their subject first:
    # a call of either subject arriving now, or an erasure of either, waits for this move.
    return {
        subject.pk: subject
        for subject in DataSubject.objects.select_for_update().filter(pk__in=list(ids)).order_by("pk")
    }


@transaction.atomic
def recording_reattribute(*, recording: Recording, new_subject: DataSubject, reason: str, actor) -> Recording:
    """Attribute ``recording`` to ``new_subject`` (DPO only): the recording key re-wrapped under
    the new subject's key, the consents given in the call moved, keep-until and shares computed
    again for both subjects, history and one ``reattributed`` access event written; all or
    nothing. Raises ValidationError with the refusal, PermissionDenied without the permission."""
    if actor is None or not actor.has_perm(PERMISSION):
        raise PermissionDenied("Only a DPO may re-attribute a recording.")
    reason = (reason or "").strip()
    if not REASON_MIN_LENGTH <= len(reason) <= REASON_MAX_LENGTH:
        raise ValidationError(
            {"reason": f"Give the reason in {REASON_MIN_LENGTH} to {REASON_MAX_LENGTH} characters."}
        )
    old_subject_id = Recording.objects.values_list("subject_id", flat=True).get(pk=recording.pk)
    subjects = _locked_subjects({old_subject_id, new_subject.pk})
    # Then the recording and its key: the sweep and an erasure lock a recording before its key.
    recording = Recording.objects.select_for_update().get(pk=recording.pk)
    if recording.subject_id != old_subject_id:
        raise ValidationError("The recording was re-attributed meanwhile; open it again.")
    old_subject, new_subject = subjects[old_subject_id], subjects[new_subject.pk]
    refusal = reattribution_refusal(recording=recording, old_subject=old_subject, new_subject=new_subject)
    if refusal:
        raise ValidationError(refusal)
    key_row = RecordingKey.objects.select_for_update().filter(recording=recording).first()
    try:
        if key_row is None:
            raise KeyDestroyedError(recording.reference)
        old_key, new_key = subject_key(old_subject), subject_key(new_subject)
        recording_key_rewrap(key_row, recording, old_subject_key=old_key, new_subject_key=new_key)
        # An unredacted version kept for its window follows the recording (a rewrite in flight
        # finds its own new key unreadable at its swap, and starts again under the new subject).
        kept = (
            AtRestRedaction.objects.select_for_update()
            .filter(recording=recording)
            .exclude(previous_wrapped_key=b"")
        )
        for redaction in kept:
            redaction.previous_wrapped_key = wrapped_recording_key_rewrap(
                bytes(redaction.previous_wrapped_key),
                recording,
                old_subject_key=old_key,
                new_subject_key=new_key,
            )
            redaction.save(update_fields=["previous_wrapped_key"])
    except (KeyDestroyedError, CiphertextError) as exc:
        raise ValidationError(
            f"The key of {recording.reference} cannot be opened with {old_subject.reference}'s key; "
            "nothing was changed."
        ) from exc
    key_row.save(update_fields=["wrapped_key"])

    history_reason = f"Re-attributed from {old_subject.reference} to {new_subject.reference}"
    model_update(recording, actor=actor, reason=history_reason, subject=new_subject)
    moved = []
    for consent in Consent.objects.select_for_update().filter(recording=recording).order_by("pk"):
        model_update(consent, actor=actor, reason=history_reason, subject=new_subject)
        moved.append(consent.pk)
    access_event_record(
        action=AccessAction.REATTRIBUTED,
        object_type="recording",
        object_id=recording.pk,
        object_reference=recording.reference,
        actor=actor,
        detail={
            "from": old_subject.reference,
            "to": new_subject.reference,
            "consents": moved,
            "reason": reason,
        },
    )
    # The ledger of both changed (a refusal given in the call counts for all of a subject's
    # calls): retention computes keep-until again, sharing revokes what lost its ground.
    for subject in (old_subject, new_subject):
        grounds_changed_announce(subject_id=subject.pk)
    return recording
