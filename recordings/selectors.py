"""Reads of recordings that carry an access rule; the admin, views and tasks all ask these."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from recordings.blind_index import email_index, phone_index
from recordings.models import (
    Consent,
    DataSubject,
    DataSubjectGroupObjectPermission,
    DataSubjectUserObjectPermission,
    Queue,
    QueueGroupObjectPermission,
    QueueUserObjectPermission,
    Recording,
    RecordingGroupObjectPermission,
    RecordingUserObjectPermission,
)


def _granted(user, codename: str, user_grants, group_grants, field: str = "pk") -> Q:
    """Objects granted to the user, directly or through a group, by guardian's direct tables.

    The grant tables are asked directly (not through ``get_objects_for_user``): their small id
    subqueries let PostgreSQL hash them and walk the big table by its ordering index.
    """
    direct = user_grants.objects.filter(user=user, permission__codename=codename)
    via_group = group_grants.objects.filter(group__user=user, permission__codename=codename)
    return Q(**{f"{field}__in": direct.values("content_object_id")}) | Q(
        **{f"{field}__in": via_group.values("content_object_id")}
    )


def queues_reviewable_by(user) -> QuerySet[Queue]:
    return Queue.objects.filter(
        _granted(user, "review_queue", QueueUserObjectPermission, QueueGroupObjectPermission)
    )


def queues_visible_to(user) -> QuerySet[Queue]:
    """Every queue for holders of ``view_all_recordings``; otherwise the queues granted for review."""
    if user.has_perm("recordings.view_all_recordings"):
        return Queue.objects.all()
    return queues_reviewable_by(user)


def recordings_visible_to(user) -> QuerySet[Recording]:
    """Every recording the user may see in the back office.

    Holders of ``view_all_recordings`` (DPO, auditor) see all. Anyone else sees the active
    recordings of the queues they were granted, plus those granted to them one by one. The
    purpose rule (quality assurance must be a lawful purpose today) joins this selector with the
    consent ledger.
    """
    if not user.is_active:
        return Recording.objects.none()
    if user.has_perm("recordings.view_all_recordings"):
        return Recording.objects.all()
    queue_grant = _granted(
        user, "review_queue", QueueUserObjectPermission, QueueGroupObjectPermission, field="queue_id"
    )
    single_grant = _granted(
        user, "review_recording", RecordingUserObjectPermission, RecordingGroupObjectPermission
    )
    return Recording.objects.filter(queue_grant | single_grant, status=Recording.Status.ACTIVE)


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
