"""Hostile bodies on the three integration endpoints that a fuzzer's small examples miss: JSON
nested past the parser's stack (RecursionError, a 500 before) and past a sane depth, and a
receipt date next to year 1 (OverflowError). Each is a 400 naming what is wrong, with nothing
written."""

from __future__ import annotations

import io
import json
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import call_command
from rest_framework.test import APIClient

from compliance_site.json_limits import MAX_JSON_DEPTH, TOO_DEEP, json_depth_problem
from dsr.models import DataSubjectRequest
from recordings.models import Consent
from tests.recordings.ingest_factories import WAV, assert_nothing_written, call_metadata, reference_rows

pytestmark = pytest.mark.django_db

RECORDINGS, WITHDRAWALS, REQUESTS = (
    "/api/v1/recordings/",
    "/api/v1/consents/withdrawals/",
    "/api/v1/requests/",
)


def nested(depth: int, *, leaf: str = "1") -> str:
    """A JSON text nesting arrays and objects ``depth`` levels deep."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + leaf + closing


@pytest.fixture
def api(db):
    reference_rows()
    cache.clear()  # the throttle counts in the default cache
    out = StringIO()
    call_command("create_integration", "pbx-hostile", stdout=out, stderr=StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    yield client
    cache.clear()


def test_depth_is_measured_without_recursion():
    deep: list = []
    for _ in range(200_000):  # far past the interpreter's recursion limit
        deep = [deep]

    assert json_depth_problem(deep) == TOO_DEEP
    assert json_depth_problem(json.loads(nested(MAX_JSON_DEPTH))) is None
    assert json_depth_problem(json.loads(nested(MAX_JSON_DEPTH + 1))) == TOO_DEEP
    assert json_depth_problem({"subject": {"phone": "+49"}, "purposes": [["x"]]}) is None


@pytest.mark.parametrize("url", [WITHDRAWALS, REQUESTS])
@pytest.mark.parametrize("depth", [100_000, 2_000, MAX_JSON_DEPTH + 1])
def test_a_json_body_nested_too_deep_is_a_400(api, url, depth):
    response = api.post(url, nested(depth), content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": TOO_DEEP}
    assert (
        not DataSubjectRequest.objects.exists()
        and not Consent.objects.filter(withdrawn_at__isnull=False).exists()
    )


@pytest.mark.parametrize("depth", [100_000, 2_000, MAX_JSON_DEPTH + 1])
def test_ingest_metadata_nested_too_deep_is_a_400_and_nothing_is_stored(api, depth):
    audio = io.BytesIO(WAV)
    audio.name = "call.wav"
    metadata = json.dumps(call_metadata(transcript={"text": "x", "language": "en", "source": "pbx"}))
    metadata = metadata.replace('"source": "pbx"', f'"source": {nested(depth)}')

    response = api.post(RECORDINGS, {"audio": audio, "metadata": metadata}, format="multipart")

    assert response.status_code == 400
    assert response.json() == {"metadata": [TOO_DEEP]}
    assert_nothing_written()


@pytest.mark.parametrize(
    ("received_at", "says"),
    [
        ("0001-01-01", "out of range"),
        ("0001-01-01T00:00:00+14:00", "out of range"),
        ("9999-12-31T23:59:59-12:00", "out of range"),
        ("1970-01-01T00:00:00Z", "before the GDPR applied"),
        ("2018-05-24T23:59:59Z", "before the GDPR applied"),
        ("9999-12-31T00:00:00Z", "cannot be received in the future"),
    ],
)
def test_a_receipt_date_out_of_range_is_a_400_naming_the_field(api, received_at, says):
    response = api.post(REQUESTS, {"request_type": "access", "received_at": received_at}, format="json")

    assert response.status_code == 400
    assert says in " ".join(response.json()["received_at"])
    assert not DataSubjectRequest.objects.exists()


def test_the_first_day_of_the_gdpr_is_a_valid_receipt_date(api):
    response = api.post(
        REQUESTS, {"request_type": "access", "received_at": "2018-05-25T00:00:00Z"}, format="json"
    )

    assert response.status_code == 201, response.json()


def test_the_admin_form_refuses_a_receipt_date_of_year_one(client, dpo):
    client.force_login(dpo)

    response = client.post(
        "/admin/dsr/datasubjectrequest/add/",
        {
            "request_type": "access",
            "channel": "letter",
            "language": "en",
            "received_at_0": "0001-01-01",
            "received_at_1": "00:00:00",
        },
    )

    assert response.status_code == 200
    assert "before the GDPR applied" in response.content.decode()
    assert not DataSubjectRequest.objects.exists()
