"""Write use-cases of the DSR desk at its edge: a request's intake (``request_create``, for the
admin and the API alike). A request's life once registered is ``dsr.workflow``'s; the deadline
reminders beat sends are ``dsr.reminders``'s."""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from dsr.deadlines import due_at_for
from dsr.models import DataSubjectRequest, ReferenceCounter
from recordings.models import DataSubject


def _next_reference(year: int) -> str:
    # The counter row is locked for the rest of the transaction, so two intakes never share a
    # number; it is a work table without history.
    counter, _ = ReferenceCounter.objects.select_for_update().get_or_create(year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"DSR-{year}-{counter.last_number:06d}"


# Nothing is a GDPR request before the GDPR applied (Art. 99(2)); an earlier date is a typo or an
# attack, and dates near year 1 overflow when the due date is computed in the local time zone.
RECEIPT_EARLIEST = datetime.datetime(2018, 5, 25, tzinfo=datetime.UTC)


def receipt_validate(received_at: datetime.datetime) -> None:
    """A receipt time is aware, not before the GDPR applied and not in the future (a small clock
    skew is tolerated)."""
    if timezone.is_naive(received_at):
        raise ValidationError("The receipt time must carry a time zone.")
    if received_at < RECEIPT_EARLIEST:
        raise ValidationError("A request cannot be received before the GDPR applied (2018-05-25).")
    if received_at > timezone.now() + datetime.timedelta(minutes=5):
        raise ValidationError("A request cannot be received in the future.")


@transaction.atomic
def request_create(
    *,
    request_type: str,
    channel: str,
    received_at: datetime.datetime,
    subject: DataSubject | None = None,
    assignee=None,
    language: str = "en",
    actor=None,
    client_ip: str | None = None,
) -> DataSubjectRequest:
    """Register a request on receipt: it gets its reference and its due date at once. Who
    registered it (a DPO, an integration's account) is an access event: it starts a legal
    deadline, and a request filed through the API is otherwise seen nowhere but in history."""
    try:
        receipt_validate(received_at)
    except ValidationError as exc:
        raise ValidationError({"received_at": exc.messages}) from exc
    dsr = DataSubjectRequest(
        reference="DSR-0000-000000",
        request_type=request_type,
        channel=channel,
        subject=subject,
        received_at=received_at,
        due_at=due_at_for(received_at),
        assignee=assignee,
        language=language,
    )
    dsr.full_clean(exclude=["reference"])
    dsr.reference = _next_reference(timezone.localdate(received_at).year)
    dsr.save()
    access_event_record(
        action=AccessAction.REQUEST_FILED,
        object_type="request",
        object_id=dsr.pk,
        object_reference=dsr.reference,
        actor=actor,
        detail={
            "type": request_type,
            "channel": channel,
            "subject": subject.reference if subject is not None else None,
        },
        client_ip=client_ip,
    )
    if assignee is not None:
        from dsr.workflow import assignment_grant

        assignment_grant(dsr=dsr)
    return dsr
