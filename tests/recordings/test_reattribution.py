"""Re-attributing a call to another subject: the DPO's service and page (issue 17, point 1).

The recording key is wrapped under the subject's key, so the subject is never a plain form field:
``recording_reattribute`` re-wraps the key, moves the consents given in the call, writes history
and an access event, all or nothing; the page chooses the subject by reference, with a preview.
"""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from recordings.models import Consent, Purpose, Recipient, Recording, RecordingKey, SubjectRestriction
from recordings.reattribution import recording_reattribute
from recordings.redaction.transcripts import transcript_read, transcript_store
from recordings.sharing.services import share_create, share_for_token
from recordings.vault.keys import CiphertextError, _aad, open_sealed, recording_key, subject_key
from recordings.vault.services import subject_key_destroy
from retention.keep_until import keep_until_recompute
from retention.models import LegalHold
from tests.factories import (
    ConsentFactory,
    DataSubjectFactory,
    LegalHoldFactory,
    PurposeFactory,
    RecordingFactory,
    RecordingNoticeFactory,
    _wav,
)

pytestmark = pytest.mark.django_db

AUDIO = _wav(seconds=2)
REASON = "Ticket OPS-4711: the agent picked the wrong caller."


@pytest.fixture
def call(queue_a):
    return RecordingFactory(queue=queue_a, audio=AUDIO)


@pytest.fixture
def other():
    return DataSubjectFactory()


def change_url(recording: Recording) -> str:
    return reverse("admin:recordings_recording_change", args=[recording.pk])


def reattribute_url(recording: Recording) -> str:
    return reverse("admin:recordings_recording_reattribute", args=[recording.pk])


def audio_bytes(client, recording: Recording):
    response = client.get(reverse("recording-audio", args=[recording.pk]))
    return response.status_code, b"".join(response.streaming_content) if response.status_code == 200 else b""


def snapshot(recording: Recording) -> tuple:
    recording.refresh_from_db()
    return (
        recording.subject_id,
        bytes(RecordingKey.objects.get(recording=recording).wrapped_key),
        sorted(Consent.objects.filter(recording=recording).values_list("pk", "subject_id")),
        recording.history.count(),
        AccessEvent.objects.filter(action=AccessAction.REATTRIBUTED).count(),
    )


# --- The service -----------------------------------------------------------------------------


def test_after_reattribution_the_call_plays_the_same_audio_under_the_new_subjects_key(
    client, dpo, call, other
):
    # given: the call plays for the DPO, attributed to its first subject
    client.force_login(dpo)
    assert audio_bytes(client, call) == (200, AUDIO)
    old_subject = call.subject
    old_key = subject_key(old_subject)
    transcript_store(call, "The caller said hello.")

    # when
    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    # then: same audio and transcript, the key opens under the new subject's key only
    call.refresh_from_db()
    assert call.subject == other
    assert audio_bytes(client, call) == (200, AUDIO)
    assert transcript_read(call.transcript) == "The caller said hello."
    wrapped = bytes(RecordingKey.objects.get(recording=call).wrapped_key)
    with pytest.raises(CiphertextError):
        open_sealed(old_key, wrapped, _aad("recording-key", call.pk))
    assert open_sealed(subject_key(other), wrapped, _aad("recording-key", call.pk)) == recording_key(call)


def test_reattribution_writes_history_and_one_access_event_with_both_references(dpo, call, other):
    old_reference = call.subject.reference

    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    # (retention may write its own row after it, with the keep-until it computed again)
    row = call.history.get(history_change_reason=f"Re-attributed from {old_reference} to {other.reference}")
    assert (row.subject_id, row.history_user) == (other.pk, dpo)
    assert row.prev_record.subject_id == call.subject_id  # ``call`` is the object as it was
    event = AccessEvent.objects.get(action=AccessAction.REATTRIBUTED)
    assert (event.object_type, event.object_id, event.object_reference, event.actor) == (
        "recording",
        call.pk,
        call.reference,
        dpo,
    )
    assert event.detail["from"] == old_reference and event.detail["to"] == other.reference
    assert event.detail["reason"] == REASON
    # No personal data: the subjects appear by reference only.
    assert "Mustermann" not in str(event.detail) and "@example.org" not in str(event.detail)


def test_the_consent_given_in_the_call_moves_and_the_old_subjects_general_consent_stays(dpo, call, other):
    # given: the call's own consent (made by the factory) and a consent the old subject gave
    # for all their calls
    [in_call] = Consent.objects.filter(recording=call)
    general = ConsentFactory(
        recording=None,
        subject=call.subject,
        purpose=in_call.purpose,
        notice=in_call.notice,
        captured_at=call.started_at,
    )
    old_subject = call.subject

    # when
    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    # then
    in_call.refresh_from_db()
    general.refresh_from_db()
    assert in_call.subject == other
    assert general.subject == old_subject
    assert in_call.history.order_by("-history_id").first().history_user == dpo
    assert AccessEvent.objects.get(action=AccessAction.REATTRIBUTED).detail["consents"] == [in_call.pk]


def test_keep_until_follows_the_new_subjects_consents(dpo, queue_a, other):
    # given: a consent-based call kept on a consent its subject gave for all their calls, and a
    # new subject who never consented to that purpose
    purpose = PurposeFactory()
    call = RecordingFactory(queue=queue_a, consented=False, purposes=[purpose])
    ConsentFactory(
        recording=None,
        subject=call.subject,
        purpose=purpose,
        notice=RecordingNoticeFactory(),
        captured_at=call.started_at,
    )
    keep_until_recompute([call.pk], now=timezone.now())
    call.refresh_from_db()
    assert call.keep_until > timezone.now() + datetime.timedelta(days=1)

    # when
    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    # then: with no ground under the new subject, its retention ends now
    call.refresh_from_db()
    assert call.keep_until <= timezone.now()


def test_a_failure_half_way_leaves_everything_as_it_was(client, dpo, call, other, monkeypatch):
    # given: the access log fails after the key was re-wrapped and the rows were changed
    before = snapshot(call)

    def broken(**kwargs):
        raise RuntimeError("the access log is down")

    monkeypatch.setattr("recordings.reattribution.access_event_record", broken)

    # when
    with pytest.raises(RuntimeError):
        recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    # then: nothing changed, and the call still plays
    assert snapshot(call) == before
    client.force_login(dpo)
    assert audio_bytes(client, call) == (200, AUDIO)


@pytest.mark.parametrize("persona", ["auditor", "qa_lead_a", "analyst", "stranger"])
def test_only_a_dpo_may_reattribute(request, persona, call, other):
    before = snapshot(call)
    with pytest.raises(PermissionDenied):
        recording_reattribute(
            recording=call, new_subject=other, reason=REASON, actor=request.getfixturevalue(persona)
        )
    assert snapshot(call) == before


def _restrict(subject, dpo):
    SubjectRestriction.objects.create(
        subject=subject,
        request_reference="DSR-2026-000001",
        ground="accuracy_contested",
        placed_at=timezone.now(),
        placed_by=dpo,
    )


@pytest.mark.parametrize(
    ("situation", "message"),
    [
        ("same_subject", "already attributed"),
        ("old_erased", "is erased"),
        ("new_erased", "is erased"),
        ("old_restricted", "restriction of processing"),
        ("new_restricted", "restriction of processing"),
        ("call_restricted", "restricted (Art. 18)"),
        ("hold_on_old_subject", "legal hold"),
        ("short_reason", "reason"),
    ],
)
def test_refusals_say_why_and_change_nothing(dpo, call, other, situation, message):
    new_subject, reason = other, REASON
    if situation == "same_subject":
        new_subject = call.subject
    elif situation == "old_erased":
        subject_key_destroy(subject=call.subject, reason="test")
    elif situation == "new_erased":
        subject_key_destroy(subject=other, reason="test")
    elif situation == "old_restricted":
        _restrict(call.subject, dpo)
    elif situation == "new_restricted":
        _restrict(other, dpo)
    elif situation == "call_restricted":
        Recording.objects.filter(pk=call.pk).update(status=Recording.Status.RESTRICTED)
    elif situation == "hold_on_old_subject":
        LegalHoldFactory(scope=LegalHold.Scope.SUBJECT, subject=call.subject, recording=None, placed_by=dpo)
    elif situation == "short_reason":
        reason = "because"
    before = snapshot(call)

    with pytest.raises(ValidationError) as refused:
        recording_reattribute(recording=call, new_subject=new_subject, reason=reason, actor=dpo)

    assert message in " ".join(refused.value.messages)
    assert snapshot(call) == before


def test_a_hold_on_the_call_itself_or_on_the_new_subject_goes_along(dpo, call, other):
    LegalHoldFactory(recording=call, placed_by=dpo)
    LegalHoldFactory(scope=LegalHold.Scope.SUBJECT, subject=other, recording=None, placed_by=dpo)

    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    call.refresh_from_db()
    assert call.subject == other


def _shared_call(queue, dpo, *, consent_in_call: bool):
    """A call shared on the caller's consent to sharing, given in the call or for all calls."""
    sharing = PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")
    call = RecordingFactory(queue=queue, purposes=[sharing], consented=consent_in_call, audio=AUDIO)
    if not consent_in_call:
        ConsentFactory(
            recording=None,
            subject=call.subject,
            purpose=sharing,
            notice=RecordingNoticeFactory(),
            captured_at=call.started_at,
        )
    vendor = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    share, token = share_create(
        recording=call,
        recipient=vendor,
        ground="consent",
        expires_at=timezone.now() + datetime.timedelta(days=7),
        actor=dpo,
    )
    return call, share, token


def test_a_share_resting_on_the_old_subjects_consent_is_revoked(dpo, queue_a, other):
    call, share, token = _shared_call(queue_a, dpo, consent_in_call=False)

    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    share.refresh_from_db()
    assert share.revoked_at is not None
    assert share_for_token(token) is None


def test_a_share_resting_on_the_consent_given_in_the_call_stays_open_and_plays(client, dpo, queue_a, other):
    call, share, token = _shared_call(queue_a, dpo, consent_in_call=True)

    recording_reattribute(recording=call, new_subject=other, reason=REASON, actor=dpo)

    share.refresh_from_db()
    assert share.revoked_at is None
    assert share_for_token(token) == share
    # The recipient's link still decrypts: the recording key is the same, wrapped anew.
    opened = client.post(reverse("share-open"), {"token": token})
    assert opened.status_code == 303 and opened["Location"] == reverse("share-audio", args=[share.pk])
    audio = client.get(opened["Location"])
    assert audio.status_code == 200 and b"".join(audio.streaming_content) == AUDIO


# --- The admin page --------------------------------------------------------------------------


def test_the_change_form_shows_the_subject_by_reference_and_takes_no_subject_id(client, dpo, call, other):
    client.force_login(dpo)

    page = client.get(change_url(call)).content.decode()

    assert call.subject.reference in page
    assert 'name="subject"' not in page and "vRawIdAdminField" not in page
    evidence_fields = (
        "started_at",
        "ended_at",
        "lawful_basis",
        "storage_ref",
        "checksum_sha256",
        "reference",
        "agent",
        "legitimate_interest_assessment",
        "direction",
        "size_bytes",
    )
    for evidence in evidence_fields:
        assert f'name="{evidence}' not in page, evidence
    assert reattribute_url(call) in page

    # when: a subject id is posted into the form by hand
    post = client.post(
        change_url(call),
        {
            "subject": other.pk,
            "lawful_basis": "vital_interests",
            "started_at_0": "2020-01-01",
            "started_at_1": "00:00:00",
            "storage_ref": "elsewhere.wav",
            "queue": call.queue_id,
            "purposes": list(call.purposes.values_list("pk", flat=True)),
            "consents-TOTAL_FORMS": "0",
            "consents-INITIAL_FORMS": "0",
        },
    )

    # then: saved, with the evidence ignored; the call is still its subject's and still plays
    assert post.status_code == 302, post.content.decode()
    before = (call.subject_id, call.lawful_basis, call.started_at, call.storage_ref)
    call.refresh_from_db()
    assert (call.subject_id, call.lawful_basis, call.started_at, call.storage_ref) == before
    assert audio_bytes(client, call)[0] == 200


def test_the_subject_link_is_shown_only_to_those_who_may_open_it(client, dpo, qa_lead_a, call):
    subject_page = reverse("admin:recordings_datasubject_change", args=[call.subject_id])

    client.force_login(dpo)
    assert subject_page in client.get(change_url(call)).content.decode()

    client.force_login(qa_lead_a)
    page = client.get(change_url(call)).content.decode()
    assert call.subject.reference in page
    assert subject_page not in page
    assert reattribute_url(call) not in page


def test_the_page_previews_then_reattributes_by_reference(client, dpo, call, other):
    client.force_login(dpo)
    old_reference = call.subject.reference

    # when: the DPO gives a reference (in lower case, with spaces) and a reason
    preview = client.post(
        reattribute_url(call), {"reference": f"  {other.reference.lower()} ", "reason": REASON}
    )

    # then: a preview, in the access log as a view, nothing changed yet
    assert preview.status_code == 200
    assert AccessEvent.objects.filter(
        action=AccessAction.VIEW, object_id=call.pk, detail__page="reattribute_preview"
    ).exists()
    body = preview.content.decode()
    assert 'id="reattribute-preview"' in body and other.reference in body and old_reference in body
    call.refresh_from_db()
    assert call.subject.reference == old_reference

    # when: confirmed
    done = client.post(
        reattribute_url(call), {"reference": other.reference, "reason": REASON, "confirmed": "True"}
    )

    # then
    assert done.status_code == 302 and done["Location"] == change_url(call)
    call.refresh_from_db()
    assert call.subject == other
    assert audio_bytes(client, call) == (200, AUDIO)


@pytest.mark.parametrize(
    "reference",
    [
        "DS-NOSUCH",
        "",
        "x" * 5000,
        "DS-\x00",
        "' OR 1=1 --",
        "<script>alert(1)</script>",
        "DS-T\u0130",  # a dotted capital I: upper() of it is two characters
    ],
)
def test_hostile_references_are_form_errors_never_a_500(client, dpo, call, reference):
    client.force_login(dpo)
    before = snapshot(call)

    response = client.post(
        reattribute_url(call), {"reference": reference, "reason": REASON, "confirmed": "True"}
    )

    assert response.status_code == 200
    assert 'class="errorlist' in response.content.decode()
    assert "<script>alert(1)</script>" not in response.content.decode()
    assert snapshot(call) == before


def test_a_refusal_is_shown_on_the_form(client, dpo, call):
    client.force_login(dpo)
    response = client.post(reattribute_url(call), {"reference": call.subject.reference, "reason": REASON})
    assert response.status_code == 200
    assert "already attributed" in response.content.decode()


@pytest.mark.parametrize(
    ("persona", "status"),
    [("auditor", 403), ("qa_lead_a", 403), ("qa_lead_b", 404), ("analyst", 404), ("stranger", 404)],
)
def test_the_page_is_forbidden_or_not_found_for_everyone_but_a_dpo(
    request, client, call, other, persona, status
):
    client.force_login(request.getfixturevalue(persona))
    before = snapshot(call)

    assert client.get(reattribute_url(call)).status_code == status
    posted = client.post(
        reattribute_url(call), {"reference": other.reference, "reason": REASON, "confirmed": "True"}
    )
    assert posted.status_code == status
    assert snapshot(call) == before


def test_anonymous_visitors_are_sent_to_the_login(client, call):
    response = client.get(reattribute_url(call))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
