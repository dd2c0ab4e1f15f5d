"""The DSR desk's answers to other apps' signals."""

from __future__ import annotations

from dsr.models import DataSubjectRequest

Status = DataSubjectRequest.Status

# Stages at which a request's work was prepared, approved or built from the subject's calls as
# they stood: moving a call in or out underneath would make the preview, the approval or the
# package tell something other than what is carried out or sent.
SETTLED_STATUSES = (Status.AWAITING_APPROVAL, Status.EXECUTING, Status.READY_TO_SEND)


def reattribution_refused_by_requests(sender, *, recording, old_subject, new_subject, **kwargs) -> str:
    """Refuse to re-attribute a call while a request of either subject was prepared, approved or
    built from their calls and is not yet done."""
    settled = (
        DataSubjectRequest.objects.filter(
            subject__in=[old_subject.pk, new_subject.pk], status__in=SETTLED_STATUSES
        )
        .order_by("pk")
        .first()
    )
    if settled is None:
        return ""
    whose = old_subject if settled.subject_id == old_subject.pk else new_subject
    return (
        f"{settled.reference} ({settled.get_status_display().lower()}) was prepared from "
        f"{whose.reference}'s calls as they stand: finish it or send it back first."
    )
