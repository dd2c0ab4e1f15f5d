"""Erasures deferred by a legal hold (Art. 17(3)(e)): their record and how holds move it.

An erasure that meets a hold restricts the recording instead (``dsr.erasure.subject_erase``) and
leaves one ``HeldErasure`` per recording, naming the request and the holds. The record follows
its input, the holds, in the same transaction as the hold's change:

- ``held_erasures_defer``: the erasure writes it, "waiting", with the holds that kept it;
- ``held_erasures_on_hold_placed``: a hold placed over a recording whose erasure is not yet done
  sends it back to "waiting" (a confirmation or approval given meanwhile no longer counts) and is
  added to its holds;
- ``held_erasures_on_hold_released``: when the released hold was the last active one covering
  the recording, the erasure becomes "due" from that moment, naming that hold.

Carrying it out is the DSR desk's (``dsr.held_erasures``): two DPOs confirm it, or beat does it
once ``CUSTOS_HELD_ERASURE_GRACE_DAYS`` have passed since the release.
"""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet

from compliance_site.model_update import history_save, model_update
from recordings.models import DataSubject, Recording
from retention.models import HeldErasure, LegalHold
from retention.selectors import holds_active

State = HeldErasure.State


def held_erasures_defer(
    *,
    subject: DataSubject,
    held: dict[int, list[LegalHold]],
    request_reference: str,
    now: datetime.datetime,
    actor=None,
) -> list[HeldErasure]:
    """Inside the erasure's transaction: remember the erasure of each held recording (``held``
    maps a recording id to the active holds covering it). A recording whose erasure an earlier
    request already deferred keeps that record, with these holds added."""
    records = []
    for recording_id, holds in held.items():
        record = HeldErasure.objects.filter(
            recording_id=recording_id, state__in=HeldErasure.OPEN_STATES
        ).first()
        if record is None:
            record = HeldErasure(
                recording_id=recording_id,
                subject=subject,
                request_reference=request_reference,
                deferred_at=now,
            )
            history_save(record, actor=actor)
        elif record.state != State.WAITING:
            _back_to_waiting(record, actor=actor)
        record.holds.add(*holds)
        records.append(record)
    return records


def held_erasures_covered_by(hold: LegalHold) -> QuerySet[HeldErasure]:
    """The open deferred erasures of the recordings this hold covers."""
    covered = {
        LegalHold.Scope.RECORDING: Q(recording_id=hold.recording_id),
        LegalHold.Scope.SUBJECT: Q(recording__subject_id=hold.subject_id),
        LegalHold.Scope.QUEUE: Q(recording__queue_id=hold.queue_id),
    }[LegalHold.Scope(hold.scope)]
    return HeldErasure.objects.filter(covered, state__in=HeldErasure.OPEN_STATES)


def _back_to_waiting(record: HeldErasure, *, actor) -> None:
    model_update(
        record,
        actor=actor,
        reason="A legal hold was placed before the erasure was carried out.",
        state=State.WAITING,
        due_since=None,
        released_hold=None,
        confirmed_by=None,
        confirmed_at=None,
        approved_by=None,
        approved_at=None,
    )


def subjects_lock_for_hold(hold: LegalHold) -> None:
    """Lock the rows of the subjects whose live recordings the hold will cover, in id order (the
    order every locker of several subjects uses). An erasure locks its subject's row before it
    reads the holds, so a hold placed while it runs waits for it, or is seen by it."""
    if hold.scope == LegalHold.Scope.SUBJECT:
        subject_ids = DataSubject.objects.filter(pk__in=[hold.subject_id])
    else:
        target = (
            Q(pk=hold.recording_id) if hold.scope == LegalHold.Scope.RECORDING else Q(queue_id=hold.queue_id)
        )
        subject_ids = DataSubject.objects.filter(
            pk__in=Recording.objects.filter(target)
            .exclude(status=Recording.Status.ERASED)
            .values("subject_id")
        )
    list(subject_ids.order_by("pk").select_for_update().values_list("pk", flat=True))


def held_erasures_on_hold_placed(*, hold: LegalHold, actor) -> int:
    """Inside ``hold_place``'s transaction: the new hold defers every open erasure it covers
    again. Returns how many were due, confirmed or approved and wait again."""
    sent_back = 0
    for record in held_erasures_covered_by(hold).select_for_update().order_by("pk"):
        if record.state != State.WAITING:
            _back_to_waiting(record, actor=actor)
            sent_back += 1
        record.holds.add(hold)
    return sent_back


def _still_held(record: HeldErasure) -> bool:
    recording = record.recording
    return (
        holds_active()
        .filter(
            Q(recording_id=recording.pk) | Q(subject_id=recording.subject_id) | Q(queue_id=recording.queue_id)
        )
        .exists()
    )


def held_erasures_on_hold_released(*, hold: LegalHold, actor, now: datetime.datetime) -> int:
    """Inside ``hold_release``'s transaction, after the release is saved: each waiting erasure
    this hold covered that no other active hold covers becomes due now. Returns how many."""
    became_due = 0
    waiting = (
        held_erasures_covered_by(hold)
        .filter(state=State.WAITING)
        .select_related("recording")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    for record in waiting:
        if _still_held(record):
            continue
        model_update(
            record,
            actor=actor,
            reason=f"Legal hold {hold.case_reference} released.",
            state=State.DUE,
            due_since=now,
            released_hold=hold,
        )
        became_due += 1
    return became_due
