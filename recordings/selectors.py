"""Reads of recordings that carry an access rule; the admin, views and tasks all ask these."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from recordings.models import DataSubject, Queue, Recording


def queues_reviewable_by(user) -> QuerySet[Queue]:
    return get_objects_for_user(user, "recordings.review_queue", klass=Queue, accept_global_perms=False)


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
    single_grants = get_objects_for_user(
        user, "recordings.review_recording", klass=Recording, accept_global_perms=False
    ).values("pk")
    return Recording.objects.filter(
        Q(queue__in=queues_reviewable_by(user).values("pk")) | Q(pk__in=single_grants),
        status=Recording.Status.ACTIVE,
    )


def subjects_visible_to(user) -> QuerySet[DataSubject]:
    """Every subject for holders of ``view_all_subjects``; otherwise the subjects granted to the
    user object by object (a privacy analyst gets a grant with each request assigned)."""
    if not user.is_active:
        return DataSubject.objects.none()
    if user.has_perm("recordings.view_all_subjects"):
        return DataSubject.objects.all()
    return get_objects_for_user(
        user, "recordings.view_datasubject", klass=DataSubject, accept_global_perms=False
    )
