"""Erasing a subject (Art. 17): the one place that says what an erasure reaches.

``subject_erase`` runs inside the caller's transaction (the erasure job's, ``dsr.jobs``) and, in
this order: locks the subject; reads the legal holds (after the lock, so a hold committed before
it is honoured); restricts what a hold covers instead of erasing it (Art. 17(3)(e)), revoking its
shares, and leaves a ``retention.models.HeldErasure`` per such recording, carried out once its
holds are released (``dsr.held_erasures``); erases every other live recording (keys shredded,
tombstones, shares revoked: ``retention.services.recordings_erase``); and, when nothing is held,
shreds the subject's personal data (``recordings.vault.services.subject_personal_data_shred``:
key, ciphertext, blind indexes, history rows) and purges their access packages. It ends with one
``erasure`` event in the access log naming the request. The blobs are deleted by a task once the
transaction commits.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import model_update
from dsr.packages import packages_purge_for_subject
from recordings.models import DataSubject, Recording
from recordings.restrictions import restriction_lift
from recordings.selectors import restriction_in_force
from recordings.sharing.services import shares_revoke_for
from recordings.vault.services import subject_personal_data_shred
from retention.held_erasures import held_erasures_defer
from retention.models import DeletionRecord, LegalHold
from retention.selectors import ErasureTarget, holds_active
from retention.services import blobs_delete_pending_after_commit, recordings_erase


@dataclass(frozen=True)
class SubjectErasure:
    erased: int  # recordings erased
    restricted: int  # recordings a hold kept, restricted instead
    held_by: str  # the hold ground ("" when nothing was held: the personal data is gone too)


def live_recordings(subject: DataSubject) -> QuerySet[Recording]:
    return Recording.objects.filter(subject=subject).exclude(status=Recording.Status.ERASED).order_by("pk")


def holds_on(subject: DataSubject) -> dict[int, list[LegalHold]]:
    """Active holds covering each of the subject's live recordings, by recording id."""
    recordings = list(live_recordings(subject).values_list("pk", "queue_id"))
    holds = list(
        holds_active().filter(
            Q(subject_id=subject.pk)
            | Q(recording_id__in=[pk for pk, _ in recordings])
            | Q(queue_id__in={queue_id for _, queue_id in recordings})
        )
    )
    covering: dict[int, list[LegalHold]] = {}
    for pk, queue_id in recordings:
        for hold in holds:
            if hold.subject_id == subject.pk or hold.recording_id == pk or hold.queue_id == queue_id:
                covering.setdefault(pk, []).append(hold)
    return covering


def hold_ground(holds: list[LegalHold]) -> str:
    cases = ", ".join(sorted({hold.case_reference for hold in holds}))
    return f"legal hold {cases} (Art. 17(3)(e): establishment, exercise or defence of legal claims)"


def _restriction_superseded(*, subject: DataSubject, actor, under: str) -> None:
    """An erasure ends the subject's restriction (Art. 18): what it restricted is erased now, or
    stays restricted while its erasure waits for a hold (``retention.receivers``). The erasure's
    letter tells the subject; the restriction's record names the request that ended it."""
    restriction = restriction_in_force(subject)
    if restriction is not None:
        restriction_lift(restriction=restriction, actor=actor, reason=f"Superseded by the erasure {under}.")


def subject_erase(*, subject_id: int, actor, under: str) -> SubjectErasure:
    """Erase the subject and everything of theirs, or restrict what a legal hold covers; ``under``
    is the request's reference, written on every tombstone, share revocation and event."""
    subject = DataSubject.objects.select_for_update().get(pk=subject_id)
    held = holds_on(subject)
    now = timezone.now()
    restricted, to_erase = 0, []
    for recording in live_recordings(subject).select_for_update().select_related("subject", "queue"):
        if recording.pk in held:
            if recording.status != Recording.Status.RESTRICTED:
                model_update(recording, actor=actor, status=Recording.Status.RESTRICTED)
            shares_revoke_for(recordings=[recording], reason=f"restricted under {under}", actor=actor)
            restricted += 1
            continue
        to_erase.append(recording)
    # Each restricted recording's erasure is remembered, to be carried out once its holds go.
    held_erasures_defer(subject=subject, held=held, request_reference=under, now=now, actor=actor)
    recordings_erase(
        targets=[ErasureTarget.of(recording) for recording in to_erase],
        reason=DeletionRecord.Reason.ERASURE_REQUEST,
        rules={recording.pk: under for recording in to_erase},
        now=now,
        actor=actor,
    )
    blobs_delete_pending_after_commit()
    _restriction_superseded(subject=subject, actor=actor, under=under)
    held_by = hold_ground([hold for holds in held.values() for hold in holds]) if held else ""
    if not held:
        subject_personal_data_shred(subject=subject, actor=actor, reason=f"erasure {under}")
        packages_purge_for_subject(subject=subject, actor=actor, reason=f"erasure {under}")
    access_event_record(
        action=AccessAction.ERASURE,
        object_type="subject",
        object_id=subject.pk,
        object_reference=subject.reference,
        actor=actor,
        detail={
            "request": under,
            "erased": len(to_erase),
            "restricted": restricted,
            "personal_data_shredded": not held,
        },
    )
    return SubjectErasure(erased=len(to_erase), restricted=restricted, held_by=held_by)
