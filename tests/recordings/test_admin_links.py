"""No admin page shows a link its viewer cannot follow (a bare 403 or 404); the subject's page
links to the subject's lists; the auditor is told why there is no player; the access log shows
references and names (compliance_site.admin_links, compliance_site.audit.admin)."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from compliance_site.audit.services import access_event_record
from dsr.services import request_create
from tests.factories import RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db

LINK = re.compile(r'href="(/admin/[^"#]*)"')
# The page's chrome, the same on every page: not what this is about.
CHROME = ("/admin/logout/", "/admin/password_change/", "/admin/jsi18n/")


def content_links(page: str) -> list[str]:
    content = page[page.index('id="content"') :]
    return sorted(
        {link.replace("&amp;", "&") for link in LINK.findall(content) if not link.startswith(CHROME)}
    )


def assert_every_link_opens(client, page: str) -> list[str]:
    links = content_links(page)
    broken = {link: client.get(link).status_code for link in links}
    assert {link: code for link, code in broken.items() if code != 200} == {}
    return links


@pytest.fixture
def desk(dpo, analyst, queue_a):
    """A subject with two calls in queue A and a request assigned to the analyst."""
    recording = RecordingFactory(queue=queue_a, agent=dpo)
    RecordingFactory(queue=queue_a, subject=recording.subject)
    earlier = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=recording.subject
    )
    dsr = request_create(
        request_type="erasure",
        channel="email",
        received_at=timezone.now(),
        subject=recording.subject,
        assignee=analyst,
    )
    return {"recording": recording, "subject": recording.subject, "dsr": dsr, "earlier": earlier}


def request_page(client, user, dsr) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_analyst_sees_recordings_named_not_linked_on_the_request_page(client, analyst, desk):
    page = request_page(client, analyst, desk["dsr"])

    assert desk["recording"].reference in page
    assert reverse("admin:recordings_recording_change", args=[desk["recording"].pk]) not in page
    # the earlier request is not the analyst's: named, not linked
    assert desk["earlier"].reference in page
    assert reverse("admin:dsr_datasubjectrequest_change", args=[desk["earlier"].pk]) not in page
    # the subject is theirs with the request: linked
    assert reverse("admin:recordings_datasubject_change", args=[desk["subject"].pk]) in page
    assert_every_link_opens(client, page)


def test_the_dpo_sees_the_assignee_named_not_linked_to_a_user_page_they_cannot_open(
    client, dpo, analyst, desk
):
    page = request_page(client, dpo, desk["dsr"])

    assert reverse("admin:compliance_site_user_change", args=[analyst.pk]) not in page
    assert "ana.analyst" in page
    # what the DPO may open is linked
    assert reverse("admin:recordings_recording_change", args=[desk["recording"].pk]) in page
    assert reverse("admin:recordings_datasubject_change", args=[desk["subject"].pk]) in page
    assert_every_link_opens(client, page)


def test_a_superuser_gets_the_assignee_linked(client, analyst, desk):
    root = UserFactory(username="root", is_superuser=True)

    page = request_page(client, root, desk["dsr"])

    assert reverse("admin:compliance_site_user_change", args=[analyst.pk]) in page


def recording_page(client, user, recording) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:recordings_recording_change", args=[recording.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_qa_lead_sees_the_subject_named_not_linked_on_the_recording_page(client, qa_lead_a, desk):
    page = recording_page(client, qa_lead_a, desk["recording"])

    assert reverse("admin:recordings_datasubject_change", args=[desk["subject"].pk]) not in page
    assert desk["subject"].reference in page
    assert_every_link_opens(client, page)


def test_the_auditor_is_told_why_there_is_no_player(client, auditor, desk):
    page = recording_page(client, auditor, desk["recording"])

    assert 'id="recording-player"' not in page
    assert "your role reads recordings" in page
    assert "restricted or erased, or outside your grant" not in page
    assert_every_link_opens(client, page)


def test_the_player_says_a_restricted_recording_is_restricted(client, dpo, desk):
    recording = desk["recording"]
    recording.status = "restricted"
    recording.save(update_fields=["status"])

    page = recording_page(client, dpo, recording)

    assert "the recording is restricted (Art. 18)" in page


def subject_page(client, user, subject) -> str:
    client.force_login(user)
    response = client.get(reverse("admin:recordings_datasubject_change", args=[subject.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_subject_page_links_to_the_subjects_lists(client, dpo, desk):
    other = RecordingFactory()  # another subject's call: not in the lists
    page = subject_page(client, dpo, desk["subject"])

    related = re.findall(r'<a class="subject-related" href="([^"]+)">([^<]+)</a>', page)
    assert [label for _url, label in related] == ["Recordings", "Consents", "Shares", "Requests"]
    links = assert_every_link_opens(client, page)
    recordings_list = next(url for url, label in related if label == "Recordings").replace("&amp;", "&")
    assert recordings_list in links
    listed = client.get(recordings_list).context["cl"].result_list
    assert sorted(r.pk for r in listed) == sorted(r.pk for r in desk["subject"].recordings.all())
    assert other.pk not in {r.pk for r in listed}
    requests_list = next(url for url, label in related if label == "Requests").replace("&amp;", "&")
    listed = client.get(requests_list).context["cl"].result_list
    assert sorted(r.reference for r in listed) == sorted([desk["dsr"].reference, desk["earlier"].reference])


def test_the_analyst_gets_only_the_subject_lists_they_may_open(client, analyst, desk):
    page = subject_page(client, analyst, desk["subject"])

    labels = re.findall(r'<a class="subject-related" href="[^"]+">([^<]+)</a>', page)
    assert "Recordings" not in labels and "Shares" not in labels
    assert "Requests" in labels
    assert_every_link_opens(client, page)


def test_the_access_log_shows_references_and_names_without_a_query_per_row(client, auditor, dpo, desk):
    dpo.first_name, dpo.last_name = "Dana", "Example"
    dpo.save()
    # an event written without its reference: the list looks it up
    for _ in range(3):
        access_event_record(
            action="view", object_type="recording", object_id=desk["recording"].pk, actor=dpo, detail={}
        )
    client.force_login(auditor)
    url = reverse("admin:audit_accessevent_changelist")

    client.get(url)
    with CaptureQueriesContext(connection) as few:
        page = client.get(url).content.decode()
    for _ in range(10):
        access_event_record(
            action="view", object_type="request", object_id=desk["dsr"].pk, actor=dpo, detail={}
        )
    with CaptureQueriesContext(connection) as many:
        more = client.get(url).content.decode()

    assert f"recording {desk['recording'].reference}" in page
    assert f"request {desk['dsr'].reference}" in more
    assert "Dana Example (dana.dpo)" in page
    assert len(many) == len(few)
    assert AccessEvent.objects.count() > 10
