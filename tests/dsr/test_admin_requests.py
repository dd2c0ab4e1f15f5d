"""The DPO registers and works requests in the admin."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from dsr.models import DataSubjectRequest
from dsr.services import request_create

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
            "received_at_0": received.strftime("%Y-%m-%d"),
            "received_at_1": received.strftime("%H:%M:%S"),
        },
    )

    # then
    assert response.status_code == 302
    request = DataSubjectRequest.objects.get()
    assert request.reference.startswith(f"DSR-{received.year}-")
    assert request.due_at - request.received_at == datetime.timedelta(days=30)
    assert request.history.first().history_user == dpo


def test_request_in_the_future_is_refused_with_a_message(client, dpo):
    client.force_login(dpo)
    later = timezone.localtime() + datetime.timedelta(days=3)

    response = client.post(
        reverse("admin:dsr_datasubjectrequest_add"),
        {
            "request_type": "access",
            "channel": "email",
            "received_at_0": later.strftime("%Y-%m-%d"),
            "received_at_1": later.strftime("%H:%M:%S"),
        },
    )

    assert response.status_code == 200
    assert "cannot be received in the future" in response.content.decode()
    assert DataSubjectRequest.objects.count() == 0


def _change_form_data(request: DataSubjectRequest, **changes) -> dict:
    data = {
        "request_type": request.request_type,
        "channel": request.channel,
        "subject": "",
        "status": request.status,
        "assignee": "",
        "identity_method": "",
        "identity_note": "",
        "outcome": "",
        "refusal_ground": "",
        "notes-TOTAL_FORMS": "0",
        "notes-INITIAL_FORMS": "0",
        "reminders-TOTAL_FORMS": "0",
        "reminders-INITIAL_FORMS": "0",
    }
    data.update(changes)
    return data


def test_completing_a_request_records_when_it_was_closed(client, dpo):
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    client.force_login(dpo)

    response = client.post(
        reverse("admin:dsr_datasubjectrequest_change", args=[request.pk]),
        _change_form_data(request, status="completed", outcome="Package sent."),
    )

    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == "completed"
    assert request.closed_at is not None


def test_refusal_without_a_ground_is_an_error_on_the_form(client, dpo):
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    client.force_login(dpo)

    response = client.post(
        reverse("admin:dsr_datasubjectrequest_change", args=[request.pk]),
        _change_form_data(request, status="refused"),
    )

    assert response.status_code == 200
    request.refresh_from_db()
    assert request.status == "new"


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
