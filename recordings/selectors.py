"""Reads of recordings that carry an access rule; the admin, views and tasks all ask these."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from recordings.audio.fingerprint import rendition_fingerprint
from recordings.models import (
    AtRestRedaction,
    Consent,
    DataSubject,
    DataSubjectGroupObjectPermission,
    DataSubjectUserObjectPermission,
    LawfulBasis,
    LegitimateInterestAssessment,
    MutedRendition,
    Objection,
    Purpose,
    Queue,
    QueueGroupObjectPermission,
    QueueUserObjectPermission,
    Recording,
    RecordingGroupObjectPermission,
    RecordingUserObjectPermission,
    SensitiveSegment,
    SubjectRestriction,
)
from recordings.vault.blind_index import email_index, phone_index


def _granted(user, codename: str, user_grants, group_grants, field: str = "pk", now=None) -> Q:
    """Objects granted to the user, directly or through a group, by guardian's direct tables.

    The grant tables are asked directly (not through ``get_objects_for_user``): their small id
    subqueries let PostgreSQL hash them and walk the big table by its ordering index. Grants
    that can expire (``expires_at``) count only until then.
    """
    direct = user_grants.objects.filter(user=user, permission__codename=codename)
    via_group = group_grants.objects.filter(group__user=user, permission__codename=codename)
    if now is not None:
        unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        direct, via_group = direct.filter(unexpired), via_group.filter(unexpired)
    return Q(**{f"{field}__in": direct.values("content_object_id")}) | Q(
        **{f"{field}__in": via_group.values("content_object_id")}
    )


def lawful_for_purpose(purpose: Purpose, *, among: Sequence[int] | None = None) -> Q:
    """A filter on Recording: the recording may serve ``purpose`` now.

    The purpose must have been stated for the recording, and its lawful basis must still carry it:
    - consent: an active consent of the subject for the purpose (given for this call or for all
      of the subject's calls), withdrawn by nothing and overtaken by no later refusal;
    - legitimate interests: the recording's approved assessment lists the purpose, and the
      subject has no objection to it that the DPO has not overruled;
    - contract, legal obligation, vital interests, public task: the stated purpose is enough.
    Evaluated at query time, so a withdrawal or an upheld objection counts at once.

    ``among``: the ids of the only recordings the caller evaluates (a batch), for speed alone.
    Inside a CASE, PostgreSQL may hash all of a purpose's links once per query rather than probe
    them row by row; bounded by the batch's lowest and highest id, it hashes those of the batch's
    id range only (or probes, one index descent a row), so a batch's cost does not grow with the
    table (``retention.keep_until``; docs/PERFORMANCE.md, keep-until recomputation).
    """
    links = Recording.purposes.through.objects.filter(recording_id=OuterRef("pk"), purpose_id=purpose.pk)
    if among:
        links = links.filter(recording_id__gte=min(among), recording_id__lte=max(among))
    stated = Exists(links)
    later_refusal = Consent.objects.filter(
        subject_id=OuterRef("subject_id"),
        purpose_id=purpose.pk,
        decision=Consent.Decision.REFUSED,
        captured_at__gt=OuterRef("captured_at"),
    )
    consented = Exists(
        Consent.objects.filter(
            Q(recording_id=OuterRef("pk")) | Q(recording__isnull=True),
            subject_id=OuterRef("subject_id"),
            purpose_id=purpose.pk,
            decision=Consent.Decision.GIVEN,
            withdrawn_at__isnull=True,
        ).filter(~Exists(later_refusal))
    )
    assessed = Exists(
        LegitimateInterestAssessment.purposes.through.objects.filter(
            legitimateinterestassessment_id=OuterRef("legitimate_interest_assessment_id"),
            legitimateinterestassessment__approved_at__isnull=False,
            purpose_id=purpose.pk,
        )
    )
    # Art. 21(1): processing stops once the subject objects, unless and until the DPO records
    # compelling legitimate grounds (overruled); a pending objection stops it too.
    objected = Exists(
        Objection.objects.filter(subject_id=OuterRef("subject_id"), purpose_id=purpose.pk).exclude(
            decision=Objection.Decision.OVERRULED
        )
    )
    return stated & (
        Q(lawful_basis=LawfulBasis.CONSENT) & consented
        | Q(lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS) & assessed & ~objected
        | ~Q(lawful_basis__in=[LawfulBasis.CONSENT, LawfulBasis.LEGITIMATE_INTERESTS])
    )


def recording_usable_for(recording: Recording | int, purpose: Purpose | str) -> bool:
    """May this recording be used for this purpose now? One or two queries."""
    if isinstance(purpose, str):
        purpose = Purpose.objects.get(code=purpose)
    pk = recording.pk if isinstance(recording, Recording) else recording
    return Recording.objects.filter(lawful_for_purpose(purpose), pk=pk).exists()


def purposes_lawful_for(recording: Recording) -> list[Purpose]:
    """The stated purposes this recording may still serve, in one query per stated purpose."""
    return [p for p in recording.purposes.all() if recording_usable_for(recording, p)]


def queues_reviewable_by(user) -> QuerySet[Queue]:
    return Queue.objects.filter(
        _granted(user, "review_queue", QueueUserObjectPermission, QueueGroupObjectPermission)
    )


def queues_visible_to(user) -> QuerySet[Queue]:
    """Every queue for holders of ``view_all_recordings``; otherwise the queues granted for review."""
    if user.has_perm("recordings.view_all_recordings"):
        return Queue.objects.all()
    return queues_reviewable_by(user)


def _quality_assurance() -> Purpose | None:
    return Purpose.objects.filter(code=Purpose.QUALITY_ASSURANCE).first()


def recordings_visible_to(user, *, now: datetime.datetime | None = None) -> QuerySet[Recording]:
    """Every recording the user may see in the back office.

    Holders of ``view_all_recordings`` (DPO, auditor) see all. Anyone else (a QA lead) sees a
    recording only when all of these hold: it is in a queue granted to them, or granted to them
    one by one and that grant has not expired; it is active (not restricted, not erased) and not
    past its retention; and it may serve quality assurance now (``lawful_for_purpose``).
    """
    if not user.is_active:
        return Recording.objects.none()
    if user.has_perm("recordings.view_all_recordings"):
        return Recording.objects.all()
    now = now or timezone.now()
    quality_assurance = _quality_assurance()
    if quality_assurance is None:
        return Recording.objects.none()
    queue_grant = _granted(
        user, "review_queue", QueueUserObjectPermission, QueueGroupObjectPermission, field="queue_id"
    )
    single_grant = _granted(
        user, "review_recording", RecordingUserObjectPermission, RecordingGroupObjectPermission, now=now
    )
    return Recording.objects.filter(
        queue_grant | single_grant,
        Q(keep_until__isnull=True) | Q(keep_until__gt=now),
        lawful_for_purpose(quality_assurance),
        status=Recording.Status.ACTIVE,
    )


def recordings_granted_ids(user, *, now: datetime.datetime | None = None, via: str = "") -> Q:
    """The grants of ``recordings_visible_to`` (for a user without ``view_all_recordings``) as
    lists of ids: implied by that selector, so adding it changes no result, and served by the
    queue and primary-key indexes, where the selector's grant subqueries are not. The capped
    count of a QA lead's list reads only their granted rows this way (docs/PERFORMANCE.md).
    ``via``: the path to the recording from another model (``"recording__"``)."""
    now = now or timezone.now()
    queues = list(queues_reviewable_by(user).values_list("pk", flat=True))
    unexpired = Q(expires_at__isnull=True) | Q(expires_at__gt=now)
    singles = [
        *RecordingUserObjectPermission.objects.filter(
            unexpired, user=user, permission__codename="review_recording"
        ).values_list("content_object_id", flat=True),
        *RecordingGroupObjectPermission.objects.filter(
            unexpired, group__user=user, permission__codename="review_recording"
        ).values_list("content_object_id", flat=True),
    ]
    return Q(**{f"{via}queue_id__in": queues}) | Q(**{f"{via}pk__in": singles})


def recordings_playable_by(user) -> QuerySet[Recording]:
    """Recordings whose audio the user may play: visible, active (never restricted or erased),
    and the user holds ``play_recording``."""
    if not user.is_active or not user.has_perm("recordings.play_recording"):
        return Recording.objects.none()
    return recordings_visible_to(user).filter(status=Recording.Status.ACTIVE)


def subjects_visible_to(user) -> QuerySet[DataSubject]:
    """Every subject for holders of ``view_all_subjects``; otherwise the subjects granted to the
    user object by object (a privacy analyst gets a grant with each request assigned)."""
    if not user.is_active:
        return DataSubject.objects.none()
    if user.has_perm("recordings.view_all_subjects"):
        return DataSubject.objects.all()
    return DataSubject.objects.filter(
        _granted(user, "view_datasubject", DataSubjectUserObjectPermission, DataSubjectGroupObjectPermission)
    )


def consents_visible_to(user) -> QuerySet[Consent]:
    """The consents of the subjects the user may see."""
    if not user.is_active:
        return Consent.objects.none()
    if user.has_perm("recordings.view_all_subjects"):
        return Consent.objects.all()
    return Consent.objects.filter(subject__in=subjects_visible_to(user).values("pk"))


def subject_matching(*, reference: str = "", phone: str = "", email: str = "") -> QuerySet[DataSubject]:
    """Subjects with this reference, or whose phone or email has the same blind index."""
    match = Q(pk__in=[])
    if reference:
        match |= Q(reference=reference)
    if phone:
        match |= Q(phone_index=phone_index(phone))
    if email:
        match |= Q(email_index=email_index(email))
    return DataSubject.objects.filter(match).order_by("pk")


def restriction_in_force(subject: DataSubject | int) -> SubjectRestriction | None:
    """The subject's restriction of processing in force (Art. 18), or None: at most one exists."""
    subject_id = subject.pk if isinstance(subject, DataSubject) else subject
    return SubjectRestriction.objects.filter(subject_id=subject_id, lifted_at__isnull=True).first()


def purposes_stopped_by_objection(recording: Recording) -> list[Purpose]:
    """The stated purposes of a recording that an objection of its subject stops now (Art. 21(1)):
    on legitimate interests only, by an objection pending or upheld, not one the DPO overruled
    (the rule of ``lawful_for_purpose``)."""
    if recording.lawful_basis != LawfulBasis.LEGITIMATE_INTERESTS:
        return []
    objected = Objection.objects.filter(subject_id=recording.subject_id).exclude(
        decision=Objection.Decision.OVERRULED
    )
    return list(recording.purposes.filter(pk__in=objected.values("purpose_id")).order_by("code"))


def segments_muted_when_played(recording: Recording | OuterRef) -> QuerySet[SensitiveSegment]:
    """A recording's (or, with an OuterRef, each recording's) sensitive segments that playback
    and muted renditions still mute: those redacted at rest are silent in the stored audio."""
    return SensitiveSegment.objects.filter(Q(recording=recording), redacted_at_rest__isnull=True)


def recording_segment_bounds(recording: Recording) -> list[tuple]:
    """The recording's segments muted when played, as (start, end) seconds, in order."""
    return list(
        segments_muted_when_played(recording)
        .order_by("start_seconds", "end_seconds")
        .values_list("start_seconds", "end_seconds")
    )


def renditions_current(
    recording: Recording, segments: Sequence[tuple] | None = None
) -> QuerySet[MutedRendition]:
    """The live (not stale) muted renditions made from the recording's segments as they are now
    (``segments``, when the caller has read them already) and its audio as stored now: at most
    one (a unique constraint). Only a ready one may be played; any other is all it can be."""
    bounds = recording_segment_bounds(recording) if segments is None else segments
    fingerprint = rendition_fingerprint(bounds, storage_ref=recording.storage_ref)
    return MutedRendition.objects.filter(recording=recording, fingerprint=fingerprint).exclude(
        status=MutedRendition.Status.STALE
    )


def parts_removed_at_rest(recording_ids: Sequence[int]) -> dict[int, list[dict]]:
    """By recording, the spans silenced in its stored audio by redactions at rest (done or
    finishing), as a subject's access package states them: kind, start, end (seconds) and when,
    in time order. One query."""
    removed: dict[int, list[dict]] = {}
    redactions = (
        AtRestRedaction.objects.filter(
            recording_id__in=list(recording_ids),
            status__in=[AtRestRedaction.Status.SWAPPED, AtRestRedaction.Status.DONE],
        )
        .order_by("recording_id", "swapped_at", "pk")
        .values_list("recording_id", "segments", "swapped_at")
    )
    for recording_id, segments, swapped_at in redactions:
        removed.setdefault(recording_id, []).extend(
            {
                "kind": segment["kind"],
                "start_seconds": segment["start"],
                "end_seconds": segment["end"],
                "removed_at": swapped_at.isoformat() if swapped_at else None,
            }
            for segment in segments
        )
    for spans in removed.values():
        spans.sort(key=lambda span: Decimal(span["start_seconds"]))
    return removed
