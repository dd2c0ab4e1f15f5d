"""POST /api/v1/recordings/: the telephony integration pushes calls and reads nothing back."""

from __future__ import annotations

import io
import json
import tracemalloc
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from compliance_site.api_auth import token_digest
from compliance_site.audit.models import AccessEvent
from compliance_site.models import IntegrationToken
from compliance_site.roles import TELEPHONY_INTEGRATION
from compliance_site.services import integration_token_issue
from recordings.models import Consent, DataSubject, Recording
from recordings.vault.services import subject_key_destroy
from tests.factories import UserFactory, _wav
from tests.recordings.ingest_factories import (
    NOT_AUDIO,
    TRUNCATED_WAV,
    WAV,
    assert_nothing_written,
    call_metadata,
    reference_rows,
    stored_files,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def ingest_rows(db):
    return reference_rows()


URL = "/api/v1/recordings/"


@pytest.fixture(autouse=True)
def _fresh_throttle_history():
    cache.clear()  # the throttle counts in the default cache, which outlives a test
    yield
    cache.clear()


def create_integration(name: str, *args: str) -> str:
    out = StringIO()
    call_command("create_integration", name, *args, stdout=out, stderr=StringIO())
    return out.getvalue().strip()


@pytest.fixture
def token(db):
    return create_integration("pbx-berlin")


@pytest.fixture
def api(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def audio_file(content: bytes, name: str = "call.wav") -> io.BytesIO:
    file = io.BytesIO(content)
    file.name = name
    return file


def push(client, content: bytes = WAV, metadata=None, name: str = "call.wav", **extra):
    metadata = call_metadata() if metadata is None else metadata
    data = {"audio": audio_file(content, name), "metadata": json.dumps(metadata)}
    return client.post(URL, data, format="multipart", **extra)


# --- Success ---------------------------------------------------------------------------------


def test_a_call_is_stored_encrypted_with_its_consent_evidence_and_logged(api, ingest_rows):
    # when
    response = push(api)

    # then: the integration learns the references and what the law made of the call, nothing more
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "reference", "subject_reference", "status", "restriction", "stopped_purposes"}
    assert (body["status"], body["restriction"], body["stopped_purposes"]) == ("active", None, [])
    recording = Recording.objects.select_related("subject", "queue").get(pk=body["id"])
    assert (recording.reference, recording.subject.reference) == (
        body["reference"],
        body["subject_reference"],
    )
    assert (recording.queue.code, recording.lawful_basis, recording.content_type) == (
        "billing",
        "consent",
        "audio/wav",
    )
    assert list(recording.purposes.values_list("code", flat=True)) == ["quality_assurance"]
    # and the consent with its evidence (Art. 7(1))
    consent = Consent.objects.get(recording=recording)
    assert (consent.decision, consent.method, consent.jurisdiction) == ("given", "ivr_keypress", "DE")
    assert consent.notice == ingest_rows["notice"]
    assert consent.evidence_offset.total_seconds() == 12
    # and the audio is in storage, encrypted
    [blob] = stored_files()
    ciphertext = blob.read_bytes()
    assert blob.name.endswith(".wav.tink")
    assert ciphertext[0] == 40  # the streaming AEAD header's length byte
    assert WAV[44:1044] not in ciphertext and b"RIFF" not in ciphertext
    # and the access log says who pushed it
    event = AccessEvent.objects.get(action="ingest")
    assert (event.object_id, event.actor_label) == (recording.pk, "pbx-berlin")
    assert {row.history_user.username for row in recording.history.all()} == {"pbx-berlin"}


def test_audio_is_recognised_by_content_not_by_name(api, ingest_rows):
    response = push(api, name="call.mp3")

    assert response.status_code == 201
    assert Recording.objects.get().content_type == "audio/wav"


def test_metadata_may_also_come_as_a_json_file_part(api, ingest_rows):
    metadata = audio_file(json.dumps(call_metadata()).encode(), "metadata.json")

    response = api.post(URL, {"audio": audio_file(WAV), "metadata": metadata}, format="multipart")

    assert response.status_code == 201, response.json()


def test_a_second_call_of_the_same_caller_finds_the_subject(api, ingest_rows):
    first = push(api).json()

    second = push(api, metadata=call_metadata(subject={"phone": "030 1234567"})).json()

    assert second["subject_reference"] == first["subject_reference"]


# --- Refusals: a clear 4xx, nothing left behind -----------------------------------------------


@pytest.mark.parametrize(
    ("content", "status", "says"),
    [
        (NOT_AUDIO, 415, "Unknown audio format"),
        (b"", 400, "empty"),
        (TRUNCATED_WAV, 400, "truncated"),
    ],
    ids=["text-named-wav", "empty", "truncated-wav"],
)
def test_bad_audio_is_refused_with_its_reason(api, ingest_rows, content, status, says):
    response = push(api, content=content)

    assert response.status_code == status
    [message] = response.json()["audio"]
    assert says in message
    assert_nothing_written()


def test_oversize_audio_is_refused_with_413(api, ingest_rows, settings):
    settings.RECORDING_MAX_BYTES = len(WAV) - 1

    response = push(api)

    assert response.status_code == 413
    assert f"the limit is {len(WAV) - 1} bytes" in response.json()["audio"][0]
    assert_nothing_written()


def test_a_body_declared_too_large_is_refused_before_it_is_read(api, ingest_rows, settings):
    # given: a request announcing far more than the largest recording and its metadata
    settings.RECORDING_MAX_BYTES = 10_000
    body = encode_multipart(BOUNDARY, {"audio": audio_file(WAV), "metadata": json.dumps(call_metadata())})

    # when: reading past the real body would fail the test client's payload
    response = api.generic("POST", URL, body, MULTIPART_CONTENT, CONTENT_LENGTH=str(50 * 1024 * 1024))

    # then
    assert response.status_code == 413
    assert "accepted up to 10000 bytes" in response.json()["audio"][0]
    assert_nothing_written()


def test_metadata_larger_than_a_form_field_may_be_is_refused_with_413(api, ingest_rows, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 200

    response = push(api)

    assert response.status_code == 413
    assert "form fields are larger" in response.json()["metadata"][0]
    assert_nothing_written()


@pytest.mark.parametrize(
    ("metadata", "path", "says"),
    [
        (call_metadata(queue="no-such-queue"), ("queue",), "does not exist"),
        (call_metadata(consents=[]), ("consents",), "basis is consent"),
        (call_metadata(subject={"phone": "+49 12"}), ("subject", "phone"), "phone number"),
        (call_metadata(subject={"email": "erika@"}), ("subject", "email"), "valid email"),
        (call_metadata(subject={}), ("subject", "non_field_errors"), "reference, phone or email"),
        (call_metadata(lawful_basis="gut_feeling"), ("lawful_basis",), "not a valid choice"),
        (call_metadata(ended_at="2020-01-01T00:00:00Z"), ("ended_at",), "cannot end before"),
        (
            call_metadata(consents=[{**call_metadata()["consents"][0], "notice_version": "1999"}]),
            ("consents", "0", "notice_version"),
            "No recording notice",
        ),
        (
            call_metadata(lawful_basis="legitimate_interests", consents=[]),
            ("legitimate_interest_assessment",),
            "approved assessment",
        ),
    ],
    ids=[
        "unknown-queue",
        "consent-basis-without-consent",
        "malformed-phone",
        "malformed-email",
        "no-identifier",
        "unknown-basis",
        "ends-before-start",
        "unknown-notice",
        "legitimate-interests-without-assessment",
    ],
)
def test_invalid_metadata_is_refused_naming_the_field(api, ingest_rows, metadata, path, says):
    response = push(api, metadata=metadata)

    assert response.status_code == 400
    errors = response.json()["metadata"]
    for key in path:
        errors = errors[key]
    assert says in " ".join(errors)
    assert_nothing_written()


@pytest.mark.parametrize(
    ("data", "field", "says"),
    [
        ({"metadata": json.dumps(call_metadata())}, "audio", "No file was submitted"),
        ({"audio": audio_file(WAV)}, "metadata", "required"),
        ({"audio": audio_file(WAV), "metadata": "{not json"}, "metadata", "valid JSON"),
        ({"audio": audio_file(WAV), "metadata": "[]"}, "metadata", "Expected a dictionary"),
    ],
    ids=["no-audio", "no-metadata", "metadata-not-json", "metadata-not-an-object"],
)
def test_a_malformed_request_is_refused_naming_the_part(api, ingest_rows, data, field, says):
    response = api.post(URL, data, format="multipart")

    assert response.status_code == 400
    assert says in json.dumps(response.json()[field])
    assert_nothing_written()


def test_a_json_body_is_refused_as_unsupported(api, ingest_rows):
    response = api.post(URL, call_metadata(), format="json")

    assert response.status_code == 415
    assert_nothing_written()


def test_a_call_for_an_erased_subject_is_refused(api, ingest_rows):
    push(api)
    subject_key_destroy(subject=DataSubject.objects.get(), reason="erasure")

    response = push(api)

    assert response.status_code == 400
    assert "erased" in response.json()["metadata"]["subject"][0]
    assert Recording.objects.count() == 1
    assert len(stored_files()) == 1


# --- Who may push ----------------------------------------------------------------------------


def test_without_a_token_the_answer_is_401(ingest_rows):
    response = push(APIClient())

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert_nothing_written()


def test_with_an_unknown_token_the_answer_is_401(ingest_rows):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    assert push(client).status_code == 401
    assert_nothing_written()


def test_an_account_without_the_ingest_permission_gets_403(dpo, ingest_rows):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {integration_token_issue(user=dpo)}")

    response = push(client)

    assert response.status_code == 403
    assert_nothing_written()


def test_a_staff_session_cannot_push(client, dpo, ingest_rows):
    client.force_login(dpo)

    assert push(client).status_code == 401
    assert_nothing_written()


def test_the_integration_reads_nothing_back(api, ingest_rows):
    recording = Recording.objects.get(pk=push(api).json()["id"])

    assert api.get(URL).status_code == 405
    assert api.get(reverse("api-schema")).status_code in (401, 403)
    assert api.get(reverse("recording-audio", args=[recording.pk])).status_code == 302  # to the login
    assert api.get(reverse("admin:recordings_recording_changelist")).status_code == 302


def test_pushes_are_throttled_per_integration(api, ingest_rows, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"recording-ingest": "1/minute"})

    assert push(api).status_code == 201
    response = push(api, metadata=call_metadata(subject={"phone": "+49 30 7654321"}))

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert Recording.objects.count() == 1


# --- Streaming -------------------------------------------------------------------------------


def _peak_bytes_of_push(client, audio: bytes, tmp_path) -> int:
    # The body comes from a file, as a WSGI server streams it; the test client's own payload
    # would copy it into memory.
    body = tmp_path / "body"
    body.write_bytes(
        encode_multipart(BOUNDARY, {"audio": audio_file(audio), "metadata": json.dumps(call_metadata())})
    )
    del audio
    with body.open("rb") as stream:
        tracemalloc.start()
        try:
            response = client.generic(
                "POST",
                URL,
                b"",
                MULTIPART_CONTENT,
                CONTENT_LENGTH=str(body.stat().st_size),
                **{"wsgi.input": stream},
            )
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert response.status_code == 201, response.content
    return peak


def test_memory_does_not_grow_with_the_file_size(api, ingest_rows, tmp_path):
    small = _peak_bytes_of_push(api, _wav(seconds=250), tmp_path)  # 4 MB: over the in-memory limit
    large = _peak_bytes_of_push(api, _wav(seconds=1000), tmp_path)  # 16 MB

    assert large < small + 1024 * 1024
    assert large < 4 * 1024 * 1024  # a quarter of the file: it was never held whole


# --- OpenAPI description ---------------------------------------------------------------------


def test_the_openapi_description_generates_without_warnings():
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", "/dev/null")


def test_the_openapi_description_is_served_to_staff_only(client, dpo):
    assert client.get(reverse("api-schema")).status_code == 403

    client.force_login(dpo)
    response = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    schema = json.loads(response.content)
    operation = schema["paths"]["/api/v1/recordings/"]["post"]
    form = operation["requestBody"]["content"]["multipart/form-data"]
    assert form["encoding"]["metadata"]["contentType"] == "application/json"
    assert set(schema["paths"]["/api/v1/recordings/"]) == {"post"}  # nothing to read


# --- create_integration ----------------------------------------------------------------------


def test_create_integration_makes_a_token_only_machine_account(token):
    user = IntegrationToken.objects.get(digest=token_digest(token)).user

    assert (user.username, user.is_staff, user.is_superuser, user.is_active) == (
        "pbx-berlin",
        False,
        False,
        True,
    )
    assert not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == [TELEPHONY_INTEGRATION]
    assert user.get_all_permissions() == {
        "recordings.ingest_recording",
        "recordings.withdraw_consent",
        "dsr.add_datasubjectrequest",
    }


def test_running_it_again_rotates_the_token(api, token, ingest_rows):
    new = create_integration("pbx-berlin")

    assert new != token
    assert push(api).status_code == 401
    api.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert push(api).status_code == 201


def test_revoke_stops_the_token_and_a_later_run_issues_a_new_one(api, ingest_rows):
    assert create_integration("pbx-berlin", "--revoke") == ""
    assert push(api).status_code == 401

    api.credentials(HTTP_AUTHORIZATION=f"Token {create_integration('pbx-berlin')}")
    assert push(api).status_code == 201


def test_it_never_turns_a_persons_account_into_an_integration(dpo):
    with pytest.raises(CommandError, match="not an integration account"):
        create_integration(dpo.username)

    assert not IntegrationToken.objects.exists()
    assert not dpo.groups.filter(name=TELEPHONY_INTEGRATION).exists()


def test_an_account_outside_the_integration_role_is_refused_too(db):
    UserFactory(username="pbx-old", is_staff=False)

    with pytest.raises(CommandError, match="not an integration account"):
        create_integration("pbx-old")
    assert not Group.objects.get(name=TELEPHONY_INTEGRATION).user_set.exists()


def test_an_agent_whose_account_is_deactivated_is_refused(api, ingest_rows):
    UserFactory(username="left.company", is_active=False)

    response = push(api, metadata=call_metadata(agent="left.company"))

    assert response.status_code == 400
    assert "does not exist" in " ".join(response.json()["metadata"]["agent"])
    assert_nothing_written()


def test_integration_tokens_are_not_listed_in_the_admin(admin_client, token):
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    assert b"authtoken" not in response.content and b"integrationtoken" not in response.content
    assert admin_client.get("/admin/authtoken/tokenproxy/").status_code == 404
    assert admin_client.get("/admin/compliance_site/integrationtoken/").status_code == 404
