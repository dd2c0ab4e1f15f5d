"""The DSR desk's workflow and what each right does to the data, not only to the status."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import storages
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from dsr.models import DataSubjectRequest, ResponseLetter
from dsr.packages import package_build
from dsr.rights import RightInput, right_preview
from dsr.services import request_create
from dsr.workflow import (
    request_approve,
    request_assign,
    request_complete,
    request_extend,
    request_identity_verify,
    request_transition,
)
from recordings.models import Consent, DataSubject, Objection, Recording
from recordings.selectors import recordings_visible_to
from recordings.vault.keys import KeyDestroyedError, PersonalData, personal_data_read, recording_key
from recordings.vault.services import subject_key_destroy
from retention.models import DeletionRecord
from tests.factories import (
    DataSubjectFactory,
    LegalHoldFactory,
    RecordingFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

Status = DataSubjectRequest.Status


@pytest.fixture
def second_dpo(roles):
    from compliance_site.roles import DPO

    return UserFactory(username="second.dpo", groups=[roles[DPO]])


def open_request(subject, request_type: str, *, received_at=None, channel="email") -> DataSubjectRequest:
    return request_create(
        request_type=request_type,
        channel=channel,
        received_at=received_at or timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )


def verified(dsr, actor) -> DataSubjectRequest:
    return request_identity_verify(dsr=dsr, method="document", note="Passport seen.", actor=actor)


def stored_blobs(settings) -> list:
    from django.core.files.storage import storages

    root = storages["recordings"].location
    import pathlib

    return [p for p in pathlib.Path(root).rglob("*.tink")]


# --- workflow ---------------------------------------------------------------------------------


def test_identity_verification_moves_the_request_into_progress_and_lands_in_history(dpo, queue_a):
    request = open_request(DataSubjectFactory(), "access")

    request = verified(request, dpo)

    assert request.status == Status.IN_PROGRESS
    assert (request.identity_method, request.identity_verified_by) == ("document", dpo)
    assert request.history.first().history_user == dpo


def test_the_clock_can_start_at_verification(settings, dpo):
    settings.DSR_CLOCK_START = "verification"
    request = open_request(
        DataSubjectFactory(), "access", received_at=timezone.now() - datetime.timedelta(days=10)
    )
    before = request.due_at

    request = verified(request, dpo)

    assert request.due_at > before + datetime.timedelta(days=9)


def test_a_transition_the_workflow_does_not_know_is_refused_with_its_reason(dpo):
    request = open_request(DataSubjectFactory(), "access")

    with pytest.raises(ValidationError, match="Verify the requester's identity first"):
        request_transition(dsr=request, to=Status.IN_PROGRESS, actor=dpo)
    request_transition(dsr=request, to=Status.WITHDRAWN, actor=dpo)
    with pytest.raises(ValidationError, match="cannot become"):
        request_transition(dsr=request, to=Status.IN_PROGRESS, actor=dpo)


def test_a_refusal_needs_its_ground_and_writes_the_letter(dpo):
    request = open_request(DataSubjectFactory(), "erasure")

    with pytest.raises(ValidationError):
        request_transition(dsr=request, to=Status.REFUSED, actor=dpo)
    request = request_transition(
        dsr=request, to=Status.REFUSED, actor=dpo, refusal_ground="identity_not_verified"
    )

    assert request.status == Status.REFUSED and request.closed_at is not None
    letter = request.letters.get()
    assert "We could not confirm that the request comes from you (Art. 12(6) GDPR)." in letter.body


def test_extension_up_to_two_months_with_reason_and_notice_letter_in_german(dpo):
    request = open_request(DataSubjectFactory(), "access")
    request.language = "de"
    request.save()

    with pytest.raises(ValidationError, match="two further months"):
        request_extend(dsr=request, until=request.due_at + datetime.timedelta(days=70), reason="x", actor=dpo)
    with pytest.raises(ValidationError):
        request_extend(dsr=request, until=request.due_at + datetime.timedelta(days=30), reason=" ", actor=dpo)
    request = request_extend(
        dsr=request,
        until=request.due_at + datetime.timedelta(days=30),
        reason="der Komplexität",
        actor=dpo,
    )

    letter = request.letters.get(kind=ResponseLetter.Kind.EXTENSION)
    assert letter.language == "de" and "verlängern" in letter.body and "Komplexität" in letter.body
    assert request.history.filter(extended_until__isnull=False).exists()


def test_extension_is_refused_once_the_original_deadline_has_passed(dpo):
    request = open_request(
        DataSubjectFactory(), "access", received_at=timezone.now() - datetime.timedelta(days=31)
    )

    with pytest.raises(ValidationError, match="has passed"):
        request_extend(
            dsr=request, until=timezone.now() + datetime.timedelta(days=10), reason="late", actor=dpo
        )


def test_assignment_grants_the_analyst_this_request_and_its_subject_only(dpo, analyst):
    from dsr.selectors import requests_visible_to
    from recordings.selectors import subjects_visible_to

    mine, other = open_request(DataSubjectFactory(), "access"), open_request(DataSubjectFactory(), "access")

    request_assign(dsr=mine, assignee=analyst, actor=dpo)

    assert list(requests_visible_to(analyst)) == [mine]
    assert list(subjects_visible_to(analyst)) == [mine.subject]
    assert other.subject not in subjects_visible_to(analyst)


# --- erasure ----------------------------------------------------------------------------------


def test_erasure_needs_a_second_dpo_and_then_shreds_everything(
    dpo, second_dpo, queue_a, qa_lead_a, settings, django_capture_on_commit_callbacks, jobs_eager
):
    # given: a subject with two calls
    subject = DataSubjectFactory(full_name="Erika Mustermann")
    calls = [RecordingFactory(subject=subject, queue=queue_a) for _ in range(2)]
    request = verified(open_request(subject, "erasure"), dpo)
    assert "2 recording(s) erased" in " ".join(right_preview(request).lines)

    # when: the DPO prepares it, cannot approve it alone, and a second DPO approves
    with pytest.raises(ValidationError, match="second DPO"):
        request_complete(dsr=request, actor=dpo)
    request = request_transition(dsr=request, to=Status.AWAITING_APPROVAL, actor=dpo)
    with pytest.raises(ValidationError, match="Four eyes"):
        request_approve(dsr=request, actor=dpo)
    # (the erasure runs on a worker once the approval commits; here, eagerly, as do the blobs)
    with django_capture_on_commit_callbacks(execute=True):
        request = request_approve(dsr=request, actor=second_dpo)

    # then: completed, approved by the second DPO
    request.refresh_from_db()
    assert request.status == Status.COMPLETED and request.approved_by == second_dpo
    # and the audio cannot be decrypted, the blobs are gone, tombstones name the request
    for call in calls:
        call.refresh_from_db()
        assert call.status == Recording.Status.ERASED
        with pytest.raises(KeyDestroyedError):
            recording_key(call)
    assert stored_blobs(settings) == []
    assert set(DeletionRecord.objects.values_list("rule", flat=True)) == {request.reference}
    # and no readable personal data is left, in the row or its history
    subject = DataSubject.objects.get(pk=subject.pk)
    with pytest.raises(KeyDestroyedError):
        personal_data_read(subject)
    for row in [subject, *subject.history.all()]:
        assert bytes(row.full_name_encrypted) == b"" and row.phone_index == "" and row.email_index == ""
    assert not recordings_visible_to(qa_lead_a).exists()
    assert AccessEvent.objects.filter(action="key_destroyed", object_type="subject").exists()
    # and the access log names the erasure and the request it was executed under
    erasure = AccessEvent.objects.get(action="erasure")
    assert (erasure.object_id, erasure.actor, erasure.detail["request"]) == (
        subject.pk,
        second_dpo,
        request.reference,
    )
    assert erasure.detail["erased"] == 2 and erasure.detail["personal_data_shredded"] is True
    assert "the recordings of your 2 calls" in request.letters.get().body


def test_a_legal_hold_turns_the_erasure_into_a_restriction_with_the_ground_stated(
    dpo, second_dpo, queue_a, django_capture_on_commit_callbacks, jobs_eager
):
    subject = DataSubjectFactory()
    held, free = (
        RecordingFactory(subject=subject, queue=queue_a),
        RecordingFactory(subject=subject, queue=queue_a),
    )
    LegalHoldFactory(recording=held, case_reference="CASE-0042")
    request = request_transition(
        dsr=verified(open_request(subject, "erasure"), dpo), to=Status.AWAITING_APPROVAL, actor=dpo
    )

    with django_capture_on_commit_callbacks(execute=True):
        request = request_approve(dsr=request, actor=second_dpo)

    request.refresh_from_db()
    held.refresh_from_db()
    free.refresh_from_db()
    assert (held.status, free.status) == (Recording.Status.RESTRICTED, Recording.Status.ERASED)
    assert recording_key(held)  # still readable: kept for the claim
    assert personal_data_read(DataSubject.objects.get(pk=subject.pk)).full_name  # restricted, not erased
    assert "CASE-0042" in request.exemption and "Art. 17(3)(e)" in request.exemption
    # the subject is told the ground in their terms; the case number stays internal
    body = request.letters.get().body
    assert "Art. 17(3)(e) GDPR" in body and "CASE-0042" not in body


def test_a_failed_erasure_leaves_the_subject_as_it_was(
    dpo, second_dpo, queue_a, monkeypatch, django_capture_on_commit_callbacks, jobs_eager
):
    subject = DataSubjectFactory()
    call = RecordingFactory(subject=subject, queue=queue_a)
    request = request_transition(
        dsr=verified(open_request(subject, "erasure"), dpo), to=Status.AWAITING_APPROVAL, actor=dpo
    )

    def broken(**kwargs):
        raise RuntimeError("KMS unavailable")

    monkeypatch.setattr("dsr.erasure.subject_personal_data_shred", broken)
    with django_capture_on_commit_callbacks(execute=True):
        request_approve(dsr=request, actor=second_dpo)

    # the approval stands; the erasure on the worker failed and changed nothing
    call.refresh_from_db()
    assert call.status == Recording.Status.ACTIVE and recording_key(call)
    assert personal_data_read(DataSubject.objects.get(pk=subject.pk)).full_name
    assert not DeletionRecord.objects.exists()
    request = DataSubjectRequest.objects.get(pk=request.pk)
    assert (request.status, request.approved_by) == (Status.EXECUTING, second_dpo)
    job = request.jobs.get()
    assert (job.state, job.failure_reason) == ("failed", "RuntimeError: KMS unavailable")
    assert not request.letters.exists() and request.closed_at is None


# --- restriction, objection, withdrawal, rectification -----------------------------------------


def test_restriction_takes_the_recordings_out_of_qa_review_but_keeps_them(dpo, queue_a, qa_lead_a):
    subject = DataSubjectFactory()
    call = RecordingFactory(subject=subject, queue=queue_a)
    assert call in recordings_visible_to(qa_lead_a)

    request_complete(
        dsr=verified(open_request(subject, "restriction"), dpo),
        actor=dpo,
        given=RightInput(restriction_ground="accuracy_contested"),
    )

    call.refresh_from_db()
    assert call.status == Recording.Status.RESTRICTED
    assert call not in recordings_visible_to(qa_lead_a)
    assert recording_key(call)


def test_an_upheld_objection_stops_legitimate_interest_use(dpo, queue_a, qa_lead_a):
    from recordings.models import LegitimateInterestAssessment
    from tests.factories import PurposeFactory

    qa = PurposeFactory()
    lia = LegitimateInterestAssessment.objects.create(
        title="QA", balancing_summary="ok", approved_by=dpo, approved_at=timezone.now()
    )
    lia.purposes.set([qa])
    subject = DataSubjectFactory()
    call = RecordingFactory(
        subject=subject,
        queue=queue_a,
        lawful_basis="legitimate_interests",
        legitimate_interest_assessment=lia,
    )
    assert call in recordings_visible_to(qa_lead_a)

    request = request_complete(dsr=verified(open_request(subject, "objection"), dpo), actor=dpo)

    assert Objection.objects.get(subject=subject).decision == Objection.Decision.UPHELD
    assert call not in recordings_visible_to(qa_lead_a)
    assert "upheld" in request.outcome


def test_consent_withdrawal_request_withdraws_through_the_requests_channel(dpo, queue_a, qa_lead_a):
    subject = DataSubjectFactory()
    call = RecordingFactory(subject=subject, queue=queue_a)

    request_complete(
        dsr=verified(open_request(subject, "consent_withdrawal", channel="letter"), dpo), actor=dpo
    )

    consent = Consent.objects.get(recording=call)
    assert (consent.withdrawn_via, consent.withdrawn_by) == ("letter", dpo)
    assert call not in recordings_visible_to(qa_lead_a)


def test_rectification_reseals_the_corrected_fields_with_history(dpo):
    subject = DataSubjectFactory(full_name="Erika Musterman", email="old@example.org")
    request = verified(open_request(subject, "rectification"), dpo)

    request_complete(
        dsr=request, actor=dpo, given=RightInput(personal=PersonalData(full_name="Erika Mustermann"))
    )

    subject = DataSubject.objects.get(pk=subject.pk)
    assert personal_data_read(subject).full_name == "Erika Mustermann"
    assert personal_data_read(subject).email == "old@example.org"
    assert subject.history.count() == 2
    assert b"Mustermann" not in bytes(subject.history.first().full_name_encrypted)


def test_a_request_for_an_erased_subject_cannot_be_rectified(dpo):
    subject = DataSubjectFactory()
    subject_key_destroy(subject=subject, reason="test")
    request = verified(open_request(subject, "rectification"), dpo)

    with pytest.raises(KeyDestroyedError):
        request_complete(dsr=request, actor=dpo, given=RightInput(personal=PersonalData(full_name="X")))
    assert DataSubjectRequest.objects.get(pk=request.pk).status == Status.IN_PROGRESS


def test_erasure_lists_the_recipients_to_notify_and_tracks_the_notice(
    dpo, second_dpo, queue_a, django_capture_on_commit_callbacks, jobs_eager
):
    from dsr.workflow import notification_record_sent
    from recordings.models import Purpose, Recipient

    # given: an outsourced QA vendor receives quality-assurance calls, a translator nothing
    vendor = Recipient.objects.create(name="QA Vendor GmbH", role="processor", country="DE")
    vendor.purposes.set([Purpose.objects.get_or_create(code="quality_assurance", defaults={"name": "QA"})[0]])
    Recipient.objects.create(name="Unrelated Ltd", role="third_party", country="IE")
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, queue=queue_a)
    request = request_transition(
        dsr=verified(open_request(subject, "erasure"), dpo), to=Status.AWAITING_APPROVAL, actor=dpo
    )

    # when
    with django_capture_on_commit_callbacks(execute=True):
        request = request_approve(dsr=request, actor=second_dpo)

    # then: one notice owed, to the vendor; recording it sent lands in history
    [notice] = request.notifications.all()
    assert notice.recipient == vendor and notice.notified_at is None
    notice = notification_record_sent(notification=notice, actor=dpo, note="Emailed privacy@vendor")
    assert notice.notified_by == dpo and notice.history.first().history_user == dpo
    with pytest.raises(ValidationError, match="already notified"):
        notification_record_sent(notification=notice, actor=dpo)


def test_erasure_destroys_the_subjects_packages_and_deletes_their_archives(
    dpo, second_dpo, queue_a, settings, django_capture_on_commit_callbacks, jobs_eager
):
    # given: an access package built for the subject earlier, still in its download window
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, queue=queue_a)
    package = package_build(dsr=verified(open_request(subject, "access"), dpo), actor=dpo)
    erasure = request_transition(
        dsr=verified(open_request(subject, "erasure"), dpo), to=Status.AWAITING_APPROVAL, actor=dpo
    )

    # when
    with django_capture_on_commit_callbacks(execute=True):
        request_approve(dsr=erasure, actor=second_dpo)

    # then: its key destroyed with an event, its archive gone with the audio
    package.refresh_from_db()
    assert package.purged_at is not None and bytes(package.wrapped_key) == b""
    events = AccessEvent.objects.filter(action="key_destroyed", object_type="package")
    assert list(events.values_list("object_id", flat=True)) == [package.pk]
    assert not storages["recordings"].exists(package.storage_ref)
    assert stored_blobs(settings) == []
