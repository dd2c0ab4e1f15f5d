"""A DPO removes a sensitive segment marked wrongly, with a reason: history, an access event with
the reason, the rendition told; nobody else, never another recording's segment, POST only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from compliance_site.audit.models import AccessEvent
from recordings.models import SensitiveSegment, Transcript
from recordings.redaction.segments import (
    sensitive_segment_mark,
    sensitive_segment_remove,
    sensitive_segments_changed,
)
from recordings.redaction.transcripts import transcript_store
from tests.factories import RecordingFactory

pytestmark = pytest.mark.django_db

REASON = "An order number passing Luhn, ticket 2026-311."
VTT = """WEBVTT

00:00:10.000 --> 00:00:17.000
Order <00:00:12.000>4111 <00:00:12.600>1111 <00:00:13.200>1111 <00:00:13.800>1111 <00:00:14.400>shipped.
"""


@pytest.fixture
def recording(queue_a):
    return RecordingFactory(queue=queue_a)


@pytest.fixture
def found(recording):
    """A segment the transcript's detector found."""
    transcript_store(recording, VTT)
    return recording.sensitive_segments.get()


@pytest.fixture
def signals():
    sent: list[int] = []

    def receiver(sender, *, recording, **kwargs):
        sent.append(recording.pk)

    sensitive_segments_changed.connect(receiver, dispatch_uid="test-removal")
    yield sent
    sensitive_segments_changed.disconnect(dispatch_uid="test-removal")


def remove_url(segment: SensitiveSegment, recording=None) -> str:
    recording_id = recording.pk if recording is not None else segment.recording_id
    return reverse("admin:recordings_recording_sensitive_segment_remove", args=[recording_id, segment.pk])


def segments_page(recording) -> str:
    return reverse("admin:recordings_recording_sensitive_segments", args=[recording.pk])


# --- The service -----------------------------------------------------------------------------


def test_the_dpo_removes_a_found_segment_with_history_an_event_and_the_rendition_told(dpo, found, signals):
    recording = found.recording

    sensitive_segment_remove(segment=found, actor=dpo, reason=f"  {REASON}  ", client_ip="192.0.2.7")

    assert not SensitiveSegment.objects.exists()
    deleted = SensitiveSegment.history.filter(id=found.pk, history_type="-").get()
    assert deleted.history_user == dpo
    assert deleted.history_change_reason
    event = AccessEvent.objects.get(action="segment_removed")
    assert (event.object_type, event.object_id, event.object_reference, event.actor) == (
        "recording",
        recording.pk,
        recording.reference,
        dpo,
    )
    assert event.detail == {
        "segment": found.pk,
        "kind": "payment_card",
        "source": "transcript",
        "detector_version": found.detector_version,
        "start_seconds": str(found.start_seconds),
        "end_seconds": str(found.end_seconds),
        "silenced_at_rest": False,
        "reason": REASON,
    }
    assert event.client_ip == "192.0.2.7"
    assert signals == [recording.pk]


def test_removing_the_last_payment_segment_flags_the_card_number_again(dpo, found):
    # The number is in the transcript (replaced at rest): without a segment it may be heard.
    assert Transcript.objects.get().payment_data_flagged_at is None

    sensitive_segment_remove(segment=found, actor=dpo, reason=REASON)

    assert Transcript.objects.get().payment_data_flagged_at is not None


@pytest.mark.parametrize("reason", ["", "too short", "x" * 501, "ten chars\x00 and a NUL", "          x"])
def test_a_reason_outside_10_to_500_characters_is_refused(dpo, found, reason):
    with pytest.raises(ValidationError) as refused:
        sensitive_segment_remove(segment=found, actor=dpo, reason=reason)

    assert "reason" in refused.value.message_dict
    assert SensitiveSegment.objects.filter(pk=found.pk).exists()
    assert not AccessEvent.objects.filter(action="segment_removed").exists()


@pytest.mark.parametrize("persona", ["qa_lead_a", "qa_lead_b", "auditor", "analyst", "stranger"])
def test_nobody_but_the_dpo_may_remove(request, found, persona):
    with pytest.raises(PermissionDenied):
        sensitive_segment_remove(segment=found, actor=request.getfixturevalue(persona), reason=REASON)

    assert SensitiveSegment.objects.filter(pk=found.pk).exists()


def test_the_permission_without_the_recording_in_reach_is_refused(found, qa_lead_b):
    permission = Permission.objects.get(codename="remove_sensitive_segment")
    qa_lead_b.user_permissions.add(permission)
    qa_lead_b = type(qa_lead_b).objects.get(pk=qa_lead_b.pk)  # a fresh permission cache

    with pytest.raises(PermissionDenied):
        sensitive_segment_remove(segment=found, actor=qa_lead_b, reason=REASON)

    assert SensitiveSegment.objects.filter(pk=found.pk).exists()


def test_an_inactive_dpo_may_not_remove(dpo, found):
    dpo.is_active = False
    dpo.save()

    with pytest.raises(PermissionDenied):
        sensitive_segment_remove(segment=found, actor=dpo, reason=REASON)


def test_a_segment_removed_meanwhile_is_no_second_removal(dpo, found):
    sensitive_segment_remove(segment=found, actor=dpo, reason=REASON)

    with pytest.raises(ValidationError):
        sensitive_segment_remove(segment=found, actor=dpo, reason=REASON)

    assert AccessEvent.objects.filter(action="segment_removed").count() == 1


def test_roles_only_the_dpo_holds_the_removal_permission(dpo, qa_lead_a, auditor, analyst, stranger):
    assert dpo.has_perm("recordings.remove_sensitive_segment")
    for other in (qa_lead_a, auditor, analyst, stranger):
        assert not other.has_perm("recordings.remove_sensitive_segment")


# --- The page --------------------------------------------------------------------------------


def test_the_dpo_sees_source_version_and_a_removal_form_then_removes(client, dpo, found):
    client.force_login(dpo)
    page = client.get(segments_page(found.recording)).content.decode()
    assert f"Found in the transcript ({found.detector_version})" in page
    assert remove_url(found) in page and "csrfmiddlewaretoken" in page

    response = client.post(remove_url(found), {"reason": REASON})

    assert response.status_code == 302 and response["Location"] == segments_page(found.recording)
    assert not SensitiveSegment.objects.exists()
    assert AccessEvent.objects.get(action="segment_removed").detail["reason"] == REASON
    history = client.get(segments_page(found.recording)).content.decode()
    assert "Deleted" in history


def test_a_staff_marked_segment_can_be_removed_too(client, dpo, recording):
    segment = sensitive_segment_mark(
        recording=recording, start_seconds=1, end_seconds=2, kind="address", actor=dpo
    )
    client.force_login(dpo)

    assert client.post(remove_url(segment), {"reason": REASON}).status_code == 302

    assert not SensitiveSegment.objects.exists()


def test_a_short_reason_removes_nothing_and_says_why(client, dpo, found):
    client.force_login(dpo)

    response = client.post(remove_url(found), {"reason": "wrong"}, follow=True)

    assert "Not removed" in response.content.decode()
    assert SensitiveSegment.objects.filter(pk=found.pk).exists()
    assert not AccessEvent.objects.filter(action="segment_removed").exists()


def test_get_is_not_allowed(client, dpo, found):
    client.force_login(dpo)

    assert client.get(remove_url(found)).status_code == 405
    assert SensitiveSegment.objects.filter(pk=found.pk).exists()


def test_without_the_csrf_token_nothing_is_removed(dpo, found):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(dpo)

    assert client.post(remove_url(found), {"reason": REASON}).status_code == 403
    assert SensitiveSegment.objects.filter(pk=found.pk).exists()


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("qa_lead_a", 403),  # sees the recording, may mark, may not remove
        ("auditor", 403),  # sees every recording, changes nothing
        ("qa_lead_b", 404),  # another queue: the recording is not found for them
        ("analyst", 404),
        ("stranger", 404),  # staff without a group
    ],
)
def test_every_other_persona_is_refused_and_shown_no_form(client, request, found, persona, status):
    client.force_login(request.getfixturevalue(persona))

    assert client.post(remove_url(found), {"reason": REASON}).status_code == status

    assert SensitiveSegment.objects.filter(pk=found.pk).exists()
    assert not AccessEvent.objects.filter(action="segment_removed").exists()
    page = client.get(segments_page(found.recording))
    assert remove_url(found) not in page.content.decode()


def test_anonymous_is_sent_to_the_login(client, found):
    response = client.post(remove_url(found), {"reason": REASON})

    assert response.status_code == 302 and "/login/" in response["Location"]
    assert SensitiveSegment.objects.filter(pk=found.pk).exists()


def test_another_recordings_segment_id_is_not_found(client, dpo, found):
    other = RecordingFactory()
    client.force_login(dpo)

    assert client.post(remove_url(found, recording=other), {"reason": REASON}).status_code == 404
    assert (
        client.post(
            reverse(
                "admin:recordings_recording_sensitive_segment_remove", args=[found.recording_id, 999_999]
            ),
            {"reason": REASON},
        ).status_code
        == 404
    )

    assert SensitiveSegment.objects.filter(pk=found.pk).exists()
    assert not AccessEvent.objects.filter(action="segment_removed").exists()


def test_a_recording_that_does_not_exist_is_not_found(client, dpo, found):
    client.force_login(dpo)
    url = reverse("admin:recordings_recording_sensitive_segment_remove", args=[999_999, found.pk])

    assert client.post(url, {"reason": REASON}).status_code == 404


def test_a_qa_lead_given_the_permission_still_cannot_reach_another_queue(client, qa_lead_b, found):
    qa_lead_b.user_permissions.add(Permission.objects.get(codename="remove_sensitive_segment"))
    client.force_login(qa_lead_b)

    assert client.post(remove_url(found), {"reason": REASON}).status_code == 404
    assert SensitiveSegment.objects.filter(pk=found.pk).exists()


def test_the_change_page_table_has_no_removal_column(client, dpo, found):
    client.force_login(dpo)

    page = client.get(
        reverse("admin:recordings_recording_change", args=[found.recording_id])
    ).content.decode()

    assert remove_url(found) not in page  # removed on the segments page, with its history
