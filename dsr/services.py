"""Write use-cases of the DSR desk at its edges: a request's intake (``request_create``, for the
admin and the API alike) and the deadline reminders beat sends. A request's life once registered
is ``dsr.workflow``'s."""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.roles import DPO
from dsr.deadlines import due_at_for
from dsr.models import DataSubjectRequest, DeadlineReminder, ReferenceCounter
from dsr.selectors import requests_due_for_reminder
from recordings.models import DataSubject

logger = logging.getLogger(__name__)


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


def _reminder_kind(days_left: int) -> str | None:
    if days_left in settings.DSR_REMINDER_OFFSETS:
        return f"{days_left}-days-before"
    if days_left == 0:
        return "due-day"
    if days_left < 0:
        return f"overdue-{-days_left}"
    if days_left + 1 in settings.DSR_REMINDER_OFFSETS:
        # Yesterday's reminder, in case no tick sent it (beat, broker or workers down all day);
        # its unique row makes this a no-op when it went out.
        return f"{days_left + 1}-days-before"
    return None


def _reminder_recipients(dsr: DataSubjectRequest, kind: str) -> list[str]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if kind.startswith("overdue") or dsr.assignee_id is None:
        # Escalation (and an unassigned request) goes to every DPO.
        return list(users.filter(groups__name=DPO).values_list("email", flat=True).distinct())
    return list(users.filter(pk=dsr.assignee_id).values_list("email", flat=True))


def reminder_send(*, dsr: DataSubjectRequest, now: datetime.datetime) -> DeadlineReminder | None:
    """Send the reminder due today for ``dsr``, at most once per (request, kind, due date)."""
    days_left = dsr.days_left(now)
    kind = _reminder_kind(days_left)
    if kind is None or not dsr.is_open:
        return None
    due_date = timezone.localdate(dsr.effective_due_at)
    try:
        with transaction.atomic():
            reminder = DeadlineReminder.objects.create(request=dsr, kind=kind, due_date=due_date)
    except IntegrityError:
        return None  # already claimed by another tick, beat or worker
    recipients = _reminder_recipients(dsr, kind)
    context = {
        "request": dsr,
        "kind": kind,
        "days_left": days_left,
        "due_date": due_date,
        "url": settings.CUSTOS_BASE_URL.rstrip("/")
        + reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk]),
    }
    if recipients:
        send_mail(
            subject=render_to_string("dsr/email/reminder_subject.txt", context).strip(),
            message=render_to_string("dsr/email/reminder_body.txt", context),
            from_email=None,
            recipient_list=recipients,
        )
    reminder.recipients = len(recipients)
    reminder.sent_at = timezone.now()
    reminder.save(update_fields=["recipients", "sent_at"])
    logger.info("Sent %s reminder for %s to %d recipient(s)", kind, dsr.reference, len(recipients))
    return reminder


def reminders_send_due(*, now: datetime.datetime) -> int:
    """Send every reminder that is due at ``now``; returns how many were sent."""
    horizon = max(settings.DSR_REMINDER_OFFSETS, default=0)
    sent = 0
    for dsr in requests_due_for_reminder(now, horizon).select_related("assignee").iterator():
        if reminder_send(dsr=dsr, now=now) is not None:
            sent += 1
    return sent
