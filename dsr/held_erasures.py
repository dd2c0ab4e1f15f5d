"""Erasures resuming after a legal hold (Art. 17 after 17(3)(e)): confirmed, approved, carried out.

An erasure that met a hold left a ``retention.models.HeldErasure`` per recording it restricted
(``dsr.erasure.subject_erase``); the release of the last hold covering the recording made it due
(``retention.held_erasures``). From there, either:

- a DPO confirms it and a second DPO approves it (four eyes, as for the erasure itself:
  ``DSR_ERASURE_FOUR_EYES``; not the same person), and a worker carries it out once the approval
  commits (``dsr.tasks.run_held_erasures``); or
- nobody acts, and beat carries it out once ``CUSTOS_HELD_ERASURE_GRACE_DAYS`` have passed since
  the release (``dsr.tasks.finish_held_erasures``, which also sends again an approval whose
  message was lost).

Carrying out is one transaction per subject that locks the subject's row first, as the erasure
and ``retention.services.hold_place`` do, then claims the records by their state (a redelivered
message finds them done and does nothing); a hold placed since sends them back to waiting. The
recordings are erased with HOLD_RELEASED tombstones naming the request and the hold, the blobs
deleted by a task after the commit; when the subject has no live recording and no hold left, their
name, phone and email are shredded too, as the erasure would have done. The request's page shows
the whole story (``held_erasures_story``).
"""

from __future__ import annotations

import datetime
import logging
from collections import defaultdict

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import model_update
from compliance_site.roles import is_dpo
from dsr.packages import packages_purge_for_subject
from recordings.models import DataSubject, Recording
from recordings.vault.services import subject_personal_data_shred
from retention.models import DeletionRecord, HeldErasure, LegalHold
from retention.selectors import ErasureTarget, holds_active
from retention.services import blobs_delete_pending_after_commit, recordings_erase

logger = logging.getLogger(__name__)

State = HeldErasure.State


def grace_period() -> datetime.timedelta:
    return datetime.timedelta(days=settings.CUSTOS_HELD_ERASURE_GRACE_DAYS)


def held_erasures_resuming() -> QuerySet[HeldErasure]:
    """The erasures whose holds are all released and that are not yet carried out: the DPO's list
    "Erasures resuming after a hold"."""
    return HeldErasure.objects.filter(state__in=[State.DUE, State.CONFIRMED, State.APPROVED])


def held_erasures_past_grace(now: datetime.datetime) -> QuerySet[HeldErasure]:
    """What beat carries out now: due or confirmed erasures released at least the grace period
    ago, and approved ones (their worker's message may have been lost)."""
    return HeldErasure.objects.filter(
        Q(state=State.APPROVED)
        | Q(state__in=[State.DUE, State.CONFIRMED], due_since__lte=now - grace_period())
    )


def _locked(erasures: list[HeldErasure]) -> list[HeldErasure]:
    # Locked in id order, as every locker of several of them does (retention.held_erasures).
    return list(
        HeldErasure.objects.filter(pk__in=[erasure.pk for erasure in erasures])
        .select_related("recording")
        .select_for_update(of=("self",))
        .order_by("pk")
    )


def _refuse_unless_dpo(actor, verb: str) -> None:
    if not is_dpo(actor):
        raise ValidationError(f"Only a DPO {verb} an erasure.")


def _refuse_some(refused: list[str], why: str) -> None:
    if refused:
        raise ValidationError(f"{why}: {', '.join(refused)}. Nothing was changed.")


@transaction.atomic
def held_erasures_confirm(*, erasures: list[HeldErasure], actor) -> list[HeldErasure]:
    """A DPO's confirmation of due erasures; a second DPO approves them next. Without four eyes
    (``DSR_ERASURE_FOUR_EYES`` off) the confirmation is the approval. All or nothing."""
    _refuse_unless_dpo(actor, "confirms")
    locked = _locked(erasures)
    _refuse_some(
        [
            f"{e.recording.reference} ({e.get_state_display().lower()})"
            for e in locked
            if e.state != State.DUE
        ],
        "Only a due erasure can be confirmed",
    )
    now = timezone.now()
    for erasure in locked:
        model_update(erasure, actor=actor, state=State.CONFIRMED, confirmed_by=actor, confirmed_at=now)
    if not settings.DSR_ERASURE_FOUR_EYES:
        return _approve(locked, actor=actor, now=now)
    return locked


@transaction.atomic
def held_erasures_approve(*, erasures: list[HeldErasure], actor) -> list[HeldErasure]:
    """The second DPO's approval of confirmed erasures; a worker carries them out once this
    commits. All or nothing."""
    _refuse_unless_dpo(actor, "approves")
    locked = _locked(erasures)
    _refuse_some(
        [
            f"{e.recording.reference} ({e.get_state_display().lower()})"
            for e in locked
            if e.state != State.CONFIRMED
        ],
        "Only a confirmed erasure can be approved",
    )
    _refuse_some(
        [e.recording.reference for e in locked if e.confirmed_by_id == actor.pk],
        "Four eyes: a second DPO must approve what you confirmed",
    )
    return _approve(locked, actor=actor, now=timezone.now())


def _approve(locked: list[HeldErasure], *, actor, now: datetime.datetime) -> list[HeldErasure]:
    from dsr.tasks import run_held_erasures

    for erasure in locked:
        model_update(erasure, actor=actor, state=State.APPROVED, approved_by=actor, approved_at=now)
    ids = [erasure.pk for erasure in locked]
    if ids:
        transaction.on_commit(lambda: run_held_erasures.delay(ids))
    return locked


# --- On the worker, and beat --------------------------------------------------------------------


def held_erasures_finish(*, now: datetime.datetime) -> int:
    """Beat: carry out what is past its grace period, and the approved erasures whose message was
    lost; returns how many recordings were erased."""
    ids = list(held_erasures_past_grace(now).order_by("pk").values_list("pk", flat=True))
    return held_erasures_execute(erasure_ids=ids, now=now, past_grace=True)


def held_erasures_execute(*, erasure_ids: list[int], now: datetime.datetime, past_grace: bool = False) -> int:
    """Carry out these erasures, one transaction per subject; returns how many recordings were
    erased. Only approved ones are taken, and with ``past_grace`` (beat) due or confirmed ones
    released at least the grace period before ``now``: anything else (done, waiting again
    because a hold came) is left as it is, so a message sent twice erases nothing twice."""
    subject_ids = sorted(
        set(HeldErasure.objects.filter(pk__in=erasure_ids).values_list("subject_id", flat=True))
    )
    erased = 0
    for subject_id in subject_ids:
        erased += _execute_for_subject(subject_id, erasure_ids, now=now, past_grace=past_grace)
    return erased


def _covering(recording: Recording) -> list[LegalHold]:
    return list(
        holds_active().filter(
            Q(recording_id=recording.pk) | Q(subject_id=recording.subject_id) | Q(queue_id=recording.queue_id)
        )
    )


@transaction.atomic
def _execute_for_subject(
    subject_id: int, erasure_ids: list[int], *, now: datetime.datetime, past_grace: bool
) -> int:
    # The subject's row first, as subject_erase and hold_place lock it: a hold placed now either
    # committed before (and is read below) or waits for this transaction.
    subject = DataSubject.objects.select_for_update().get(pk=subject_id)
    claimable = Q(state=State.APPROVED)
    if past_grace:
        claimable |= Q(state__in=[State.DUE, State.CONFIRMED], due_since__lte=now - grace_period())
    records = list(
        HeldErasure.objects.filter(claimable, pk__in=erasure_ids, subject_id=subject_id)
        .select_related("released_hold")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    if not records:
        return 0
    recordings = {
        recording.pk: recording
        for recording in Recording.objects.filter(pk__in=[r.recording_id for r in records])
        .select_related("subject", "queue")
        .select_for_update(of=("self",))
        .order_by("pk")
    }
    to_erase: list[HeldErasure] = []
    for record in records:
        recording = recordings[record.recording_id]
        holds = _covering(recording)
        if holds:
            # Defensive: hold_place already sent it back, unless the hold came by another path.
            model_update(record, actor=None, state=State.WAITING, due_since=None, released_hold=None)
            record.holds.add(*holds)
        elif recording.status == Recording.Status.ERASED:
            _done(record, now=now, outcome="Already erased by another cause; nothing left to do.")
        else:
            to_erase.append(record)
    # Beat's erasures have no author; a DPO-approved batch runs in the approver's name.
    actor = next((r.approved_by for r in to_erase if r.approved_by_id), None)
    rules = {r.recording_id: _rule(r) for r in to_erase}
    recordings_erase(
        targets=[ErasureTarget.of(recordings[r.recording_id]) for r in to_erase],
        reason=DeletionRecord.Reason.HOLD_RELEASED,
        rules=rules,
        now=now,
        actor=actor,
    )
    blobs_delete_pending_after_commit()
    for record in to_erase:
        how = "approved by two DPOs" if record.state == State.APPROVED else "by beat after the grace period"
        _done(record, now=now, outcome=f"Erased after the hold's release, {how}.")
    shredded = _personal_data_shred_if_nothing_held(subject, records, actor=actor)
    if to_erase or shredded:
        access_event_record(
            action=AccessAction.ERASURE,
            object_type="subject",
            object_id=subject.pk,
            object_reference=subject.reference,
            actor=actor,
            detail={
                "request": sorted({r.request_reference for r in to_erase}) or None,
                "erased": len(to_erase),
                "after_hold": sorted({r.released_hold.case_reference for r in to_erase if r.released_hold}),
                "personal_data_shredded": shredded,
            },
        )
    logger.info("Subject %s: %d erasure(s) deferred by a hold carried out", subject.pk, len(to_erase))
    return len(to_erase)


def _rule(record: HeldErasure) -> str:
    hold = record.released_hold.case_reference if record.released_hold else "?"
    return f"{record.request_reference}, deferred by legal hold {hold} until its release"[:200]


def _done(record: HeldErasure, *, now: datetime.datetime, outcome: str) -> None:
    model_update(record, actor=None, state=State.DONE, executed_at=now, outcome=outcome[:200])


def _personal_data_shred_if_nothing_held(subject: DataSubject, records: list[HeldErasure], *, actor) -> bool:
    """Shred the subject's name, phone and email, as their erasure would have, once nothing of
    theirs is held or waits: no live recording (a later call needs a new request), no open
    deferred erasure, no hold on the subject."""
    if (
        Recording.objects.filter(subject=subject).exclude(status=Recording.Status.ERASED).exists()
        or HeldErasure.objects.filter(subject=subject, state__in=HeldErasure.OPEN_STATES).exists()
        or holds_active().filter(subject=subject).exists()
        or getattr(getattr(subject, "key", None), "destroyed_at", None) is not None
    ):
        return False
    reference = records[0].request_reference
    subject_personal_data_shred(
        subject=subject, actor=actor, reason=f"erasure {reference} after hold release"
    )
    packages_purge_for_subject(subject=subject, actor=actor, reason=f"erasure {reference} after hold release")
    return True


# --- What the request's page shows ---------------------------------------------------------------


def held_erasures_story(request_reference: str) -> list[str]:
    """The request's deferred erasures in a few lines: "3 recording(s) deferred by legal hold
    CASE-1 on 2026-03-01; erased on 2026-05-02 after its release". Ids and case references only."""
    groups: dict[tuple, int] = defaultdict(int)
    records = (
        HeldErasure.objects.filter(request_reference=request_reference)
        .select_related("released_hold")
        .prefetch_related("holds")
        .order_by("pk")
    )
    for record in records:
        cases = ", ".join(sorted({hold.case_reference for hold in record.holds.all()})) or "?"
        key = (
            cases,
            timezone.localdate(record.deferred_at),
            record.state,
            record.released_hold.case_reference if record.released_hold else "",
            timezone.localdate(record.due_since) if record.due_since else None,
            timezone.localdate(record.executed_at) if record.executed_at else None,
        )
        groups[key] += 1
    lines = []
    for (cases, deferred, state, released, due_since, executed), count in groups.items():
        line = f"{count} recording(s) deferred by legal hold {cases} on {deferred:%Y-%m-%d}"
        if state == State.DONE:
            line += f"; erased on {executed:%Y-%m-%d} after the release of {released or 'its holds'}"
        elif state == State.WAITING:
            line += "; restricted until the hold is released"
        else:
            beat_on = due_since + grace_period() if due_since else None
            line += f"; hold {released} released on {due_since:%Y-%m-%d}: {State(state).label.lower()}"
            if state != State.APPROVED and beat_on:
                line += f", erased by beat from {beat_on:%Y-%m-%d} unless two DPOs confirm it sooner"
        lines.append(line + ".")
    return lines
