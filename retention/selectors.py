"""Reads of retention that carry a rule: what is held, what has expired."""

from __future__ import annotations

import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet

from recordings.models import Recording
from retention.models import DeletionRecord, LegalHold


def holds_active() -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(released_at__isnull=True)


def _held_recording() -> Exists:
    """True for a recording covered by an active hold on it, its subject or its queue."""
    return Exists(
        holds_active().filter(
            Q(recording=OuterRef("pk")) | Q(subject=OuterRef("subject_id")) | Q(queue=OuterRef("queue_id"))
        )
    )


def recordings_held() -> QuerySet[Recording]:
    return Recording.objects.filter(_held_recording())


def recordings_expired(now: datetime.datetime) -> QuerySet[Recording]:
    """Recordings with audio whose keep-until has passed, held or not."""
    return Recording.objects.exclude(status=Recording.Status.ERASED).filter(keep_until__lt=now)


def recordings_past_retention(now: datetime.datetime) -> QuerySet[Recording]:
    """Expired recordings that the sweep may delete now: no active legal hold covers them, and
    none of their purposes asks for a DPO's disposition review first."""
    return (
        recordings_expired(now)
        .exclude(_held_recording())
        .exclude(purposes__retention_policy__disposition_review=True)
    )


def deletions_with_blob_pending() -> QuerySet[DeletionRecord]:
    """Tombstones whose audio blob the storage has not yet confirmed deleted."""
    return DeletionRecord.objects.filter(blob_deleted_at__isnull=True).exclude(storage_ref="")
