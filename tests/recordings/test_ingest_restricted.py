"""Issue 16 gap 1, later calls: a call from a caller whose processing is restricted (Art. 18) or
who objected (Art. 21) arrives marked, and the ingest API's answer says so."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from dsr.rights import RightInput
from dsr.services import request_create
from dsr.workflow import request_complete, request_identity_verify
from recordings.models import LegitimateInterestAssessment, Objection, Recording
from recordings.selectors import recordings_visible_to
from tests.factories import DataSubjectFactory, RecordingFactory
from tests.recordings.ingest_factories import WAV, call_metadata, reference_rows

pytestmark = pytest.mark.django_db

PHONE = "+49 30 1234567"


@pytest.fixture
def api(db):
    cache.clear()  # the throttle counts in the default cache
    out = io.StringIO()
    call_command("create_integration", "pbx-berlin", stdout=out, stderr=io.StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    yield client
    cache.clear()


def push(api, metadata: dict):
    audio = io.BytesIO(WAV)
    audio.name = "call.wav"
    return api.post(
        "/api/v1/recordings/", {"audio": audio, "metadata": json.dumps(metadata)}, format="multipart"
    )


def completed(subject, request_type: str, dpo, given: RightInput | None = None):
    request = request_create(
        request_type=request_type,
        channel="letter",
        received_at=timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )
    request_identity_verify(dsr=request, method="document", note="ID card seen.", actor=dpo)
    return request_complete(dsr=request, actor=dpo, given=given)


def test_the_api_says_a_call_of_a_restricted_caller_is_stored_restricted_and_under_which_request(
    api, dpo, qa_lead_a, queue_a
):
    """Given a caller who asked for restriction (accuracy contested); when the telephony system
    pushes their next call; then the answer says "restricted" and names the request, the call is
    stored restricted, and the QA lead of its queue does not see it."""
    reference_rows()
    subject = DataSubjectFactory(phone=PHONE)
    request = completed(subject, "restriction", dpo, RightInput(restriction_ground="accuracy_contested"))

    response = push(api, call_metadata(subject={"phone": PHONE}, queue=queue_a.code))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "restricted"
    assert body["restriction"]["request"] == request.reference
    call = Recording.objects.get(pk=body["id"])
    assert (call.subject_id, call.status) == (subject.pk, Recording.Status.RESTRICTED)
    assert call not in recordings_visible_to(qa_lead_a)


def test_a_call_after_an_objection_is_not_used_for_the_purpose_objected_to(api, dpo, qa_lead_a, queue_a):
    """Given a caller, known only from a call recorded with consent, whose objection to
    processing on legitimate interests the DPO upheld; when their next call arrives on legitimate
    interests for quality assurance; then the answer names quality assurance as stopped, and the
    QA lead of the queue does not see the call."""
    reference_rows()
    lia = LegitimateInterestAssessment.objects.create(
        title="Call QA", balancing_summary="Balanced.", approved_by=dpo, approved_at=timezone.now()
    )
    lia.purposes.set([reference_rows()["purpose"]])
    subject = DataSubjectFactory(phone=PHONE)
    RecordingFactory(subject=subject, queue=queue_a)  # on consent: the objection's own calls are none
    completed(subject, "objection", dpo)
    assert Objection.objects.filter(subject=subject, decision="upheld").exists()

    metadata = call_metadata(
        subject={"phone": PHONE},
        queue=queue_a.code,
        lawful_basis="legitimate_interests",
        legitimate_interest_assessment=lia.pk,
        consents=[],
    )
    response = push(api, metadata)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["restriction"], body["stopped_purposes"]) == (
        "active",
        None,
        ["quality_assurance"],
    )
    assert Recording.objects.get(pk=body["id"]) not in recordings_visible_to(qa_lead_a)


def test_a_pending_objection_already_stops_a_new_call(api, dpo, qa_lead_a, queue_a):
    """Given a caller whose objection is received but not yet decided; when their call arrives on
    legitimate interests; then it is not used for quality assurance meanwhile (Art. 21(1))."""
    rows = reference_rows()
    lia = LegitimateInterestAssessment.objects.create(
        title="Call QA", balancing_summary="Balanced.", approved_by=dpo, approved_at=timezone.now()
    )
    lia.purposes.set([rows["purpose"]])
    subject = DataSubjectFactory(phone=PHONE)
    Objection.objects.create(subject=subject, purpose=rows["purpose"], received_at=timezone.now())

    body = push(
        api,
        call_metadata(
            subject={"phone": PHONE},
            queue=queue_a.code,
            lawful_basis="legitimate_interests",
            legitimate_interest_assessment=lia.pk,
            consents=[],
        ),
    ).json()

    assert body["stopped_purposes"] == ["quality_assurance"]
    assert Recording.objects.get(pk=body["id"]) not in recordings_visible_to(qa_lead_a)
