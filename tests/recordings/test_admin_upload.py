"""Uploading a recording in the admin: the DPO's "Add recording" page, stored through ingest."""

from __future__ import annotations

import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import Consent, Recording
from tests.recordings.ingest_factories import (
    CALL_START,
    NOT_AUDIO,
    WAV,
    assert_nothing_written,
    reference_rows,
    stored_files,
)

pytestmark = pytest.mark.django_db

ADD_URL = reverse("admin:recordings_recording_add")


@pytest.fixture
def ingest_rows(db):
    return reference_rows()


def split(moment) -> dict[str, str]:
    local = timezone.localtime(moment)
    return {"0": local.strftime("%Y-%m-%d"), "1": local.strftime("%H:%M:%S")}


def upload(ingest_rows, content: bytes = WAV, **fields) -> dict:
    """The add form as a DPO fills it in: a call recorded with consent, evidence attached."""
    started, ended = CALL_START, CALL_START + datetime.timedelta(minutes=4)
    data = {
        "audio": io.BytesIO(content),
        "subject_reference": "",
        "subject_full_name": "Erika Mustermann",
        "subject_phone": "+49 30 1234567",
        "subject_email": "",
        "queue": ingest_rows["queue"].pk,
        "direction": "inbound",
        **{f"started_at_{k}": v for k, v in split(started).items()},
        **{f"ended_at_{k}": v for k, v in split(ended).items()},
        "lawful_basis": "consent",
        "legitimate_interest_assessment": "",
        "purposes": [ingest_rows["purpose"].pk],
        "consent_purposes": [ingest_rows["purpose"].pk],
        "consent_decision": "given",
        "consent_method": "verbal_agent",
        "consent_notice": ingest_rows["notice"].pk,
        **{f"consent_captured_at_{k}": v for k, v in split(started + datetime.timedelta(seconds=20)).items()},
        "consent_evidence_offset_seconds": "20",
        "consent_jurisdiction": "DE",
        "_save": "Save",
    }
    data["audio"].name = "upload.wav"
    data.update(fields)
    return data


def form_errors(response) -> dict:
    form = response.context["adminform"].form
    return {name or "__all__": list(errors) for name, errors in form.errors.items()}


def test_the_dpo_sees_the_upload_form(client, dpo, ingest_rows):
    client.force_login(dpo)

    response = client.get(ADD_URL)

    assert response.status_code == 200
    page = response.content.decode()
    assert 'enctype="multipart/form-data"' in page
    for name in ("audio", "subject_phone", "queue", "lawful_basis", "consent_notice", "consent_jurisdiction"):
        assert f'name="{name}"' in page


def test_the_dpo_uploads_a_wav_and_the_recording_is_stored(client, dpo, ingest_rows):
    client.force_login(dpo)

    # when
    response = client.post(ADD_URL, upload(ingest_rows))

    # then
    assert response.status_code == 302, form_errors(response)
    recording = Recording.objects.get()
    assert (recording.queue, recording.lawful_basis, recording.content_type) == (
        ingest_rows["queue"],
        "consent",
        "audio/wav",
    )
    consent = Consent.objects.get(recording=recording)
    assert (consent.method, consent.notice, consent.evidence_offset.total_seconds()) == (
        "verbal_agent",
        ingest_rows["notice"],
        20,
    )
    assert consent.captured_at == CALL_START + datetime.timedelta(seconds=20)
    [blob] = stored_files()
    assert WAV[44:1044] not in blob.read_bytes()
    event = AccessEvent.objects.get(action="ingest")
    assert (event.object_id, event.actor_id) == (recording.pk, dpo.pk)
    assert {row.history_user for row in recording.history.all()} == {dpo}


def test_a_file_that_is_not_audio_is_an_error_on_the_form(client, dpo, ingest_rows):
    client.force_login(dpo)

    response = client.post(ADD_URL, upload(ingest_rows, content=NOT_AUDIO))

    assert response.status_code == 200
    assert form_errors(response) == {
        "audio": ["Unknown audio format: the content is not WAV, MP3, OGG/Opus, WebM, FLAC or M4A."]
    }
    assert_nothing_written()


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"subject_phone": "+49 12"}, "subject_phone", "phone number"),
        ({"subject_phone": ""}, "__all__", "subject: Identify the caller"),
        (
            {
                "consent_purposes": [],
                "consent_decision": "",
                "consent_method": "",
                "consent_notice": "",
                "consent_captured_at_0": "",
                "consent_captured_at_1": "",
                "consent_evidence_offset_seconds": "",
                "consent_jurisdiction": "",
            },
            "consent_purposes",
            "basis is consent",
        ),
        ({"consent_jurisdiction": "germany"}, "consent_jurisdiction", "Ensure this value has at most 2"),
        ({"consent_jurisdiction": "de"}, "consent_jurisdiction", "ISO 3166"),
        ({"consent_method": ""}, "consent_method", "required"),
        ({"consent_purposes": []}, "consent_purposes", "required"),
        ({"lawful_basis": "legitimate_interests"}, "legitimate_interest_assessment", "approved assessment"),
        ({"ended_at_0": "2020-01-01"}, "ended_at", "cannot end before"),
    ],
    ids=[
        "malformed-phone",
        "no-identifier",
        "consent-basis-without-consent",
        "jurisdiction-too-long",
        "jurisdiction-not-iso",
        "evidence-incomplete",
        "evidence-without-purpose",
        "legitimate-interests-without-assessment",
        "ends-before-start",
    ],
)
def test_invalid_metadata_shows_on_its_field_and_writes_nothing(
    client, dpo, ingest_rows, fields, field, says
):
    client.force_login(dpo)

    response = client.post(ADD_URL, upload(ingest_rows, **fields))

    assert response.status_code == 200
    errors = form_errors(response)
    assert says in " ".join(errors.get(field, [])), errors
    assert_nothing_written()


@pytest.mark.parametrize("persona", ["qa_lead_a", "auditor", "analyst", "stranger"])
def test_only_those_who_may_add_recordings_reach_the_page(client, request, ingest_rows, persona):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(ADD_URL).status_code == 403
    assert client.post(ADD_URL, upload(ingest_rows)).status_code == 403
    assert_nothing_written()


def test_the_change_page_of_an_uploaded_recording_still_works(client, dpo, ingest_rows):
    client.force_login(dpo)
    client.post(ADD_URL, upload(ingest_rows))
    recording = Recording.objects.get()

    response = client.get(reverse("admin:recordings_recording_change", args=[recording.pk]))

    assert response.status_code == 200
    assert recording.reference in response.content.decode()
    assert 'name="audio"' not in response.content.decode()
