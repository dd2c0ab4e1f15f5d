"""The list "Erasures deferred by a legal hold" and its confirm / approve actions, tried by every
role: the DPO acts (two of them), the auditor reads, nobody else sees a row."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.roles import DPO
from dsr.models import DataSubjectRequest
from dsr.services import request_create
from dsr.workflow import request_approve, request_identity_verify, request_transition
from recordings.models import Recording
from retention.models import HeldErasure, LegalHold
from retention.services import hold_place, hold_release
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "admin:retention_helderasure_changelist"


@pytest.fixture
def second_dpo(roles):
    return UserFactory(username="second.dpo", groups=[roles[DPO]])


@pytest.fixture
def resumed(dpo, second_dpo, queue_a, django_capture_on_commit_callbacks, jobs_eager):
    """A caller's erasure deferred by hold CASE-9, whose release made it due."""
    subject = DataSubjectFactory()
    recording = RecordingFactory(subject=subject, queue=queue_a)
    hold = hold_place(
        hold=LegalHold(scope="recording", recording=recording, case_reference="CASE-9", reason="Claim."),
        placed_by=dpo,
    )
    request = request_create(
        request_type="erasure",
        channel="email",
        received_at=timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )
    request = request_identity_verify(dsr=request, method="document", note="Seen.", actor=dpo)
    request = request_transition(dsr=request, to=DataSubjectRequest.Status.AWAITING_APPROVAL, actor=dpo)
    with django_capture_on_commit_callbacks(execute=True):
        request_approve(dsr=request, actor=second_dpo)
    hold_release(hold=hold, released_by=dpo, reason="Settled.")
    return request, recording, HeldErasure.objects.get()


def act(client, action: str, erasure: HeldErasure):
    return client.post(reverse(LIST), {"action": action, "_selected_action": [erasure.pk]})


@pytest.mark.parametrize("persona", ["anonymous", "staff", "analyst", "qa_lead_a"])
def test_nobody_but_the_dpo_and_the_auditor_sees_the_list_or_acts(client, request, persona, resumed):
    """Given a due deferred erasure, when anyone but a DPO or an auditor opens the list or posts
    the confirm action, then they see no row (403 or the login page) and the erasure is unchanged."""
    _, recording, erasure = resumed
    if persona == "staff":
        client.force_login(UserFactory(username="staff.nobody", is_staff=True))
    elif persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))

    page = client.get(reverse(LIST))
    posted = act(client, "confirm", erasure)

    assert page.status_code in (302, 403) and posted.status_code in (302, 403)
    if page.status_code == 302:
        assert "/login/" in page["Location"]
    assert recording.reference.encode() not in page.content
    erasure.refresh_from_db()
    assert erasure.state == HeldErasure.State.DUE


def test_the_auditor_reads_the_list_and_the_request_story_but_cannot_act(client, auditor, resumed):
    request, recording, erasure = resumed
    client.force_login(auditor)

    page = client.get(reverse(LIST))
    assert page.status_code == 200
    assert recording.reference.encode() in page.content and b"CASE-9" in page.content
    assert b'value="confirm"' not in page.content
    act(client, "confirm", erasure)
    erasure.refresh_from_db()
    assert erasure.state == HeldErasure.State.DUE
    assert client.get(reverse("admin:retention_helderasure_history", args=[erasure.pk])).status_code == 200
    assert client.get(reverse("admin:retention_helderasure_change", args=[erasure.pk])).status_code == 200
    story = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk]))
    assert b"deferred by legal hold CASE-9" in story.content


def test_two_dpos_confirm_and_approve_in_the_list_and_the_request_page_says_so(
    client, dpo, second_dpo, resumed, django_capture_on_commit_callbacks
):
    """Given a due deferred erasure, when one DPO confirms it in the list, the same DPO's approval
    is refused, and a second DPO approves, then the recording is erased and the request's page
    says it was deferred by CASE-9 and erased after its release."""
    request, recording, erasure = resumed
    client.force_login(dpo)
    assert b"CASE-9" in client.get(reverse(LIST)).content
    act(client, "confirm", erasure)
    act(client, "approve", erasure)  # the same DPO: refused
    erasure.refresh_from_db()
    assert (erasure.state, erasure.confirmed_by) == (HeldErasure.State.CONFIRMED, dpo)

    client.force_login(second_dpo)
    with django_capture_on_commit_callbacks(execute=True):
        act(client, "approve", erasure)

    recording.refresh_from_db()
    assert recording.status == Recording.Status.ERASED
    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk]))
    assert page.status_code == 200
    assert b"deferred by legal hold CASE-9" in page.content and b"after the release of CASE-9" in page.content
