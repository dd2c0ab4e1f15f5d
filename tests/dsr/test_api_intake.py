"""POST /api/v1/requests/: an integration files a request; it gets its reference and due date."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from compliance_site.audit.models import AccessEvent
from dsr.models import DataSubjectRequest
from tests.factories import DataSubjectFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/requests/"


@pytest.fixture
def api(db):
    out = StringIO()
    call_command("create_integration", "web-portal", stdout=out, stderr=StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return client


def test_a_request_is_registered_and_matched_by_phone(api):
    subject = DataSubjectFactory(phone="+49 30 7654321")

    response = api.post(
        URL,
        {"request_type": "erasure", "language": "de", "subject": {"phone": "030 7654321"}},
        format="json",
    )

    assert response.status_code == 201, response.json()
    request = DataSubjectRequest.objects.get(reference=response.json()["reference"])
    assert (request.subject, request.channel, request.language) == (subject, "api", "de")
    assert response.json()["matched"] is True
    # due until the end of the 30th day after the day of receipt (Reg. 1182/71 Art. 3)
    assert timezone.localdate(request.due_at) == timezone.localdate(request.received_at) + datetime.timedelta(
        days=30
    )
    assert timezone.localtime(request.due_at).time() == datetime.time.max
    # and the access log names the integration that filed it, from where
    event = AccessEvent.objects.get(action="request_filed")
    assert (event.actor.username, event.actor_label, event.object_id, event.object_reference) == (
        "web-portal",
        "web-portal",
        request.pk,
        request.reference,
    )
    assert (event.detail, event.client_ip) == (
        {"type": "erasure", "channel": "api", "subject": subject.reference},
        "127.0.0.1",
    )


def test_an_unknown_requester_is_registered_unmatched(api):
    response = api.post(
        URL, {"request_type": "access", "subject": {"email": "nobody@example.org"}}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["matched"] is False
    assert DataSubjectRequest.objects.get().subject is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"request_type": "gossip"}, "request_type"),
        ({"request_type": "access", "received_at": "2999-01-01T00:00:00Z"}, "received_at"),
        ({"request_type": "access", "subject": {"phone": "+49 12"}}, "subject"),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_written(api, body, field):
    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not DataSubjectRequest.objects.exists()


def test_without_a_token_nothing_is_filed(db):
    assert APIClient().post(URL, {"request_type": "access"}, format="json").status_code == 401


def test_a_staff_account_without_a_token_cannot_file_through_the_api(client, dpo):
    client.force_login(dpo)

    assert client.post(URL, {"request_type": "access"}, content_type="application/json").status_code == 401
