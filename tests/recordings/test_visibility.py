"""Who sees which recordings and subjects: roles say the kind of user, grants say which objects."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import assign_perm

from recordings.models import Recording
from recordings.selectors import recordings_visible_to, subjects_visible_to
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def recordings(queue_a, queue_b):
    return {
        "a": RecordingFactory(queue=queue_a),
        "a_restricted": RecordingFactory(queue=queue_a, status=Recording.Status.RESTRICTED),
        "b": RecordingFactory(queue=queue_b),
    }


def visible(user) -> set[int]:
    return set(recordings_visible_to(user).values_list("pk", flat=True))


def test_dpo_and_auditor_see_every_recording(dpo, auditor, recordings):
    everything = {r.pk for r in recordings.values()}
    assert visible(dpo) == everything
    assert visible(auditor) == everything


def test_qa_lead_sees_only_active_recordings_of_their_queue(qa_lead_a, qa_lead_b, recordings):
    assert visible(qa_lead_a) == {recordings["a"].pk}
    assert visible(qa_lead_b) == {recordings["b"].pk}


def test_stranger_and_analyst_see_no_recording(stranger, analyst, recordings):
    assert visible(stranger) == set()
    assert visible(analyst) == set()


def test_ad_hoc_grant_adds_one_recording(qa_lead_a, recordings):
    assign_perm("recordings.review_recording", qa_lead_a, recordings["b"])
    assert visible(qa_lead_a) == {recordings["a"].pk, recordings["b"].pk}


def test_inactive_user_sees_nothing(dpo, recordings):
    dpo.is_active = False
    dpo.save()
    assert visible(dpo) == set()


def test_analyst_sees_only_subjects_granted_to_them(analyst, dpo):
    mine, other = DataSubjectFactory(), DataSubjectFactory()
    assign_perm("recordings.view_datasubject", analyst, mine)

    assert set(subjects_visible_to(analyst)) == {mine}
    assert set(subjects_visible_to(dpo)) >= {mine, other}


def test_qa_lead_admin_list_and_change_page_follow_the_selector(client, qa_lead_a, recordings):
    # given
    client.force_login(qa_lead_a)

    # when
    listing = client.get(reverse("admin:recordings_recording_changelist"))
    own = client.get(reverse("admin:recordings_recording_change", args=[recordings["a"].pk]))
    other = client.get(reverse("admin:recordings_recording_change", args=[recordings["b"].pk]))

    # then
    assert listing.status_code == 200
    shown = {r.pk for r in listing.context["cl"].result_list}
    assert shown == {recordings["a"].pk}
    assert own.status_code == 200
    assert other.status_code == 404  # as for a recording that never existed: no content leaks
    assert recordings["b"].reference not in other.content.decode()


def test_qa_lead_cannot_open_subjects_or_requests(client, qa_lead_a):
    client.force_login(qa_lead_a)

    assert client.get(reverse("admin:recordings_datasubject_changelist")).status_code == 403
    assert client.get(reverse("admin:dsr_datasubjectrequest_changelist")).status_code == 403


def test_analyst_sees_only_requests_assigned_to_them(client, analyst, dpo):
    from dsr.services import request_create

    mine = request_create(
        request_type="access", channel="email", received_at=timezone.now(), assignee=analyst
    )
    theirs = request_create(
        request_type="erasure", channel="email", received_at=timezone.now() - datetime.timedelta(hours=1)
    )
    client.force_login(analyst)

    listing = client.get(reverse("admin:dsr_datasubjectrequest_changelist"))

    assert {r.pk for r in listing.context["cl"].result_list} == {mine.pk}
    other = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[theirs.pk]))
    assert other.status_code == 404


def test_history_of_a_recording_outside_the_grant_is_not_found(client, qa_lead_a, recordings):
    client.force_login(qa_lead_a)

    own = client.get(reverse("admin:recordings_recording_history", args=[recordings["a"].pk]))
    other = client.get(reverse("admin:recordings_recording_history", args=[recordings["b"].pk]))

    assert own.status_code == 200
    assert other.status_code == 404


def test_analyst_sees_consents_and_notes_only_of_their_own_cases(client, analyst, dpo):
    from dsr.models import RequestNote
    from dsr.services import request_create
    from tests.factories import ConsentFactory

    mine, other = ConsentFactory(), ConsentFactory()
    assign_perm("recordings.view_datasubject", analyst, mine.subject)
    own_request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), assignee=analyst
    )
    other_request = request_create(request_type="access", channel="email", received_at=timezone.now())
    RequestNote.objects.create(request=own_request, author=dpo, body="Called back.")
    RequestNote.objects.create(request=other_request, author=dpo, body="Someone else's case.")
    client.force_login(analyst)

    consents = client.get(reverse("admin:recordings_consent_changelist")).context["cl"].result_list
    notes = client.get(reverse("admin:dsr_requestnote_changelist")).context["cl"].result_list

    assert [c.pk for c in consents] == [mine.pk]
    assert [n.request_id for n in notes] == [own_request.pk]
    assert other.pk not in [c.pk for c in consents]


def test_queue_filter_offers_only_the_granted_queues(client, qa_lead_a, queue_b, recordings):
    client.force_login(qa_lead_a)

    page = client.get(reverse("admin:recordings_recording_changelist")).content.decode()

    assert "Queue A" in page
    assert "Queue B" not in page
