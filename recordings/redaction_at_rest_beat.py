"""Beat's round over redactions at rest (``recordings.redaction_at_rest``): what a lost message,
a dead worker or a refused delete left undone is finished here, and what was never asked for
(recordings stored before the policy named a kind, or before this existed) is asked for."""

from __future__ import annotations

import datetime
import logging
from functools import partial

from celery import shared_task
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from recordings.models import AtRestRedaction, Recording
from recordings.redaction.at_rest_policy import policy_kinds, segments_to_redact
from recordings.redaction_at_rest import (
    IN_FLIGHT,
    MAX_ATTEMPTS,
    RESEND_AFTER,
    RUN_TIMEOUT,
    Status,
    redact_recording_at_rest,
    redaction_at_rest_request,
    unredacted_version_remove,
)
from recordings.vault.storage import recordings_storage

logger = logging.getLogger(__name__)


def _abandoned_hand_back(now: datetime.datetime) -> int:
    """Rows whose worker died mid-rewrite: back to pending (failed after MAX_ATTEMPTS), their
    key in flight dropped first, then the half-written blob deleted. The recording's own blob
    and key were never touched: it stays readable as it was."""
    handed_back = 0
    abandoned = AtRestRedaction.objects.filter(status=Status.RUNNING, started_at__lt=now - RUN_TIMEOUT)
    for redaction_id in list(abandoned.values_list("pk", flat=True)):
        with transaction.atomic():
            row = abandoned.select_for_update().filter(pk=redaction_id).first()
            if row is None:
                continue  # it swapped or was cancelled meanwhile
            row.status = Status.PENDING if row.attempts < MAX_ATTEMPTS else Status.FAILED
            row.target_wrapped_key, row.error = b"", "its worker died"
            row.discarded_refs = [*row.discarded_refs, row.target_ref]
            row.save(update_fields=["status", "target_wrapped_key", "error", "discarded_refs"])
            handed_back += 1
    return handed_back


def _discarded_delete(batch_size: int) -> int:
    """Delete the blobs of handed-back and cancelled rewrites (unreadable: their key went first),
    then their names; a blob the storage refuses stays named for the next round."""
    deleted = 0
    rows = AtRestRedaction.objects.exclude(discarded_refs=[]).order_by("pk")
    for redaction_id, names in list(rows.values_list("pk", "discarded_refs")[:batch_size]):
        gone = []
        for name in names:
            try:
                recordings_storage().delete(name)
            except OSError:
                logger.exception(
                    "Discarded blob of redaction at rest %s not deleted; will retry", redaction_id
                )
                continue
            gone.append(name)
        with transaction.atomic():
            row = AtRestRedaction.objects.select_for_update().get(pk=redaction_id)
            row.discarded_refs = [name for name in row.discarded_refs if name not in gone]
            row.save(update_fields=["discarded_refs"])
        deleted += len(gone)
    return deleted


def redactions_at_rest_finish(*, now: datetime.datetime, batch_size: int = 200) -> dict[str, int]:
    """Hand back the abandoned rewrites, delete the blobs of those and of cancelled ones, send
    again the pending ones whose message was lost, remove the unredacted versions whose window
    ended, and request the missing redactions."""
    handed_back = _abandoned_hand_back(now)
    discarded = _discarded_delete(batch_size)
    resent = 0
    with transaction.atomic():
        late = AtRestRedaction.objects.filter(status=Status.PENDING, created_at__lt=now - RESEND_AFTER)
        for redaction_id in late.order_by("pk").values_list("pk", flat=True)[:batch_size]:
            transaction.on_commit(partial(redact_recording_at_rest.delay, redaction_id))
            resent += 1
    due = AtRestRedaction.objects.filter(status=Status.SWAPPED).filter(
        Q(previous_kept_until__isnull=True) | Q(previous_kept_until__lte=now) | Q(previous_wrapped_key=b"")
    )
    removed = sum(
        unredacted_version_remove(redaction_id=pk, now=now)
        for pk in due.order_by("pk").values_list("pk", flat=True)[:batch_size]
    )
    requested = 0
    if policy_kinds():
        unredacted = segments_to_redact(OuterRef("pk"))
        # A failed one (audio that cannot be re-encoded) is not asked for again on every round;
        # a segment marked later asks for it again (redaction_at_rest_request).
        tried = AtRestRedaction.objects.filter(recording=OuterRef("pk")).filter(
            Q(status__in=IN_FLIGHT) | Q(status=Status.FAILED)
        )
        missing = (
            Recording.objects.exclude(status=Recording.Status.ERASED)
            .filter(Exists(unredacted))
            .exclude(Exists(tried))
            .order_by("pk")[:batch_size]
        )
        for recording in missing:
            with transaction.atomic():
                if redaction_at_rest_request(recording=recording) is not None:
                    requested += 1
    return {
        "handed_back": handed_back,
        "discarded": discarded,
        "resent": resent,
        "removed": removed,
        "requested": requested,
    }


@shared_task(name="recordings.tasks.finish_redactions_at_rest")
def finish_redactions_at_rest() -> dict[str, int]:
    """Every few minutes: finish the redactions at rest left undone, remove the unredacted
    versions whose window ended, request the missing ones. Counts only."""
    return redactions_at_rest_finish(now=timezone.now())
