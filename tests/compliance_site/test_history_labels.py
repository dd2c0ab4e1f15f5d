"""History pages and stories read as the rest of the admin: labels, references, "—" for nothing,
local times to the minute (compliance_site.display, compliance_site.admin_history)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.display import field_value_display, local_minutes, object_display, user_display
from compliance_site.model_update import model_update
from dsr.models import DataSubjectRequest, RequestNote
from dsr.services import request_create
from dsr.workflow import request_assign
from tests.factories import ConsentFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db

# A moment whose UTC and Berlin clocks differ by an hour, with microseconds.
WINTER_UTC = datetime.datetime(2026, 1, 15, 9, 30, 12, 345678, tzinfo=datetime.UTC)


def test_local_minutes_is_berlin_time_without_seconds():
    assert local_minutes(WINTER_UTC) == "2026-01-15 10:30"
    assert local_minutes(None) == "—"


def test_a_field_value_reads_as_its_label():
    status = DataSubjectRequest._meta.get_field("status")
    assignee = DataSubjectRequest._meta.get_field("assignee")

    assert field_value_display(status, "completed") == "Completed"
    assert field_value_display(assignee, None) == "—"
    assert field_value_display(DataSubjectRequest._meta.get_field("extension_reason"), "") == "—"
    received_at = DataSubjectRequest._meta.get_field("received_at")
    assert field_value_display(received_at, WINTER_UTC) == "2026-01-15 10:30"


def test_a_user_reads_as_name_and_login():
    user = UserFactory(username="ana.analyst", first_name="Ana", last_name="Lyst")

    assert user_display(user) == "Ana Lyst (ana.analyst)"
    assert object_display(user) == "Ana Lyst (ana.analyst)"
    assert user_display(UserFactory(username="plain", first_name="", last_name="")) == "plain"


def _history_page(client, dsr) -> str:
    response = client.get(reverse("admin:dsr_datasubjectrequest_history", args=[dsr.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_auditor_reads_a_requests_history_in_labels_and_local_time(client, dpo, analyst, auditor):
    # given: a request assigned (no earlier assignee) and then completed
    dsr = request_create(request_type="access", channel="email", received_at=timezone.now())
    request_assign(dsr=dsr, assignee=analyst, actor=dpo)
    dsr.refresh_from_db()
    model_update(dsr, actor=dpo, status="completed", closed_at=timezone.now(), outcome="Sent.")
    client.force_login(auditor)

    # when
    page = _history_page(client, dsr)

    # then
    assert "pk=None" not in page and "Deleted user" not in page
    assert re.search(r"—\s*&rarr;\s*ana\.analyst", page) or re.search(r"—\s*→\s*ana\.analyst", page)
    assert re.search(r"New\s*(&rarr;|→)\s*Completed", page)
    assert "new → completed" not in page and "new &rarr; completed" not in page
    # times: local, to the minute; no UTC offset, no microseconds
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d{6}", page)
    assert "+00:00" not in page
    closed = timezone.localtime(DataSubjectRequest.objects.get(pk=dsr.pk).closed_at)
    assert f"{closed:%Y-%m-%d %H:%M}" in page
    assert "Europe/Berlin" in page


def test_the_history_links_the_author_only_for_who_may_open_users(client, dpo, auditor, settings):
    dsr = request_create(request_type="access", channel="email", received_at=timezone.now())
    model_update(dsr, actor=dpo, outcome="Looked into it.")
    user_page = reverse("admin:compliance_site_user_change", args=[dpo.pk])

    client.force_login(dpo)
    assert user_page not in _history_page(client, dsr)

    superuser = UserFactory(username="root", is_superuser=True)
    client.force_login(superuser)
    assert user_page in _history_page(client, dsr)


def test_the_consent_story_speaks_berlin_time(client, dpo, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    recording = RecordingFactory(started_at=WINTER_UTC, consented=False)
    ConsentFactory(recording=recording, subject=recording.subject, captured_at=WINTER_UTC)
    client.force_login(dpo)

    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()

    story = page[page.index("consent-story") :]
    assert "2026-01-15 10:30" in story
    assert "2026-01-15 09:30" not in story


def test_a_notes_title_is_in_local_time(dpo):
    dsr = request_create(request_type="access", channel="email", received_at=timezone.now())
    note = RequestNote.objects.create(request=dsr, author=dpo, body="Called back.")
    RequestNote.objects.filter(pk=note.pk).update(created_at=WINTER_UTC)
    note.refresh_from_db()

    assert str(note).endswith("2026-01-15 10:30")
