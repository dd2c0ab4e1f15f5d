"""Every admin page that shows a data subject's or a recording's data writes exactly one access
event: who, which page, which object (or, for a list, which ids), never a personal value; and the
chain still verifies afterwards.

Pages: the subject's and the recording's change page, their history and each history version
(a subject's versions hold its sealed fields, shown decrypted), their changelists (one ``list``
event per page, naming the ids shown), and the request page's "What we hold".
"""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from dsr.services import request_create
from recordings.models import DataSubject, Recording
from recordings.services import subject_personal_data_rectify
from recordings.vault.keys import PersonalData
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db

NAME, PHONE, EMAIL = "Erika Mustermann", "+49 30 1234567", "erika.mustermann@example.org"


@pytest.fixture
def subject():
    return DataSubjectFactory(full_name=NAME, phone=PHONE, email=EMAIL)


@pytest.fixture
def recording(subject, queue_a):
    return RecordingFactory(subject=subject, queue=queue_a)


def _events_after(sequence: int) -> list[AccessEvent]:
    return list(AccessEvent.objects.filter(sequence__gt=sequence).order_by("sequence"))


def _last_sequence() -> int:
    last = AccessEvent.objects.order_by("-sequence").first()
    return last.sequence if last else 0


def _open(client, url: str, **params) -> tuple[str, list[AccessEvent]]:
    before = _last_sequence()
    response = client.get(url, params)
    assert response.status_code == 200, url
    return response.content.decode(), _events_after(before)


def _assert_chain_whole_and_clean(events: list[AccessEvent]) -> None:
    out = io.StringIO()
    call_command("verify_audit_log", stdout=out)
    assert "intact" in out.getvalue()
    logged = json.dumps([[e.actor_label, e.object_reference, e.purpose, e.detail] for e in events])
    for value in (NAME, "Mustermann", PHONE, "1234567", EMAIL, "erika."):
        assert value not in logged


def _history_id(model, pk: int, *, oldest: bool = False) -> int:
    rows = model.history.filter(id=pk).order_by("history_id" if oldest else "-history_id")
    return rows.values_list("history_id", flat=True).first()


def test_subject_pages_each_write_one_event(client, dpo, subject):
    # given: a rectification, so the history has an older version with the old name
    subject_personal_data_rectify(subject=subject, personal=PersonalData(full_name="Erika Muster"), actor=dpo)
    client.force_login(dpo)
    old_version = _history_id(DataSubject, subject.pk, oldest=True)
    pages = [
        ("change", reverse("admin:recordings_datasubject_change", args=[subject.pk]), "decrypt"),
        ("history", reverse("admin:recordings_datasubject_history", args=[subject.pk]), "view"),
        (
            "history_version",
            reverse("admin:recordings_datasubject_simple_history", args=[subject.pk, old_version]),
            "decrypt",
        ),
    ]
    every_event = []
    for page_name, url, action in pages:
        # when
        page, events = _open(client, url)

        # then: exactly one event, naming the page, the subject and the DPO
        assert len(events) == 1, page_name
        event = events[0]
        assert (event.action, event.object_type, event.object_id, event.object_reference) == (
            action,
            "subject",
            subject.pk,
            subject.reference,
        )
        assert (event.actor, event.detail["page"]) == (dpo, page_name)
        every_event += events
    # the version page showed the old name, decrypted from the history row
    assert "Erika Mustermann" in page
    assert every_event[-1].detail["history_id"] == old_version
    _assert_chain_whole_and_clean(every_event)


def test_recording_pages_each_write_one_event(client, dpo, recording):
    client.force_login(dpo)
    version = _history_id(Recording, recording.pk)
    pages = [
        ("change", reverse("admin:recordings_recording_change", args=[recording.pk])),
        ("history", reverse("admin:recordings_recording_history", args=[recording.pk])),
        (
            "history_version",
            reverse("admin:recordings_recording_simple_history", args=[recording.pk, version]),
        ),
    ]
    every_event = []
    for page_name, url in pages:
        _, events = _open(client, url)

        assert len(events) == 1, page_name
        event = events[0]
        assert (event.action, event.object_type, event.object_id, event.object_reference) == (
            "view",
            "recording",
            recording.pk,
            recording.reference,
        )
        assert (event.actor, event.detail["page"]) == (dpo, page_name)
        every_event += events
    _assert_chain_whole_and_clean(every_event)


def test_a_changelist_page_is_one_list_event_naming_the_ids_shown(client, dpo, queue_a):
    recordings = [RecordingFactory(queue=queue_a) for _ in range(3)]
    client.force_login(dpo)

    _, recording_events = _open(client, reverse("admin:recordings_recording_changelist"))
    _, subject_events = _open(client, reverse("admin:recordings_datasubject_changelist"))

    assert [(e.action, e.object_type, e.object_id) for e in recording_events] == [("list", "recording", None)]
    assert sorted(recording_events[0].detail["ids"]) == sorted(r.pk for r in recordings)
    assert [(e.action, e.object_type) for e in subject_events] == [("list", "subject")]
    assert sorted(subject_events[0].detail["ids"]) == sorted(r.subject_id for r in recordings)
    _assert_chain_whole_and_clean(recording_events + subject_events)


def test_a_search_by_phone_is_logged_with_the_ids_found_never_the_number(client, dpo, recording):
    RecordingFactory(queue=recording.queue)  # another caller's call, not found
    client.force_login(dpo)

    _, events = _open(client, reverse("admin:recordings_recording_changelist"), q=PHONE)

    assert len(events) == 1 and events[0].detail["ids"] == [recording.pk]
    _assert_chain_whole_and_clean(events)


def test_an_empty_list_logs_nothing(client, dpo):
    client.force_login(dpo)

    _, events = _open(client, reverse("admin:recordings_recording_changelist"))

    assert events == []


def test_the_request_page_showing_what_we_hold_is_one_event_on_the_subject(client, dpo, recording):
    matched = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=recording.subject
    )
    unmatched = request_create(request_type="access", channel="email", received_at=timezone.now())
    client.force_login(dpo)

    page, events = _open(client, reverse("admin:dsr_datasubjectrequest_change", args=[matched.pk]))
    _, none = _open(client, reverse("admin:dsr_datasubjectrequest_change", args=[unmatched.pk]))

    assert recording.reference in page  # "What we hold" lists the subject's calls
    assert len(events) == 1
    event = events[0]
    assert (event.action, event.object_type, event.object_id, event.object_reference) == (
        "view",
        "subject",
        recording.subject_id,
        recording.subject.reference,
    )
    assert event.detail == {"page": "dsr_request", "request": matched.reference}
    assert none == []  # nobody's data on the page of a request not matched yet
    _assert_chain_whole_and_clean(events)


def test_a_page_refused_or_not_found_logs_nothing(client, qa_lead_b, recording, subject):
    # qa_lead_b reviews queue B only; the recording is in queue A, and QA leads see no subjects
    client.force_login(qa_lead_b)
    before = _last_sequence()

    answers = [
        client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).status_code,
        client.get(reverse("admin:recordings_recording_history", args=[recording.pk])).status_code,
        client.get(reverse("admin:recordings_datasubject_change", args=[subject.pk])).status_code,
    ]

    assert answers == [404, 404, 403]
    assert _events_after(before) == []


def test_the_auditor_reading_a_subject_is_logged_like_anyone(client, auditor, subject):
    client.force_login(auditor)

    page, events = _open(client, reverse("admin:recordings_datasubject_change", args=[subject.pk]))

    assert NAME in page
    assert [(e.action, e.actor, e.object_id) for e in events] == [("decrypt", auditor, subject.pk)]


def test_the_sensitive_segments_and_unredacted_player_pages_each_write_one_event(client, dpo, recording):
    client.force_login(dpo)
    every_event = []

    for page_name, url in (
        ("sensitive_segments", reverse("admin:recordings_recording_sensitive_segments", args=[recording.pk])),
        ("unredacted_player", reverse("admin:recordings_recording_unredacted", args=[recording.pk])),
    ):
        _, events = _open(client, url)

        assert [(e.action, e.object_type, e.object_id, e.detail["page"]) for e in events] == [
            ("view", "recording", recording.pk, page_name)
        ]
        every_event += events
    _assert_chain_whole_and_clean(every_event)


def test_the_user_list_and_each_users_pages_are_access_logged(client, auditor, dpo, analyst):
    # given: the auditor, who reads staff accounts (issue 14: the user list was their oracle)
    client.force_login(auditor)
    version = _history_id(type(dpo), dpo.pk)

    # when: the list (filtered, as the attack was), a user's page, its history and a version
    _, listed = _open(client, reverse("admin:compliance_site_user_changelist"), is_staff__exact="1")
    _, changed = _open(client, reverse("admin:compliance_site_user_change", args=[dpo.pk]))
    _, history = _open(client, reverse("admin:compliance_site_user_history", args=[dpo.pk]))
    _, versioned = _open(client, reverse("admin:compliance_site_user_simple_history", args=[dpo.pk, version]))

    # then: one event per page, naming the auditor and the users shown
    assert [(e.action, e.object_type, e.actor) for e in listed] == [("list", "user", auditor)]
    assert sorted(listed[0].detail["ids"]) == sorted([auditor.pk, dpo.pk, analyst.pk])
    assert [
        (e.action, e.object_type, e.object_id, e.detail["page"]) for e in changed + history + versioned
    ] == [
        ("view", "user", dpo.pk, "change"),
        ("view", "user", dpo.pk, "history"),
        ("view", "user", dpo.pk, "history_version"),
    ]
    _assert_chain_whole_and_clean(listed + changed + history + versioned)
