"""Deadline reminders as an outbox: each one is written as a row, then sent, retried and finished
by beat, exactly once as far as our side can tell.

Two steps on every hourly tick (``reminders_send_due``), the second also every few minutes
(``reminders_deliver``, for the retries):

1. ``reminders_queue`` writes the reminder due today for each open request near or past its
   deadline: one ``DeadlineReminder`` row per (request, kind, due date), made unique by the
   database, so a second beat, a redelivered task or a rerun writes nothing.
2. ``reminder_attempt`` claims one pending or failed row whose time has come, under a row lock
   taken with ``SKIP LOCKED``, sends the email and records the outcome in that same transaction:
   sent; or failed, with the error (its class and code, no address) and the next attempt
   ``DSR_REMINDER_RETRY_SECONDS`` * 2^(attempts - 1) later; or, on attempt
   ``DSR_REMINDER_MAX_ATTEMPTS``, given up, which writes one ``undelivered-<kind>`` reminder to
   the DPO group (itself an outbox row, retried the same way) and flags the request on its page
   and on the dashboard. A reminder whose request closed, or whose deadline moved, before it could
   go is cancelled.

Why the email is sent while the row lock is held: a second tick skips the row (or, once the first
commits, no longer finds it due), so two ticks never send one reminder twice, and the claim and
its outcome commit together, so there is no "being sent" state to recover after a crash. The
window that remains is between the mail server's acceptance and our commit: a crash of the
worker or the database there rolls the row back to its previous state, and the next tick sends
the reminder again. We chose that (at least once in that window) over the alternative, committing
a "sending" claim first, which turns the same window into a reminder silently lost: a duplicate
reminder costs a glance, a lost one a missed legal deadline. The mail backend's timeout
(``EMAIL_TIMEOUT``) bounds how long the lock is held.
"""

from __future__ import annotations

import datetime
import logging
import re
import smtplib

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from compliance_site.model_update import model_update
from compliance_site.roles import DPO
from compliance_site.site_url import absolute_url
from dsr.models import DataSubjectRequest, DeadlineReminder
from dsr.selectors import requests_due_for_reminder

logger = logging.getLogger(__name__)

State = DeadlineReminder.State
# How many due reminders' ids one tick reads at a time (it goes on until none is left).
DELIVERY_BATCH = 500
_ADDRESS = re.compile(r"\S+@\S+")


def _reminder_kind(days_left: int) -> str | None:
    if days_left in settings.DSR_REMINDER_OFFSETS:
        return f"{days_left}-days-before"
    if days_left == 0:
        return "due-day"
    if days_left < 0:
        return f"overdue-{-days_left}"
    if days_left + 1 in settings.DSR_REMINDER_OFFSETS:
        # Yesterday's reminder, in case no tick wrote it (beat, broker or workers down all day);
        # its unique row makes this a no-op when it was written.
        return f"{days_left + 1}-days-before"
    return None


def reminders_queue(*, now: datetime.datetime) -> int:
    """Write the reminder due at ``now`` for every open request that needs one; returns how many
    rows were written (none for a reminder already written, in whatever state)."""
    horizon = max(settings.DSR_REMINDER_OFFSETS, default=0)
    written = 0
    for dsr in requests_due_for_reminder(now, horizon).iterator():
        kind = _reminder_kind(dsr.days_left(now))
        if kind is None:
            continue
        if DeadlineReminder.objects.filter(request=dsr, kind=kind, due_date=dsr.due_date).exists():
            continue
        try:
            with transaction.atomic():
                DeadlineReminder.objects.create(
                    request=dsr, kind=kind, due_date=dsr.due_date, next_attempt_at=now
                )
        except IntegrityError:
            continue  # written by another tick in between
        written += 1
    return written


def reminders_deliver(*, now: datetime.datetime) -> int:
    """Attempt every reminder due at ``now`` (new ones and retries), ``DELIVERY_BATCH`` ids read at
    a time in id order; returns how many were sent. Each row is read once per tick: one that fails
    is due again only after its backoff, one another tick holds is that tick's."""
    sent, after = 0, 0
    while True:
        due = list(
            DeadlineReminder.objects.filter(
                state__in=DeadlineReminder.DUE_STATES, next_attempt_at__lte=now, pk__gt=after
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:DELIVERY_BATCH]
        )
        if not due:
            return sent
        for reminder_id in due:
            reminder = reminder_attempt(reminder_id=reminder_id, now=now)
            if reminder is not None and reminder.state == State.SENT:
                sent += 1
        after = due[-1]


def reminders_send_due(*, now: datetime.datetime) -> int:
    """Beat's hourly tick: write the reminders due at ``now``, then attempt every reminder due;
    returns how many were sent."""
    reminders_queue(now=now)
    return reminders_deliver(now=now)


def retry_delay(attempts: int) -> datetime.timedelta:
    """The wait before the next attempt after ``attempts`` failed ones: exponential backoff."""
    return datetime.timedelta(seconds=settings.DSR_REMINDER_RETRY_SECONDS * 2 ** (attempts - 1))


def error_summary(exc: BaseException) -> str:
    """The error's class, code and a short message, with any email address blanked out: it is
    stored and logged, so it must not carry the recipients."""
    code: object = None
    if isinstance(exc, smtplib.SMTPResponseException):
        code = exc.smtp_code
        error = exc.smtp_error
        message = error.decode(errors="replace") if isinstance(error, bytes) else str(error)
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        message = f"{len(exc.recipients)} recipient(s) refused"
    elif isinstance(exc, OSError) and exc.strerror:
        code, message = exc.errno, exc.strerror
    else:
        message = str(exc)
    summary = type(exc).__name__ + (f" {code}" if code is not None else "")
    message = " ".join(_ADDRESS.sub("<address>", message).split())
    return f"{summary}: {message}"[:200] if message else summary


def _recipients(dsr: DataSubjectRequest, kind: str) -> list[str]:
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    if kind.startswith(("overdue", DeadlineReminder.ESCALATION_PREFIX)) or dsr.assignee_id is None:
        # Escalation (an overdue request, an undelivered reminder) and an unassigned request go
        # to every DPO.
        return list(users.filter(groups__name=DPO).values_list("email", flat=True).distinct())
    return list(users.filter(pk=dsr.assignee_id).values_list("email", flat=True))


def _obsolete(reminder: DeadlineReminder, dsr: DataSubjectRequest) -> bool:
    """A reminder about a request that closed, or (but for the undelivered alert, which is about
    the mail, not the date) about a deadline the request no longer has."""
    if not dsr.is_open:
        return True
    return not reminder.is_escalation and reminder.due_date != dsr.due_date


def _send(reminder: DeadlineReminder, dsr: DataSubjectRequest, recipients: list[str], now) -> None:
    url = absolute_url(reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk]))
    context = {
        "request": dsr,
        "kind": reminder.kind,
        "days_left": dsr.days_left(now),
        "due_date": reminder.due_date,
        "url": url,
    }
    template = "reminder"
    if reminder.is_escalation:
        template = "undelivered"
        original = reminder.kind.removeprefix(DeadlineReminder.ESCALATION_PREFIX)
        context["original"] = DeadlineReminder.objects.filter(
            request=dsr, kind=original, due_date=reminder.due_date
        ).first()
        context["original_kind"] = original
    send_mail(
        subject=render_to_string(f"dsr/email/{template}_subject.txt", context).strip(),
        message=render_to_string(f"dsr/email/{template}_body.txt", context),
        from_email=None,
        recipient_list=recipients,
    )


@transaction.atomic
def reminder_attempt(*, reminder_id: int, now: datetime.datetime) -> DeadlineReminder | None:
    """Claim the reminder if it is still due at ``now`` and no other tick holds it, try to send it
    and record the outcome; None when there was nothing to do."""
    # SKIP LOCKED: a reminder another tick is sending is its business, not ours. The lock is held
    # until the outcome commits (see the module's docstring for the window this leaves).
    reminder = (
        DeadlineReminder.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("request")
        .filter(pk=reminder_id, state__in=DeadlineReminder.DUE_STATES, next_attempt_at__lte=now)
        .first()
    )
    if reminder is None:
        return None
    dsr = reminder.request
    if _obsolete(reminder, dsr):
        return model_update(reminder, actor=None, state=State.CANCELLED, next_attempt_at=None)
    recipients = _recipients(dsr, reminder.kind)
    attempts = reminder.attempts + 1
    try:
        if recipients:
            _send(reminder, dsr, recipients, now)
    except Exception as exc:  # any failure of the mail backend is recorded and retried
        return _failed(reminder, dsr, attempts=attempts, error=error_summary(exc), now=now)
    model_update(
        reminder,
        actor=None,
        state=State.SENT,
        attempts=attempts,
        next_attempt_at=None,
        sent_at=timezone.now(),
        recipients=len(recipients),
    )
    logger.info("Sent %s reminder for %s to %d recipient(s)", reminder.kind, dsr.reference, len(recipients))
    return reminder


def _failed(
    reminder: DeadlineReminder, dsr: DataSubjectRequest, *, attempts: int, error: str, now
) -> DeadlineReminder:
    if attempts < settings.DSR_REMINDER_MAX_ATTEMPTS:
        logger.warning(
            "The %s reminder for %s failed (attempt %d): %s", reminder.kind, dsr.reference, attempts, error
        )
        return model_update(
            reminder,
            actor=None,
            state=State.FAILED,
            attempts=attempts,
            last_error=error,
            next_attempt_at=now + retry_delay(attempts),
        )
    logger.error(
        "Gave up the %s reminder for %s after %d attempts: %s", reminder.kind, dsr.reference, attempts, error
    )
    model_update(
        reminder, actor=None, state=State.GIVEN_UP, attempts=attempts, last_error=error, next_attempt_at=None
    )
    if not reminder.is_escalation:
        # Once: the alert is a reminder row of its own, unique like any other.
        DeadlineReminder.objects.get_or_create(
            request=dsr,
            kind=f"{DeadlineReminder.ESCALATION_PREFIX}{reminder.kind}",
            due_date=reminder.due_date,
            defaults={"next_attempt_at": now},
        )
    return reminder
