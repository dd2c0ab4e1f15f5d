"""A recording's admin page tells its consent story in order, and what the call may serve now."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse

from recordings.services import consent_withdraw
from tests.factories import ConsentFactory, RecordingFactory

pytestmark = pytest.mark.django_db


def test_the_dpo_reads_the_consent_story_oldest_first(client, dpo, queue_a):
    # given: a call with its consent, and a later subject-wide consent withdrawn by email
    recording = RecordingFactory(queue=queue_a)
    later = ConsentFactory(
        recording=None,
        subject=recording.subject,
        captured_at=recording.started_at + datetime.timedelta(days=1),
        method="web_form",
    )
    consent_withdraw(
        consent=recording.consents.get(),
        via="email",
        actor=dpo,
        at=later.captured_at + datetime.timedelta(hours=1),
    )
    client.force_login(dpo)

    # when
    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()

    # then
    story = page[page.index("consent-story") :]
    given, web, withdrawn = (story.index(s) for s in ("IVR key press", "Web form", "Withdrawn for"))
    assert given < web < withdrawn
    assert "recorded by dana.dpo" in story
    assert "May serve now: Quality assurance" in story  # the subject-wide consent still stands


def test_a_qa_lead_does_not_see_the_consent_evidence(client, qa_lead_a, queue_a):
    recording = RecordingFactory(queue=queue_a)
    client.force_login(qa_lead_a)

    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk]))

    assert page.status_code == 200
    assert b"consent-story" not in page.content
