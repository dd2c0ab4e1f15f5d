"""The DPO registers and works requests in the admin."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from dsr.models import DataSubjectRequest
from dsr.services import request_create
from recordings.models import Consent
from tests.factories import ConsentFactory, DataSubjectFactory, PurposeFactory, RecordingFactory

pytestmark = pytest.mark.django_db


def test_dpo_registers_a_request_and_gets_reference_and_due_date(client, dpo):
    # given
    client.force_login(dpo)
    received = timezone.localtime() - datetime.timedelta(days=2)

    # when
    response = client.post(
        reverse("admin:dsr_datasubjectrequest_add"),
        {
            "request_type": "erasure",
            "channel": "letter",
            "language": "de",
            "received_at_0": received.strftime("%Y-%m-%d"),
            "received_at_1": received.strftime("%H:%M:%S"),
        },
    )

    # then
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.reference.startswith(f"DSR-{received.year}-")
    # due until the end of the 30th day after the day of receipt (Reg. 1182/71 Art. 3)
    assert timezone.localdate(request.due_at) == timezone.localdate(request.received_at) + datetime.timedelta(
        days=30
    )
    assert timezone.localtime(request.due_at).time() == datetime.time.max
    assert request.history.first().history_user == dpo


def test_request_in_the_future_is_refused_with_a_message(client, dpo):
    client.force_login(dpo)
    later = timezone.localtime() + datetime.timedelta(days=3)

    response = client.post(
        reverse("admin:dsr_datasubjectrequest_add"),
        {
            "request_type": "access",
            "channel": "email",
            "language": "en",
            "received_at_0": later.strftime("%Y-%m-%d"),
            "received_at_1": later.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 200
    assert "cannot be received in the future" in response.content.decode()
    assert DataSubjectRequest.objects.count() == 0


def step_url(dsr: DataSubjectRequest, step: str) -> str:
    return reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, step])


def test_the_request_page_offers_the_next_steps_and_no_status_field(client, dpo):
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    client.force_login(dpo)

    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk])).content.decode()

    assert step_url(request, "verify") in page and step_url(request, "match") in page
    assert 'name="status"' not in page  # the status moves only through the steps


def test_a_request_is_worked_through_its_steps(client, dpo):
    # given: a letter from a caller whose phone is on file
    subject = DataSubjectFactory(phone="+49 30 1234567")
    RecordingFactory(subject=subject)
    request = request_create(request_type="restriction", channel="letter", received_at=timezone.now())
    client.force_login(dpo)

    # when: the DPO matches by phone, verifies, previews and completes
    matched = client.post(step_url(request, "match"), {"reference": "", "phone": "030 1234567", "email": ""})
    verified = client.post(step_url(request, "verify"), {"method": "document", "note": "ID card seen."})
    preview = client.get(step_url(request, "complete")).content.decode()
    completed = client.post(step_url(request, "complete"), {"restriction_ground": "accuracy_contested"})

    # then
    assert (matched.status_code, verified.status_code, completed.status_code) == (302, 302, 302)
    assert "1 recording(s) marked restricted" in preview
    request.refresh_from_db()
    assert (request.subject, request.status) == (subject, "completed")
    assert request.letters.count() == 1
    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk])).content.decode()
    assert subject.reference in page and "Restricted (Art. 18)" in page


def test_the_consents_to_withdraw_are_named_by_purpose_call_and_date(client, dpo):
    # given: a subject who consented in two calls, and once for all their calls
    subject = DataSubjectFactory()
    calls = [
        RecordingFactory(subject=subject, purposes=[PurposeFactory(name="Quality assurance")])
        for _ in range(2)
    ]
    ConsentFactory(
        recording=None,
        subject=subject,
        purpose=PurposeFactory(code="training", name="Agent training"),
        method=Consent.Method.WEB_FORM,
        captured_at=timezone.make_aware(datetime.datetime(2026, 3, 2, 23, 30), datetime.UTC),
    )
    request = request_create(request_type="consent_withdrawal", channel="email", received_at=timezone.now())
    client.force_login(dpo)
    client.post(step_url(request, "match"), {"reference": subject.reference, "phone": "", "email": ""})
    client.post(step_url(request, "verify"), {"method": "email", "note": "Replied from the address on file."})

    # when: the DPO opens "Carry out the request"
    page = client.get(step_url(request, "complete")).content.decode()

    # then: each checkbox says which consent it is (dates local: Berlin), not "Given for 2 (2)"
    for call in calls:
        given = f"{timezone.localtime(call.started_at):%Y-%m-%d}"
        assert f"Quality assurance · call {call.reference} · given {given} (IVR key press)" in page
    assert "Agent training · all calls · given 2026-03-03 (Web form)" in page
    assert "Given for" not in page


def test_refusal_without_a_ground_is_an_error_on_the_form(client, dpo):
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    client.force_login(dpo)

    response = client.post(step_url(request, "refuse"), {"refusal_ground": "", "note": "", "confirm": "on"})

    assert response.status_code == 200
    assert "This field is required" in response.content.decode()
    request.refresh_from_db()
    assert request.status == "new"


def test_an_analyst_cannot_open_the_steps_of_a_request_not_assigned_to_them(client, analyst):
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    client.force_login(analyst)

    assert client.get(step_url(request, "verify")).status_code == 404
    assert client.get(step_url(request, "approve")).status_code == 404


def test_requests_list_shows_days_left_most_urgent_first(client, dpo):
    now = timezone.now()
    fresh = request_create(request_type="access", channel="email", received_at=now)
    overdue = request_create(
        request_type="erasure", channel="email", received_at=now - datetime.timedelta(days=35)
    )
    closed = request_create(
        request_type="access", channel="email", received_at=now - datetime.timedelta(days=40)
    )
    closed.status, closed.closed_at = "completed", now
    closed.save()
    client.force_login(dpo)

    response = client.get(reverse("admin:dsr_datasubjectrequest_changelist"))
    overdue_only = client.get(reverse("admin:dsr_datasubjectrequest_changelist") + "?deadline=overdue")

    assert [r.pk for r in response.context["cl"].result_list] == [overdue.pk, fresh.pk, closed.pk]
    assert "5 overdue" in response.content.decode()
    assert [r.pk for r in overdue_only.context["cl"].result_list] == [overdue.pk]


def test_withdrawing_consents_is_announced_as_final_before_it_is_confirmed(client, dpo):
    # given: a verified consent withdrawal of a subject with an active consent
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, purposes=[PurposeFactory(name="Quality assurance")])
    request = request_create(request_type="consent_withdrawal", channel="email", received_at=timezone.now())
    client.force_login(dpo)
    client.post(step_url(request, "match"), {"reference": subject.reference, "phone": "", "email": ""})
    client.post(step_url(request, "verify"), {"method": "email", "note": "Replied from the address on file."})

    # when: the DPO opens "Carry out the request"
    page = client.get(step_url(request, "complete")).content.decode()

    # then: the page warns, as for an erasure, that this cannot be undone
    assert "This cannot be undone" in page


def test_a_closed_request_keeps_its_channel_and_language_read_only(client, dpo):
    # given: a request refused (closed, its letter written in German)
    request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), language="de"
    )
    client.force_login(dpo)
    client.post(step_url(request, "refuse"), {"refusal_ground": "excessive", "note": "", "confirm": "on"})
    request.refresh_from_db()
    assert request.status == DataSubjectRequest.Status.REFUSED

    # when: the DPO opens it, and posts a change of language anyway
    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk])).content.decode()
    client.post(
        reverse("admin:dsr_datasubjectrequest_change", args=[request.pk]),
        {"channel": "phone", "language": "en"},
    )

    # then: no select offers to change them, and nothing changed
    assert 'name="language"' not in page and 'name="channel"' not in page
    request.refresh_from_db()
    assert (request.channel, request.language) == ("email", "de")
