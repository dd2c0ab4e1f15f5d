"""Sending the response to the subject: by email through an outbox, or recorded as sent by post.

The "Send" step of a request (``dsr.stages``) sends its latest outcome letter (a completion or a
refusal). By email: ``response_send_email`` writes a pending ``LetterDelivery`` row in the
caller's transaction and asks a worker to deliver it once that commits; beat's tick
(``responses_deliver``) finishes whatever that message did not. Each attempt claims the row under
a row lock (``SKIP LOCKED``), decrypts the subject's address only to send (an access event),
sends and records the outcome in the same transaction: sent (which completes an access or
portability request ready to send, ``dsr.workflow.request_response_delivered``); or failed with
the next attempt's time (``dsr.reminders.retry_delay``); or, after ``DSR_REMINDER_MAX_ATTEMPTS``,
given up, after which beat alerts the DPO group once and the step is offered again. The window
between the mail server's acceptance and our commit is the reminders' one (see
``dsr.reminders``): a crash there sends the letter again rather than losing it.

By post: ``response_record_posted`` records who sent it and how, and completes the request at
once.
"""

from __future__ import annotations

import datetime
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save, model_update
from compliance_site.roles import DPO
from compliance_site.site_url import absolute_url
from dsr.letters import letter_filename, letter_for_email
from dsr.models import DataPackage, DataSubjectRequest, LetterDelivery, ResponseLetter
from dsr.reminders import error_summary, retry_delay
from dsr.stages import PACKAGE_TYPES, outcome_letter
from dsr.subject_links import subject_package_url
from recordings.vault.keys import KeyDestroyedError, personal_data_read

logger = logging.getLogger(__name__)

State = LetterDelivery.State
DELIVERY_BATCH = 200


def subject_has_email(dsr: DataSubjectRequest) -> bool:
    """Whether there is an address on file to email the response to (without decrypting it)."""
    subject = dsr.subject
    return subject is not None and bool(subject.email_encrypted)


def send_refusal(dsr: DataSubjectRequest) -> str | None:
    """Why the response cannot be sent now, or None."""
    if dsr.status not in (DataSubjectRequest.Status.READY_TO_SEND, *_CLOSED_WITH_LETTER):
        return "There is no response to send yet."
    letter = outcome_letter(dsr)
    if letter is None:
        return "There is no response letter to send."
    delivery = LetterDelivery.objects.filter(letter=letter).first()
    if delivery is not None and delivery.state != State.GIVEN_UP:
        return (
            "The response was already sent."
            if delivery.state == State.SENT
            else "The response is being sent."
        )
    return None


_CLOSED_WITH_LETTER = (DataSubjectRequest.Status.COMPLETED, DataSubjectRequest.Status.REFUSED)


def _letter_to_send(dsr: DataSubjectRequest) -> ResponseLetter:
    refusal = send_refusal(dsr)
    if refusal:
        raise ValidationError(refusal)
    letter = outcome_letter(dsr)
    assert letter is not None  # send_refusal checked it
    return letter


# Letters besides the response that must reach the subject: the extension notice (Art. 12(3))
# and the notice that a restriction is lifted (Art. 18(3)). Sent like the response; delivering
# one completes nothing.
NOTICE_KINDS = (ResponseLetter.Kind.EXTENSION, ResponseLetter.Kind.RESTRICTION_LIFTED)


def notices_unsent(dsr: DataSubjectRequest) -> list[ResponseLetter]:
    """The request's notices not yet sent nor being sent (a given-up email counts as unsent)."""
    return list(
        dsr.letters.filter(kind__in=NOTICE_KINDS)
        .exclude(delivery__state__in=[State.PENDING, State.FAILED, State.SENT])
        .order_by("created_at", "pk")
    )


def _notice_to_send(dsr: DataSubjectRequest, letter_id: int) -> ResponseLetter:
    letter = next((n for n in notices_unsent(dsr) if n.pk == letter_id), None)
    if letter is None:
        raise ValidationError("That notice is not waiting to be sent.")
    return letter


@transaction.atomic
def notice_send_email(*, dsr: DataSubjectRequest, letter_id: int, actor) -> LetterDelivery:
    """Send one of the request's notices to the subject's address on file, through the outbox."""
    dsr = _locked(dsr)
    return _email_queue(dsr, _notice_to_send(dsr, letter_id), actor)


@transaction.atomic
def notice_record_posted(*, dsr: DataSubjectRequest, letter_id: int, note: str, actor) -> LetterDelivery:
    """Record that one of the request's notices was sent by post."""
    if not note.strip():
        raise ValidationError({"note": "Say how it was sent (e.g. registered letter, date posted)."})
    dsr = _locked(dsr)
    return _posted(_notice_to_send(dsr, letter_id), actor, note)


def _locked(dsr: DataSubjectRequest) -> DataSubjectRequest:
    return DataSubjectRequest.objects.select_for_update(of=("self",)).select_related("subject").get(pk=dsr.pk)


def _delivery_start(letter: ResponseLetter, actor, **fields) -> LetterDelivery:
    """The letter's delivery row, new or (after a given-up email) started over."""
    delivery = LetterDelivery.objects.select_for_update().filter(letter=letter).first()
    values = {
        "requested_by": actor,
        "attempts": 0,
        "last_error": "",
        "alerted_at": None,
        "sent_at": None,
        "sent_by": None,
        "note": "",
        "next_attempt_at": None,
        **fields,
    }
    if delivery is None:
        return history_save(LetterDelivery(letter=letter, **values), actor=actor)
    return model_update(delivery, actor=actor, **values)


@transaction.atomic
def response_send_email(*, dsr: DataSubjectRequest, actor) -> LetterDelivery:
    """Send the response to the subject's address on file, through the outbox."""
    dsr = _locked(dsr)
    return _email_queue(dsr, _letter_to_send(dsr), actor)


def _email_queue(dsr: DataSubjectRequest, letter: ResponseLetter, actor) -> LetterDelivery:
    if not subject_has_email(dsr):
        raise ValidationError("There is no email address on file for the subject; send it by post.")
    delivery = _delivery_start(
        letter,
        actor,
        channel=LetterDelivery.Channel.EMAIL,
        state=State.PENDING,
        next_attempt_at=timezone.now(),
    )
    delivery_id = delivery.pk
    transaction.on_commit(lambda: _enqueue(delivery_id))
    return delivery


def _enqueue(delivery_id: int) -> None:
    from dsr.tasks import deliver_response

    deliver_response.delay(delivery_id)


@transaction.atomic
def response_record_posted(*, dsr: DataSubjectRequest, note: str, actor) -> LetterDelivery:
    """Record that the response was sent by post (how, to which address kind, when): it counts as
    delivered now, which completes an access or portability request."""
    if not note.strip():
        raise ValidationError({"note": "Say how it was sent (e.g. registered letter, date posted)."})
    dsr = _locked(dsr)
    now = timezone.now()
    delivery = _posted(_letter_to_send(dsr), actor, note, at=now)
    _delivered(dsr, channel="post", actor=actor, at=now)
    return delivery


def _posted(
    letter: ResponseLetter, actor, note: str, *, at: datetime.datetime | None = None
) -> LetterDelivery:
    return _delivery_start(
        letter,
        actor,
        channel=LetterDelivery.Channel.POST,
        state=State.SENT,
        sent_at=at or timezone.now(),
        sent_by=actor,
        note=note.strip(),
    )


@transaction.atomic
def subject_download_record(*, package: DataPackage, client_ip: str | None = None) -> DataPackage:
    """The subject downloaded their package through their link: counted and logged like any
    download, and the response's delivery (a request ready to send is completed by it)."""
    from dsr.packages import package_download_record

    package = package_download_record(package=package, actor=None, client_ip=client_ip)
    _delivered(_locked(package.request), channel="download", actor=None, at=timezone.now())
    return package


def _delivered(dsr: DataSubjectRequest, *, channel: str, actor, at: datetime.datetime) -> None:
    from dsr.workflow import request_response_delivered

    if dsr.status == DataSubjectRequest.Status.READY_TO_SEND:
        request_response_delivered(dsr=dsr, channel=channel, actor=actor, at=at)


# --- The outbox ----------------------------------------------------------------------------------


def _package(dsr: DataSubjectRequest) -> DataPackage | None:
    if dsr.request_type not in PACKAGE_TYPES:
        return None
    return dsr.packages.filter(purged_at__isnull=True).order_by("-created_at", "-pk").first()


def _letter_message(letter: ResponseLetter, to: str, *, actor) -> EmailMultiAlternatives:
    """The email carrying ``letter`` to ``to``: the letter as text and HTML with its PDF attached
    (``dsr.letters``, the name decrypted once for this send), and for an access or portability
    request the download link of its package."""
    appendix = None
    package = _package(letter.request)
    if package is not None:
        until = f"{timezone.localtime(package.expires_at):%Y-%m-%d}"
        with translation.override(letter.language):
            text = _("Download your data (available until %(until)s):") % {"until": until}
        appendix = {"text": text, "url": subject_package_url(package)}
    text, html, pdf = letter_for_email(letter, actor=actor, appendix=appendix)
    message = EmailMultiAlternatives(subject=letter.subject_line, body=text, to=[to])
    message.attach_alternative(html, "text/html")
    message.attach(letter_filename(letter, "pdf"), pdf, "application/pdf")
    return message


def _address(delivery: LetterDelivery, dsr: DataSubjectRequest) -> str:
    """The subject's address, decrypted for this one send and recorded as such."""
    subject = dsr.subject
    if subject is None:
        raise ValidationError("The request names no subject.")
    address = personal_data_read(subject).email
    access_event_record(
        action=AccessAction.DECRYPT,
        object_type="subject",
        object_id=subject.pk,
        object_reference=subject.reference,
        actor=delivery.requested_by,
        detail={"what": "email", "why": "response letter", "request": dsr.reference},
    )
    if not address:
        raise ValidationError("No email address on file.")
    return address


@transaction.atomic
def response_attempt(*, delivery_id: int, now: datetime.datetime | None = None) -> LetterDelivery | None:
    """Claim the delivery if it is due and no other attempt holds it, send it and record the
    outcome; None when there was nothing to do (sent, given up, held elsewhere, not yet due)."""
    now = now or timezone.now()
    # SKIP LOCKED: an attempt in progress elsewhere is its business; the lock lasts until the
    # outcome commits, so two ticks never send one letter twice.
    delivery = (
        LetterDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("letter__request__subject", "requested_by")
        .filter(pk=delivery_id, channel=LetterDelivery.Channel.EMAIL, state__in=LetterDelivery.DUE_STATES)
        .filter(next_attempt_at__lte=now)
        .first()
    )
    if delivery is None:
        return None
    letter = delivery.letter
    dsr = letter.request
    attempts = delivery.attempts + 1
    try:
        _letter_message(letter, _address(delivery, dsr), actor=delivery.requested_by).send()
    except KeyDestroyedError:
        return _failed(
            delivery,
            dsr,
            attempts=settings.DSR_REMINDER_MAX_ATTEMPTS,
            error="The subject was erased",
            now=now,
        )
    except Exception as exc:  # any failure of the mail backend is recorded and retried
        return _failed(delivery, dsr, attempts=attempts, error=error_summary(exc), now=now)
    sent_at = timezone.now()
    model_update(
        delivery, actor=None, state=State.SENT, attempts=attempts, next_attempt_at=None, sent_at=sent_at
    )
    if letter.kind == ResponseLetter.Kind.OUTCOME:  # a notice's delivery completes nothing
        _delivered(
            DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk),
            channel="email",
            actor=delivery.requested_by,
            at=sent_at,
        )
    logger.info("Sent the response of %s by email", dsr.reference)
    return delivery


def _failed(
    delivery: LetterDelivery, dsr: DataSubjectRequest, *, attempts: int, error: str, now
) -> LetterDelivery:
    if attempts < settings.DSR_REMINDER_MAX_ATTEMPTS:
        logger.warning("The response of %s failed (attempt %d): %s", dsr.reference, attempts, error)
        return model_update(
            delivery,
            actor=None,
            state=State.FAILED,
            attempts=attempts,
            last_error=error,
            next_attempt_at=now + retry_delay(attempts),
        )
    logger.error("Gave up the response of %s after %d attempts: %s", dsr.reference, attempts, error)
    return model_update(
        delivery, actor=None, state=State.GIVEN_UP, attempts=attempts, last_error=error, next_attempt_at=None
    )


def responses_deliver(*, now: datetime.datetime | None = None) -> int:
    """Beat's tick: attempt every due email delivery (new ones whose message was lost, and
    retries), then alert the DPOs of those given up; returns how many were sent."""
    now = now or timezone.now()
    sent, after = 0, 0
    while True:
        due = list(
            LetterDelivery.objects.filter(
                channel=LetterDelivery.Channel.EMAIL,
                state__in=LetterDelivery.DUE_STATES,
                next_attempt_at__lte=now,
                pk__gt=after,
            )
            .order_by("pk")
            .values_list("pk", flat=True)[:DELIVERY_BATCH]
        )
        if not due:
            break
        for delivery_id in due:
            delivery = response_attempt(delivery_id=delivery_id, now=now)
            if delivery is not None and delivery.state == State.SENT:
                sent += 1
        after = due[-1]
    responses_given_up_alert(now=now)
    return sent


def responses_given_up_alert(*, now: datetime.datetime) -> int:
    """One email to the DPO group per delivery given up, marked once the mail server took it (a
    failure is tried again on the next tick); returns how many alerts went."""
    alerted = 0
    for delivery_id in LetterDelivery.objects.filter(
        state=State.GIVEN_UP, alerted_at__isnull=True
    ).values_list("pk", flat=True):
        with transaction.atomic():
            delivery = (
                LetterDelivery.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("letter__request")
                .filter(pk=delivery_id, state=State.GIVEN_UP, alerted_at__isnull=True)
                .first()
            )
            if delivery is None:
                continue
            dsr = delivery.letter.request
            recipients = list(
                get_user_model()
                .objects.filter(is_active=True, groups__name=DPO)
                .exclude(email="")
                .values_list("email", flat=True)
                .distinct()
            )
            try:
                if recipients:
                    send_mail(
                        subject=f"[Custos] The response of {dsr.reference} could not be emailed",
                        message=(
                            f"The response letter of {dsr.reference} could not be delivered by email after "
                            f"{delivery.attempts} attempt(s) (last error: {delivery.last_error}).\n\n"
                            "Send it again or by post from the request's page:\n"
                            + absolute_url(reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk]))
                            + "\n"
                        ),
                        from_email=None,
                        recipient_list=recipients,
                    )
            except Exception as exc:  # tried again on the next tick
                logger.warning(
                    "The undelivered-response alert for %s failed: %s", dsr.reference, error_summary(exc)
                )
                continue
            model_update(delivery, actor=None, alerted_at=now)
            alerted += 1
    return alerted


def delivery_summary(dsr: DataSubjectRequest) -> str:
    """One line for the request page: how its response went, or is going, to the subject."""
    letter = outcome_letter(dsr)
    delivery = LetterDelivery.objects.filter(letter=letter).first() if letter is not None else None
    if delivery is None:
        return ""
    when = f"{timezone.localtime(delivery.sent_at):%Y-%m-%d %H:%M}" if delivery.sent_at else ""
    if delivery.state == State.SENT:
        how = "by email" if delivery.channel == LetterDelivery.Channel.EMAIL else f"by post ({delivery.note})"
        return f"Response sent {how} on {when}."
    if delivery.state == State.GIVEN_UP:
        return (
            f"Response email given up after {delivery.attempts} attempt(s): {delivery.last_error}. "
            "Send it again."
        )
    if delivery.state == State.FAILED:
        retry = timezone.localtime(delivery.next_attempt_at) if delivery.next_attempt_at else None
        return f"Response email failed ({delivery.attempts} attempt(s): {delivery.last_error}); " + (
            f"next attempt {retry:%Y-%m-%d %H:%M}." if retry else ""
        )
    return "Response email queued for sending."
