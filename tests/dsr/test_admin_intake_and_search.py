"""The intake form keeps the subject's language, and the requests list finds a request by its
reference however it is typed."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from dsr.models import DataSubjectRequest
from dsr.services import request_create
from recordings.services import subject_create
from recordings.vault.keys import PersonalData
from tests.factories import RecordingFactory

pytestmark = pytest.mark.django_db


def _intake(client, language: str):
    received = timezone.localtime() - datetime.timedelta(days=1)
    return client.post(
        reverse("admin:dsr_datasubjectrequest_add"),
        {
            "request_type": "access",
            "channel": "letter",
            "language": language,
            "received_at_0": received.strftime("%Y-%m-%d"),
            "received_at_1": received.strftime("%H:%M:%S"),
        },
    )


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_language_chosen_at_intake_is_the_requests_language(client, dpo, language):
    client.force_login(dpo)

    response = _intake(client, language)

    assert response.status_code == 302
    assert DataSubjectRequest.objects.get().language == language


def test_the_api_intake_keeps_its_language_through_the_service():
    dsr = request_create(request_type="access", channel="api", received_at=timezone.now(), language="de")

    assert DataSubjectRequest.objects.get(pk=dsr.pk).language == "de"


def _search(client, term: str) -> list[str]:
    response = client.get(reverse("admin:dsr_datasubjectrequest_changelist"), {"q": term})
    assert response.status_code == 200
    return [row.reference for row in response.context["cl"].result_list]


@pytest.mark.parametrize(
    "typed",
    ["{ref}", "{lower}", "  {ref}  ", "\t{lower}\n", "{ref_mixed}"],
)
def test_the_requests_list_finds_a_request_by_its_own_reference(client, dpo, typed):
    # given two requests
    wanted = request_create(request_type="access", channel="email", received_at=timezone.now())
    request_create(request_type="erasure", channel="email", received_at=timezone.now())
    client.force_login(dpo)
    ref = wanted.reference
    term = typed.format(ref=ref, lower=ref.lower(), ref_mixed=ref[:1] + ref[1:].lower())

    # when / then: only that request
    assert _search(client, term) == [ref]


def test_the_requests_list_finds_requests_by_the_subjects_reference(client, dpo):
    subject, _ = subject_create(personal=PersonalData(full_name="Eva Example"), reference="DS-AB12CD34EF")
    dsr = request_create(request_type="access", channel="email", received_at=timezone.now(), subject=subject)
    client.force_login(dpo)

    assert _search(client, "ds-ab12cd34ef") == [dsr.reference]


def test_a_phone_number_still_searches_through_the_blind_index(client, dpo):
    subject, _ = subject_create(personal=PersonalData(phone="+49 30 1234567"), reference="DS-PHONE")
    dsr = request_create(request_type="access", channel="email", received_at=timezone.now(), subject=subject)
    request_create(request_type="access", channel="email", received_at=timezone.now())
    client.force_login(dpo)

    assert _search(client, "030 1234567") == [dsr.reference]


def test_the_recordings_list_finds_a_recording_by_a_lower_case_reference(client, dpo):
    recording = RecordingFactory(reference="REC-20260101-AB12CD34")
    RecordingFactory()
    client.force_login(dpo)

    response = client.get(reverse("admin:recordings_recording_changelist"), {"q": "rec-20260101-ab12cd34"})

    assert [row.pk for row in response.context["cl"].result_list] == [recording.pk]
