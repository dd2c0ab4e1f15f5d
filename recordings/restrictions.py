"""Placing and lifting a restriction of processing (Art. 18): the writes on ``SubjectRestriction``.

A restriction means *store only*. Placing one (``restriction_place``, from a completed restriction
request) restricts every live recording of the subject, revokes their shares and records which
recordings it restricted; while it is in force, ingest restricts each new call of the subject too
(``recordings.intake.services``) and the retention sweep deletes none of them
(``retention.selectors``). Lifting it (``restriction_lift``, a DPO's step with a reason, after the
subject is informed: ``dsr.restriction`` writes the notice letter) gives back exactly the
recordings it restricted, except those another rule keeps restricted (answers to the
``restriction_lifting`` signal, e.g. an erasure deferred by a legal hold), and has their
keep-until computed again (``recording_grounds_changed``), so the next sweep deletes what is past
retention. Both write an access event; the record keeps its history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save, model_update
from compliance_site.roles import is_dpo
from recordings.models import DataSubject, Recording, RestrictionGround, SubjectRestriction
from recordings.selectors import restriction_in_force
from recordings.services import recording_grounds_changed
from recordings.sharing.services import shares_revoke_for

# Sent inside ``restriction_lift``'s transaction with ``restriction``, before any recording goes
# back to active. A receiver returns the ids of the recordings that must stay restricted for a
# reason of its own (a higher app's: an erasure waiting for a legal hold's release); the
# restriction is lifted, and those recordings stay as they are.
restriction_lifting = Signal()


@dataclass(frozen=True)
class RestrictionPlaced:
    restriction: SubjectRestriction
    restricted: int  # recordings newly restricted
    already_in_force: bool  # an earlier request's restriction was in force: no new record


def _live(subject_id: int):
    return Recording.objects.filter(subject_id=subject_id).exclude(status=Recording.Status.ERASED)


@transaction.atomic
def restriction_place(
    *, subject: DataSubject, request_reference: str, ground: str, actor
) -> RestrictionPlaced:
    """Restrict the subject's processing under ``request_reference`` (Art. 18(1)): the record,
    every active recording restricted (with history), their shares revoked, one access event.
    With a restriction already in force, that one stays and takes any recording still active."""
    if ground not in RestrictionGround.values:
        raise ValidationError({"ground": "Choose the ground of the restriction (Art. 18(1)(a)-(d))."})
    if not request_reference.strip():
        raise ValidationError("A restriction names the request that placed it.")
    # Locked first, as an erasure does: a call of this subject being stored now finishes before
    # (and is restricted here), or waits and finds the restriction (subject_share_lock).
    subject = DataSubject.objects.select_for_update().get(pk=subject.pk)
    now = timezone.now()
    restriction = restriction_in_force(subject)
    already = restriction is not None
    if restriction is None:
        restriction = history_save(
            SubjectRestriction(
                subject=subject,
                request_reference=request_reference,
                ground=ground,
                placed_at=now,
                placed_by=actor,
            ),
            actor=actor,
            clean=True,
        )
    # pk order: the same lock order as the sweep's batches.
    active = list(_live(subject.pk).filter(status=Recording.Status.ACTIVE).order_by("pk").select_for_update())
    for recording in active:
        model_update(recording, actor=actor, status=Recording.Status.RESTRICTED)
    if active:
        restriction.recordings.add(*active)
    shares_revoke_for(
        recordings=list(_live(subject.pk).order_by("pk")),
        reason=f"restricted under {request_reference}",
        actor=actor,
    )
    access_event_record(
        action=AccessAction.RESTRICTION_PLACED,
        object_type="subject",
        object_id=subject.pk,
        object_reference=subject.reference,
        actor=actor,
        detail={
            "request": request_reference,
            "restriction": restriction.pk,
            "ground": restriction.ground,
            "restricted": len(active),
            "already_in_force": already,
        },
    )
    return RestrictionPlaced(restriction=restriction, restricted=len(active), already_in_force=already)


def restriction_attach(*, restriction: SubjectRestriction, recording: Recording) -> None:
    """A call of a restricted subject, stored restricted by ingest, joins the restriction, so that
    lifting it gives the call back too. In the ingest's transaction."""
    if recording.status != Recording.Status.RESTRICTED:
        raise ValueError("Only a restricted recording joins a restriction.")
    restriction.recordings.add(recording)


@transaction.atomic
def restriction_lift(*, restriction: SubjectRestriction, actor, reason: str) -> list[Recording]:
    """Lift a restriction (Art. 18(3)): a DPO's step, with the reason; the subject is informed by
    the caller (``dsr.restriction``) in the same transaction. Returns the recordings given back
    (active again, their keep-until recomputed)."""
    if not is_dpo(actor):
        raise ValidationError("Only a DPO lifts a restriction.")
    if not reason.strip():
        raise ValidationError({"lift_reason": "Say why the restriction is lifted."})
    DataSubject.objects.select_for_update().get(pk=restriction.subject_id)  # against a call arriving
    restriction = SubjectRestriction.objects.select_for_update().get(pk=restriction.pk)
    if restriction.lifted_at is not None:
        raise ValidationError(
            f"This restriction was already lifted on {timezone.localtime(restriction.lifted_at):%Y-%m-%d}."
        )
    model_update(
        restriction, actor=actor, lifted_at=timezone.now(), lifted_by=actor, lift_reason=reason.strip()
    )
    kept: set[int] = set()
    for _receiver, ids in restriction_lifting.send(sender=SubjectRestriction, restriction=restriction):
        kept.update(cast(Iterable[int], ids or ()))
    restored = list(
        Recording.objects.filter(restrictions=restriction, status=Recording.Status.RESTRICTED)
        .exclude(pk__in=kept)
        .order_by("pk")
        .select_for_update(of=("self",))
    )
    for recording in restored:
        model_update(recording, actor=actor, status=Recording.Status.ACTIVE)
    if restored:
        # Retention runs again from the purposes the calls may serve: what is past it goes next sweep.
        recording_grounds_changed.send(sender=Recording, recordings=restored)
    access_event_record(
        action=AccessAction.RESTRICTION_LIFTED,
        object_type="subject",
        object_id=restriction.subject_id,
        object_reference=restriction.subject.reference,
        actor=actor,
        detail={
            "request": restriction.request_reference,
            "restriction": restriction.pk,
            "restored": len(restored),
            "kept_restricted": sorted(kept),
        },
    )
    return restored
