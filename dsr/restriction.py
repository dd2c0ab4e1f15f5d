"""Lifting a restriction of processing (Art. 18(3)): a DPO's step on a completed restriction
request's page, with a reason.

The subject is informed first: the notice letter ("restriction lifted", in the request's
language) is written in the same transaction as the lift, so there is no lift without its
letter. The lift itself (``recordings.restrictions.restriction_lift``) dates and signs the
restriction record (history), gives back the recordings it restricted, has their keep-until
recomputed, and writes the access event. Recordings restricted for another reason (an erasure a
legal hold deferred) stay restricted.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance_site.roles import is_dpo
from dsr.letters import letter_write
from dsr.models import DataSubjectRequest, RequestType, ResponseLetter
from recordings.models import SubjectRestriction
from recordings.restrictions import restriction_lift
from recordings.selectors import restriction_in_force


def restriction_of(dsr: DataSubjectRequest) -> SubjectRestriction | None:
    """The restriction in force that this restriction request may lift: its subject's."""
    if dsr.request_type != RequestType.RESTRICTION or dsr.subject_id is None:
        return None
    return restriction_in_force(dsr.subject_id)


def lift_refusal(dsr: DataSubjectRequest, actor) -> str | None:
    """Why ``actor`` may not lift a restriction from this request now, or None."""
    if dsr.request_type != RequestType.RESTRICTION:
        return "Only a restriction request lifts a restriction."
    if dsr.status != DataSubjectRequest.Status.COMPLETED:
        return "The restriction request must be completed before its restriction can be lifted."
    if restriction_of(dsr) is None:
        return "No restriction of this subject is in force."
    if not is_dpo(actor):
        return "Only a DPO lifts a restriction."
    return None


@transaction.atomic
def request_restriction_lift(*, dsr: DataSubjectRequest, actor, reason: str) -> SubjectRestriction:
    """Inform the subject (Art. 18(3) notice letter) and lift their restriction, with ``reason``."""
    dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
    refusal = lift_refusal(dsr, actor)
    if refusal:
        raise ValidationError(refusal)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the restriction is lifted."})
    restriction = restriction_of(dsr)
    assert restriction is not None  # lift_refusal checked it
    letter_write(
        dsr=dsr,
        kind=ResponseLetter.Kind.RESTRICTION_LIFTED,
        actor=actor,
        extra={
            "restricted_since": timezone.localtime(restriction.placed_at),
            "lifted_at": timezone.localtime(),
            "lift_reason": reason.strip(),
        },
    )
    restriction_lift(restriction=restriction, actor=actor, reason=reason)
    restriction.refresh_from_db()
    return restriction
