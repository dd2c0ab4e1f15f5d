"""Subjects with nothing left to keep (Art. 5(1)(e), storage limitation): the sweep's last stage.

A caller's name, phone and email are kept for their calls, consents, requests and holds. Once
none is left, the nightly sweep (``retention.services.retention_sweep``) erases them: the subject
key is shredded and the personal fields and blind indexes blanked, history rows included
(``recordings.vault.services.subject_personal_data_shred``, as an erasure does), a subject
tombstone (``SubjectDeletionRecord``, reason SUBJECT_STORAGE_LIMIT) and an access event written.
The row stays, pseudonymous, because consents, objections and tombstones point at it.

What keeps a subject is a list of *keepers*, each one condition on the subject's row with a
reason a person can read; the preview (``manage.py retention_preview --subjects``) and the sweep
ask the same list. Retention knows its own (a live recording, an active consent, an active hold,
an erasure waiting for a hold); the DSR app adds "an open request, or one closed less than
``CUSTOS_REQUEST_RECORD_RETENTION_DAYS`` ago" at start (``dsr.apps``), since retention may not
import it. Without that keeper the stage refuses to run rather than erase a requester.

A consent counts while it is given, not withdrawn, and its recording (if it names one) is not
erased: the consent of a call long deleted keeps nothing. A subject created in the last day is
kept too (its first call may be on its way in).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from recordings.models import Consent, DataSubject, Recording
from recordings.vault.services import subject_personal_data_shred
from retention.models import DeletionReason, HeldErasure, SubjectDeletionRecord, SweepRun
from retention.selectors import holds_active

logger = logging.getLogger(__name__)

# The keeper the DSR app registers; the stage does not run without it.
REQUESTS_KEEPER = "requests"
# A subject this young may be waiting for its first call (ingest creates the subject first).
SUBJECT_MIN_AGE = datetime.timedelta(days=1)


@dataclass(frozen=True)
class SubjectKeeper:
    name: str
    reason: str  # what the preview says, e.g. "a live recording"
    kept: Callable[[datetime.datetime], Q]  # true for a subject this keeps, at that moment


def _live_recording(now: datetime.datetime) -> Q:
    return Q(Exists(Recording.objects.filter(subject=OuterRef("pk")).exclude(status=Recording.Status.ERASED)))


def _active_consent(now: datetime.datetime) -> Q:
    consents = Consent.objects.filter(
        subject=OuterRef("pk"), decision=Consent.Decision.GIVEN, withdrawn_at__isnull=True
    ).filter(Q(recording__isnull=True) | ~Q(recording__status=Recording.Status.ERASED))
    return Q(Exists(consents))


def _active_hold(now: datetime.datetime) -> Q:
    return Q(Exists(holds_active().filter(subject=OuterRef("pk"))))


def _held_erasure(now: datetime.datetime) -> Q:
    return Q(Exists(HeldErasure.objects.filter(subject=OuterRef("pk"), state__in=HeldErasure.OPEN_STATES)))


def _young(now: datetime.datetime) -> Q:
    return Q(created_at__gt=now - SUBJECT_MIN_AGE)


_KEEPERS: dict[str, SubjectKeeper] = {
    keeper.name: keeper
    for keeper in (
        SubjectKeeper("recordings", "a live recording", _live_recording),
        SubjectKeeper("consents", "an active consent", _active_consent),
        SubjectKeeper("holds", "an active legal hold on the subject", _active_hold),
        SubjectKeeper("held_erasures", "an erasure waiting for a hold's release", _held_erasure),
        SubjectKeeper("young", "created less than a day ago", _young),
    )
}


def subject_keeper_register(keeper: SubjectKeeper) -> None:
    """Add what a higher app keeps a subject for (called from its ``ready()``; idempotent)."""
    _KEEPERS[keeper.name] = keeper


def subject_keepers() -> list[SubjectKeeper]:
    if REQUESTS_KEEPER not in _KEEPERS:
        raise ImproperlyConfigured(
            "No keeper for data-subject requests is registered (dsr.apps): subjects with open "
            "requests could be erased, so the subject stage does not run."
        )
    return list(_KEEPERS.values())


def _with_personal_data() -> QuerySet[DataSubject]:
    """Subjects whose key is live: the ones with something to erase."""
    return DataSubject.objects.filter(key__destroyed_at__isnull=True)


def subjects_expirable(now: datetime.datetime) -> QuerySet[DataSubject]:
    """Subjects with personal data that nothing keeps any more: the sweep erases them."""
    subjects = _with_personal_data()
    for keeper in subject_keepers():
        subjects = subjects.exclude(keeper.kept(now))
    return subjects


def subjects_with_keep_reasons(now: datetime.datetime) -> QuerySet[DataSubject]:
    """Every subject with personal data, annotated ``keep_<name>`` per keeper (the preview)."""
    return _with_personal_data().annotate(
        **{
            f"keep_{keeper.name}": ExpressionWrapper(keeper.kept(now), output_field=BooleanField())
            for keeper in subject_keepers()
        }
    )


def keep_reasons(subject: DataSubject) -> list[str]:
    """The reasons of a subject from ``subjects_with_keep_reasons``; empty: the sweep erases it."""
    return [keeper.reason for keeper in subject_keepers() if getattr(subject, f"keep_{keeper.name}")]


def _rule() -> str:
    days = settings.CUSTOS_REQUEST_RECORD_RETENTION_DAYS
    return (
        "Art. 5(1)(e): no recording, consent, hold or open request left; last request closed over "
        f"{days} days ago (CUSTOS_REQUEST_RECORD_RETENTION_DAYS)"
    )


def subjects_expire(*, now: datetime.datetime, run: SweepRun | None = None, batch_size: int = 500) -> int:
    """Erase the personal data of every subject nothing keeps, in batches of one transaction
    each; returns how many. Counted on the sweep's run."""
    erased, after = 0, 0
    while True:
        with transaction.atomic():
            # skip_locked: a subject an erasure, a hold or another sweep holds now is left for the
            # next night; id order keeps the lock order of every locker of several subjects.
            batch = list(
                subjects_expirable(now)
                .filter(pk__gt=after)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")[:batch_size]
            )
            if not batch:
                return erased
            after = batch[-1].pk
            # Asked again under the locks, in a statement of its own: a call or a request that
            # arrived since the batch was read keeps its subject.
            still = set(
                subjects_expirable(now).filter(pk__in=[s.pk for s in batch]).values_list("pk", flat=True)
            )
            done = [subject for subject in batch if subject.pk in still]
            for subject in done:
                _subject_expire(subject, now=now, run=run)
            if run is not None and done:
                run.subjects_erased += len(done)
                run.save(update_fields=["subjects_erased"])
            erased += len(done)


def _subject_expire(subject: DataSubject, *, now: datetime.datetime, run: SweepRun | None) -> None:
    rule = _rule()
    subject_personal_data_shred(subject=subject, actor=None, reason="storage limit: nothing left to keep")
    SubjectDeletionRecord.objects.create(
        subject_id=subject.pk,
        subject_reference=subject.reference,
        reason=DeletionReason.SUBJECT_STORAGE_LIMIT,
        rule=rule[:200],
        sweep_run=run,
        deleted_at=now,
    )
    access_event_record(
        action=AccessAction.RETENTION_DELETION,
        object_type="subject",
        object_id=subject.pk,
        object_reference=subject.reference,
        detail={"reason": DeletionReason.SUBJECT_STORAGE_LIMIT, "sweep_run": run.pk if run else None},
    )
    logger.info("Subject %s erased: nothing left to keep", subject.pk)
