"""Why a restricted recording is kept past its retention: the restriction (Art. 18) that
restricted it, or, without one, an erasure that a legal hold turned into a restriction.

The sweep never deletes a restricted recording (``retention.selectors.recordings_past_retention``);
the DPO's list "Restricted recordings past retention" and the explanation of a recording's
retention (``retention.explain``) give this reason. References and grounds only, no personal data.
"""

from __future__ import annotations

from django.db.models import OuterRef, QuerySet, Subquery

from recordings.models import Recording, RestrictionGround, SubjectRestriction

# A restricted recording that no restriction in force explains was restricted by an erasure that
# met a legal hold (``dsr.erasure.subject_erase``): it waits for the hold's release, not for a lift.
DEFERRED_ERASURE = "erasure deferred by a legal hold"


def _restriction_in_force_of() -> QuerySet[SubjectRestriction]:
    return SubjectRestriction.objects.filter(recordings=OuterRef("pk"), lifted_at__isnull=True).order_by(
        "-placed_at"
    )


def restricted_with_reason(recordings: QuerySet[Recording]) -> QuerySet[Recording]:
    """``recordings`` annotated with the request and ground of the restriction in force that
    restricted each (``restriction_request``, ``restriction_ground``; empty when none did)."""
    return recordings.annotate(
        restriction_request=Subquery(_restriction_in_force_of().values("request_reference")[:1]),
        restriction_ground=Subquery(_restriction_in_force_of().values("ground")[:1]),
    )


def restriction_reason_text(request_reference: str | None, ground: str | None) -> str:
    """ "restricted under DSR-… (ground)", or the fallback for an erasure deferred by a hold."""
    if not request_reference:
        return DEFERRED_ERASURE
    label = RestrictionGround(ground).label if ground in RestrictionGround.values else ground
    return f"restricted under {request_reference} ({label})"


def restriction_reason(recording: Recording) -> str:
    """Why this restricted recording is restricted (one query)."""
    restriction = SubjectRestriction.objects.filter(recordings=recording, lifted_at__isnull=True).first()
    if restriction is None:
        return restriction_reason_text(None, None)
    return restriction_reason_text(restriction.request_reference, restriction.ground)
