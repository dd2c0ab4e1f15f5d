"""Deadline reminders as an outbox (issue 16, gap 5): a reminder whose email fails is retried with
backoff until it is sent, exactly once, or given up after the limit, which alerts the DPO group
once and flags the request. Mail goes through Django's SMTP backend to a real local SMTP server
(tests/smtp_server.py) that refuses what the test tells it to."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from dsr.dashboard import dashboard_for
from dsr.models import DataSubjectRequest, DeadlineReminder, RequestType
from dsr.reminders import error_summary, reminders_deliver, reminders_send_due
from dsr.services import request_create
from tests.smtp_server import SMTPServer

MINUTE = datetime.timedelta(minutes=1)


@pytest.fixture
def smtp(settings):
    with SMTPServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 30
        settings.DSR_REMINDER_RETRY_SECONDS = 300
        yield server.mailbox


def _request_due_in(days: int, assignee) -> DataSubjectRequest:
    return request_create(
        request_type=RequestType.ERASURE,
        channel=DataSubjectRequest.Channel.LETTER,
        received_at=timezone.now() - datetime.timedelta(days=30 - days),
        assignee=assignee,
    )


@pytest.mark.django_db
def test_a_reminder_whose_email_fails_twice_is_sent_once_on_the_third_attempt(smtp, analyst, settings):
    """Given the mail relay refuses the next two messages (451), when beat's ticks run, then the
    7-days reminder is retried after 5 and 10 more minutes, not sooner, and the assignee gets
    exactly one email; the reminder says sent after 3 attempts, and later ticks send nothing."""
    # given
    settings.DSR_REMINDER_MAX_ATTEMPTS = 5
    request = _request_due_in(7, analyst)
    smtp.refuse_next = 2
    t0 = timezone.now()

    # when: the hourly tick, then the retry ticks every minute for 20 minutes
    first = reminders_send_due(now=t0)
    reminder = DeadlineReminder.objects.get(request=request)
    after_first = (reminder.state, reminder.attempts, reminder.next_attempt_at, reminder.last_error)
    sent_by_minute = {minute: reminders_deliver(now=t0 + minute * MINUTE) for minute in range(1, 21)}

    # then
    assert first == 0
    assert after_first[:3] == ("failed", 1, t0 + 5 * MINUTE)
    assert after_first[3].startswith("SMTPDataError 451")
    assert analyst.email not in after_first[3]
    assert {minute: n for minute, n in sent_by_minute.items() if n} == {15: 1}  # 5 + 10 minutes
    reminder.refresh_from_db()
    assert (reminder.state, reminder.attempts, reminder.next_attempt_at) == ("sent", 3, None)
    assert reminder.sent_at is not None and reminder.recipients == 1
    assert smtp.refused == 2
    assert len(smtp.accepted) == 1
    assert smtp.accepted[0]["To"] == analyst.email
    assert request.reference in smtp.accepted[0]["Subject"]

    # and: the next hour's tick neither writes nor sends that reminder again
    assert reminders_send_due(now=t0 + 60 * MINUTE) == 0
    assert len(smtp.accepted) == 1
    assert DeadlineReminder.objects.filter(request=request).count() == 1


@pytest.mark.django_db
def test_a_reminder_given_up_after_the_limit_alerts_the_dpos_once_and_flags_the_request(
    smtp, analyst, dpo, settings, client
):
    """Given the relay refuses every message for a while, when the reminder's third attempt fails
    (the limit), then it is given up, the DPO group gets one "not delivered" email on the next
    tick, however many ticks follow, and the request's page and the dashboard flag it."""
    # given
    settings.DSR_REMINDER_MAX_ATTEMPTS = 3
    request = _request_due_in(3, analyst)
    smtp.refuse_next = 3
    t0 = timezone.now()

    # when
    reminders_send_due(now=t0)
    for minute in range(1, 120):
        reminders_deliver(now=t0 + minute * MINUTE)
    for hour in (2, 3):
        reminders_send_due(now=t0 + hour * 60 * MINUTE)

    # then
    reminder = DeadlineReminder.objects.get(request=request, kind="3-days-before")
    assert (reminder.state, reminder.attempts) == ("given_up", 3)
    alert = DeadlineReminder.objects.get(request=request, kind="undelivered-3-days-before")
    assert (alert.state, alert.attempts) == ("sent", 1)
    assert DeadlineReminder.objects.filter(request=request).count() == 2
    assert smtp.refused == 3
    assert [m["To"] for m in smtp.accepted] == [dpo.email]
    assert "Reminder not delivered" in smtp.accepted[0]["Subject"]
    assert request.reference in smtp.accepted[0]["Subject"]

    # and: the DPO sees it on the request's page and on the dashboard
    client.force_login(dpo)
    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk])).content.decode()
    assert "Not delivered: 3-days-before" in page
    assert "given up" in page
    assert dashboard_for(dpo, timezone.now()).reminders_undelivered == 1
    index = client.get(reverse("admin:index")).content.decode()
    assert "dsr-reminders-undelivered" in index
    listed = client.get(reverse("admin:dsr_datasubjectrequest_changelist") + "?reminders=undelivered")
    assert request.reference in listed.content.decode()


@pytest.mark.django_db
def test_a_failed_reminder_of_a_request_closed_meanwhile_is_cancelled_not_sent(smtp, analyst):
    """Given a reminder that failed once, when the request is withdrawn before the retry, then the
    retry cancels it instead of reminding anyone of a closed request."""
    request = _request_due_in(1, analyst)
    smtp.refuse_next = 1
    t0 = timezone.now()
    reminders_send_due(now=t0)
    DataSubjectRequest.objects.filter(pk=request.pk).update(status="withdrawn", closed_at=t0)

    reminders_deliver(now=t0 + 10 * MINUTE)

    reminder = DeadlineReminder.objects.get(request=request)
    assert (reminder.state, reminder.next_attempt_at) == ("cancelled", None)
    assert smtp.accepted == []


def test_an_error_summary_keeps_no_address():
    import smtplib

    refused = smtplib.SMTPRecipientsRefused({"erika@example.org": (550, b"no such user erika@example.org")})
    data = smtplib.SMTPDataError(554, b"rejected for <erika@example.org>")

    assert error_summary(refused) == "SMTPRecipientsRefused: 1 recipient(s) refused"
    assert error_summary(data) == "SMTPDataError 554: rejected for <address>"
    assert "erika" not in error_summary(ConnectionRefusedError(111, "Connection refused"))


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_ticks_never_send_one_reminder_twice(smtp, roles, analyst):
    """Given a reminder being sent by one tick (the relay holds the message before answering),
    when a second tick runs at the same moment, then the second skips it, and when the first
    finishes there is one email and the reminder is sent. PostgreSQL: SKIP LOCKED is the claim."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks (SELECT ... FOR UPDATE SKIP LOCKED) need PostgreSQL")
    # given
    request = _request_due_in(7, analyst)
    t0 = timezone.now()
    smtp.gate.clear()
    results: dict[str, int] = {}

    def first_tick() -> None:
        try:
            results["first"] = reminders_send_due(now=t0)
        finally:
            connection.close()

    worker = threading.Thread(target=first_tick)
    worker.start()
    assert smtp.arrived.wait(timeout=60), "the first tick never reached the relay"

    # when: a second tick while the first is mid-send
    results["second"] = reminders_send_due(now=t0)
    smtp.gate.set()
    worker.join(timeout=60)

    # then
    assert results == {"first": 1, "second": 0}
    assert len(smtp.accepted) == 1
    reminder = DeadlineReminder.objects.get(request=request)
    assert (reminder.state, reminder.attempts) == ("sent", 1)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["anonymous", "stranger", "analyst", "qa_lead_a", "auditor", "dpo"])
def test_the_undelivered_filter_and_flag_leak_nothing_to_any_role(
    persona, request, client, roles, analyst, dpo, settings
):
    """Given two requests with a reminder given up, one assigned to the analyst and one to a DPO,
    when each role opens the requests list filtered on undelivered reminders and the dashboard,
    then nobody gets a 500, the anonymous visitor and staff without a role see nothing of them,
    the analyst sees only their own, and the DPO and the auditor both."""
    # given
    mine, other = _request_due_in(3, analyst), _request_due_in(3, dpo)
    for dsr in (mine, other):
        DeadlineReminder.objects.create(
            request=dsr,
            kind="3-days-before",
            due_date=dsr.due_date,
            state="given_up",
            attempts=6,
            last_error="SMTPDataError 451: try later",
            next_attempt_at=None,
        )
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))

    # when
    listed = client.get(reverse("admin:dsr_datasubjectrequest_changelist") + "?reminders=undelivered")
    index = client.get(reverse("admin:index"))

    # then
    assert listed.status_code in (200, 302, 403) and index.status_code in (200, 302)
    page = listed.content.decode() if listed.status_code == 200 else ""
    seen = {dsr.reference for dsr in (mine, other) if dsr.reference in page}
    expected = {
        "anonymous": set(),
        "stranger": set(),
        "qa_lead_a": set(),
        "analyst": {mine.reference},
        "auditor": {mine.reference, other.reference},
        "dpo": {mine.reference, other.reference},
    }[persona]
    assert seen == expected
    if persona in ("analyst", "auditor", "dpo"):
        flagged = dashboard_for(request.getfixturevalue(persona), timezone.now()).reminders_undelivered
        assert flagged == len(expected)


@pytest.mark.django_db
def test_one_tick_sends_every_due_reminder_however_many_batches_they_fill(analyst, monkeypatch, mailoutbox):
    """Given five requests each owed today's reminder and a tick that reads two reminders at a
    time, when beat's hourly tick runs once, then all five are sent (not the first batch only), and a
    second tick at the same moment sends nothing."""
    from dsr import reminders

    monkeypatch.setattr(reminders, "DELIVERY_BATCH", 2)
    requests = [_request_due_in(7, analyst) for _ in range(5)]
    now = timezone.now()

    assert reminders_send_due(now=now) == 5
    assert reminders_send_due(now=now) == 0
    assert len(mailoutbox) == 5
    assert set(DeadlineReminder.objects.values_list("request", "state")) == {(r.pk, "sent") for r in requests}
