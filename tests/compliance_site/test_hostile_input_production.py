"""Issue 14's hostile requests, each once, with the production error handling: DEBUG off, the
500 handler and its email to ADMINS in place, exceptions answered rather than raised. Each is a
4xx that says what was wrong, and no error report goes out."""

from __future__ import annotations

import datetime
import io
import json
from io import StringIO

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from compliance_site.json_limits import TOO_DEEP
from recordings.models import Purpose, Recipient
from recordings.sharing.services import share_create
from tests.compliance_site.test_hostile_api_bodies import nested
from tests.factories import PurposeFactory, RecordingFactory
from tests.recordings.ingest_factories import WAV, call_metadata, reference_rows

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.ADMINS = [("Ops", "ops@custos.example")]
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def integration(db):
    out = StringIO()
    call_command("create_integration", "pbx-production", stdout=out, stderr=StringIO())
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return client


def test_issue_14s_hostile_requests_are_each_a_clear_4xx(production, client, dpo, integration):
    # given: a recording, shared, and the DPO's session
    rows = reference_rows()
    sharing = PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")
    recording = RecordingFactory(queue=rows["queue"], purposes=[rows["purpose"], sharing])
    recipient = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    _, token = share_create(
        recording=recording,
        recipient=recipient,
        ground="consent",
        expires_at=timezone.now() + datetime.timedelta(days=1),
        actor=dpo,
    )
    recipient_browser = client.__class__(raise_request_exception=False)
    share_audio = recipient_browser.post("/shares/open", {"token": token})["Location"]
    client.raise_request_exception = False
    client.force_login(dpo)
    deep_metadata = json.dumps(call_metadata()).replace('"billing"', nested(5000, leaf='"billing"'))
    call = io.BytesIO(WAV)
    call.name = "call.wav"

    # when
    answers = {
        "range on the audio": client.get(f"/recordings/{recording.pk}/audio", HTTP_RANGE=f"bytes={HUGE}-"),
        "range on a share": recipient_browser.get(share_audio, HTTP_RANGE=f"bytes=0-{HUGE}"),
        "queue=abc": client.get("/admin/recordings/recording/?queue=abc"),
        "history of 1e5": client.get("/admin/recordings/recording/1e5/history/"),
        "version abc": client.get(f"/admin/recordings/recording/{recording.pk}/history/abc/"),
        "nested withdrawal": integration.post(
            "/api/v1/consents/withdrawals/", nested(100_000), content_type="application/json"
        ),
        "nested request": integration.post(
            "/api/v1/requests/", nested(100_000), content_type="application/json"
        ),
        "nested ingest": integration.post(
            "/api/v1/recordings/",
            {"audio": call, "metadata": deep_metadata},
            format="multipart",
        ),
        "received in year 1": integration.post(
            "/api/v1/requests/", {"request_type": "access", "received_at": "0001-01-01"}, format="json"
        ),
    }

    # then
    assert {name: response.status_code for name, response in answers.items()} == {
        "range on the audio": 416,
        "range on a share": 416,
        "queue=abc": 400,
        "history of 1e5": 404,
        "version abc": 404,
        "nested withdrawal": 400,
        "nested request": 400,
        "nested ingest": 400,
        "received in year 1": 400,
    }
    assert "more than 20 digits" in answers["range on the audio"].content.decode()
    assert "more than 20 digits" in answers["range on a share"].content.decode()
    assert "Unknown queue" in answers["queue=abc"].content.decode()
    assert TOO_DEEP in answers["nested withdrawal"].content.decode()
    assert TOO_DEEP in answers["nested request"].content.decode()
    assert TOO_DEEP in answers["nested ingest"].content.decode()
    assert "out of range" in answers["received in year 1"].content.decode()
    assert mail.outbox == []  # no 500 report
