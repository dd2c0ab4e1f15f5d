"""Matching a request to a subject is a DPO's decision; a re-match voids what was built on the old one.

Issue 14, item 1: an analyst pointed a request assigned to them at another subject, kept the
identity verification and the grant on the old subject, and then read, exported or overwrote
the new one.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from dsr.models import DataSubjectRequest
from dsr.services import request_create
from dsr.workflow import request_assign, request_identity_verify, request_match
from recordings.selectors import subjects_visible_to
from tests.factories import DataSubjectFactory

pytestmark = pytest.mark.django_db

Status = DataSubjectRequest.Status


def step_url(dsr: DataSubjectRequest, step: str) -> str:
    return reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, step])


@pytest.fixture
def alice(db):
    return DataSubjectFactory(phone="+49 30 1111111")


@pytest.fixture
def bob(db):
    return DataSubjectFactory(phone="+49 30 2222222")


@pytest.fixture
def assigned_request(dpo, analyst, alice):
    """A request the DPO matched to Alice, verified and gave to the analyst."""
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    request_match(dsr=request, subject=alice, actor=dpo)
    request_identity_verify(dsr=request, method="document", note="ID card seen.", actor=dpo)
    return request_assign(dsr=request, assignee=analyst, actor=dpo)


def test_an_analyst_cannot_re_match_their_request_to_another_subject(client, analyst, assigned_request, bob):
    # given
    client.force_login(analyst)

    # when: the attack from the report
    response = client.post(step_url(assigned_request, "match"), {"reference": bob.reference})

    # then: refused, nothing changed, and Bob stays out of the analyst's sight
    assert response.status_code == 403
    assigned_request.refresh_from_db()
    assert assigned_request.subject_id != bob.pk
    assert assigned_request.identity_verified_at is not None
    assert not subjects_visible_to(analyst).filter(pk=bob.pk).exists()
    subject_page = client.get(reverse("admin:recordings_datasubject_change", args=[bob.pk]))
    assert subject_page.status_code in (302, 404)


def test_the_match_step_is_not_offered_to_an_analyst(client, analyst, assigned_request):
    client.force_login(analyst)

    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[assigned_request.pk]))

    assert page.status_code == 200
    assert step_url(assigned_request, "match") not in page.content.decode()


def test_the_match_service_refuses_an_analyst_whatever_calls_it(analyst, assigned_request, bob):
    with pytest.raises(ValidationError, match="Only a DPO"):
        request_match(dsr=assigned_request, subject=bob, actor=analyst)


def test_a_dpo_re_match_voids_the_verification_and_the_old_grant(
    client, dpo, analyst, assigned_request, alice, bob
):
    # given: the analyst may see Alice through the assignment
    assert subjects_visible_to(analyst).filter(pk=alice.pk).exists()
    client.force_login(dpo)

    # when: the DPO finds the requester is Bob after all
    response = client.post(step_url(assigned_request, "match"), {"reference": bob.reference})

    # then
    assert response.status_code == 302
    assigned_request.refresh_from_db()
    assert assigned_request.subject_id == bob.pk
    assert assigned_request.identity_verified_at is None
    assert assigned_request.identity_verified_by is None
    assert assigned_request.identity_method == ""
    assert assigned_request.status == Status.IDENTITY_PENDING
    visible = set(subjects_visible_to(analyst).values_list("pk", flat=True))
    assert alice.pk not in visible and bob.pk in visible
    # history keeps both subjects and who moved the request
    subjects_in_history = {row.subject_id for row in assigned_request.history.all()}
    assert {alice.pk, bob.pk} <= subjects_in_history
    assert assigned_request.history.first().history_user == dpo


def test_a_re_match_keeps_the_old_grant_while_another_request_needs_it(
    dpo, analyst, assigned_request, alice, bob
):
    # given: a second open request of the analyst's is matched to Alice too
    other = request_create(request_type="rectification", channel="email", received_at=timezone.now())
    request_match(dsr=other, subject=alice, actor=dpo)
    request_assign(dsr=other, assignee=analyst, actor=dpo)

    # when
    request_match(dsr=assigned_request, subject=bob, actor=dpo)

    # then
    assert subjects_visible_to(analyst).filter(pk=alice.pk).exists()


def test_matching_the_same_subject_again_changes_nothing(dpo, assigned_request, alice):
    versions = assigned_request.history.count()

    request_match(dsr=assigned_request, subject=alice, actor=dpo)

    assigned_request.refresh_from_db()
    assert assigned_request.identity_verified_at is not None
    assert assigned_request.history.count() == versions
