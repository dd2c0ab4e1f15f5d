"""The DPO's page and the erasure letter say where an erasure has reached: live data at once, and
backups by the erasure horizon (``recordings.vault.horizon``: rotation interval + backup
retention + margins)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.roles import DPO
from dsr.letters import letter_html
from dsr.models import DataSubjectRequest
from dsr.services import request_create
from dsr.workflow import request_approve, request_identity_verify, request_send_for_approval
from recordings.vault.horizon import erasure_horizon
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def second_dpo(roles):
    return UserFactory(username="second.dpo", groups=[roles[DPO]])


@pytest.fixture
def erased(dpo, second_dpo, queue_a, django_capture_on_commit_callbacks, jobs_eager, settings):
    settings.CUSTOS_MASTER_KEY_ROTATION_DAYS = 7
    settings.CUSTOS_BACKUP_RETENTION_DAYS = 35
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, queue=queue_a)

    def erase(language: str) -> DataSubjectRequest:
        dsr = request_create(
            request_type="erasure",
            channel="email",
            received_at=timezone.now(),
            subject=subject,
            language=language,
        )
        request_identity_verify(dsr=dsr, method="document", note="ID card seen.", actor=dpo)
        request_send_for_approval(dsr=dsr, actor=dpo)
        with django_capture_on_commit_callbacks(execute=True):
            request_approve(dsr=dsr, actor=second_dpo)
        dsr.refresh_from_db()
        assert dsr.status == DataSubjectRequest.Status.COMPLETED
        return dsr

    return erase


def test_the_request_page_says_when_backups_are_reached_too(client, dpo, erased):
    dsr = erased("en")
    by = timezone.localdate(erasure_horizon(dsr.executed_at))

    page = client_page(client, dpo, dsr)

    assert f"in backups by {by:%Y-%m-%d}" in page
    assert (by - timezone.localdate(dsr.executed_at)).days >= 7 + 35


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en", "Copies in our backups become unreadable by"),
        ("de", "Kopien in unseren Datensicherungen werden spätestens am"),
    ],
)
def test_the_erasure_letter_states_the_horizon(erased, dpo, language, sentence):
    dsr = erased(language)
    by = timezone.localdate(erasure_horizon(dsr.executed_at))

    html = letter_html(dsr.letters.get(), actor=dpo, purpose="view")

    assert sentence in html
    assert str(by.year) in html and str(by.day) in html


def client_page(client, user, dsr) -> str:
    client.force_login(user)
    return client.get(reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk])).content.decode()
