"""Reads of retention that carry a rule: what is held, what has expired."""

from __future__ import annotations

import datetime
from typing import NamedTuple

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet

from recordings.models import Purpose, Recording
from retention.models import DeletionRecord, DispositionApproval, LegalHold, RetentionPolicy


class ErasureTarget(NamedTuple):
    """What erasing a recording needs of it: the sweep reads these few columns of each recording
    in a batch, not whole models with their subject and queue (a third of a batch's time)."""

    pk: int
    reference: str
    storage_ref: str
    subject_reference: str
    queue_code: str

    @classmethod
    def of(cls, recording: Recording) -> ErasureTarget:
        return cls(
            recording.pk,
            recording.reference,
            recording.storage_ref,
            recording.subject.reference,
            recording.queue.code,
        )


ERASURE_TARGET_COLUMNS = ("pk", "reference", "storage_ref", "subject__reference", "queue__code")


def holds_active() -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(released_at__isnull=True)


def _held_recording() -> Exists:
    """True for a recording covered by an active hold on it, its subject or its queue."""
    return Exists(
        holds_active().filter(
            Q(recording=OuterRef("pk")) | Q(subject=OuterRef("subject_id")) | Q(queue=OuterRef("queue_id"))
        )
    )


def retention_policies_for(purpose_ids) -> dict[int, RetentionPolicy]:
    """The policies of these purposes, by purpose id (a purpose has at most one)."""
    return {policy.purpose_id: policy for policy in RetentionPolicy.objects.filter(purpose__in=purpose_ids)}


def keep_days_for(purpose: Purpose | int, policies: dict[int, RetentionPolicy]) -> int:
    """How many days a purpose keeps a recording: its policy's, or ``RETENTION_DEFAULT_DAYS`` for
    a purpose without one. ``policies`` is ``retention_policies_for`` of the purposes asked about."""
    policy = policies.get(purpose if isinstance(purpose, int) else purpose.pk)
    return policy.keep_days if policy else settings.RETENTION_DEFAULT_DAYS


def retention_ended(keep_until: datetime.datetime, at: datetime.datetime) -> bool:
    """A recording is kept *until* its keep-until, that moment included: its retention has ended
    only once ``at`` is past it. The sweep's queryset (``recordings_expired``) says the same."""
    return keep_until < at


def recordings_expired(now: datetime.datetime) -> QuerySet[Recording]:
    """Recordings with audio whose keep-until has passed (``retention_ended``), held or not."""
    return Recording.objects.exclude(status=Recording.Status.ERASED).filter(keep_until__lt=now)


def _needs_review() -> Exists:
    """True for a recording one of whose purposes' policies asks for a disposition review."""
    return Exists(
        Recording.purposes.through.objects.filter(
            recording_id=OuterRef("pk"), purpose__retention_policy__disposition_review=True
        )
    )


def _review_approved() -> Exists:
    return Exists(DispositionApproval.objects.filter(recording=OuterRef("pk")))


def recordings_past_retention(now: datetime.datetime) -> QuerySet[Recording]:
    """Expired recordings that the sweep may delete now: not restricted (Art. 18: stored only,
    they wait in ``recordings_restricted_past_retention``), no active legal hold covers them, and
    none of their purposes asks for a DPO's disposition review, or the DPO approved it."""
    return (
        recordings_expired(now)
        .exclude(status=Recording.Status.RESTRICTED)
        .exclude(_held_recording())
        .exclude(_needs_review() & ~_review_approved())
    )


def recordings_awaiting_disposition(now: datetime.datetime) -> QuerySet[Recording]:
    """Expired, unheld, unrestricted recordings that wait for the DPO's disposition review."""
    return (
        recordings_expired(now)
        .exclude(status=Recording.Status.RESTRICTED)
        .exclude(_held_recording())
        .filter(_needs_review() & ~_review_approved())
    )


def recordings_restricted_past_retention(now: datetime.datetime) -> QuerySet[Recording]:
    """Restricted recordings whose retention has ended: the sweep keeps them (Art. 18: stored
    only) until the restriction is lifted; the DPO's list of them says why (``retention.restricted``)."""
    return recordings_expired(now).filter(status=Recording.Status.RESTRICTED)


def holds_covering(recording: Recording) -> QuerySet[LegalHold]:
    return holds_active().filter(
        Q(recording=recording) | Q(subject_id=recording.subject_id) | Q(queue_id=recording.queue_id)
    )


def deletions_with_blob_pending() -> QuerySet[DeletionRecord]:
    """Tombstones whose audio blob the storage has not yet confirmed deleted."""
    return DeletionRecord.objects.filter(blob_deleted_at__isnull=True).exclude(storage_ref="")
