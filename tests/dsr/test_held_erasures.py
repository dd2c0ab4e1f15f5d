"""Erasures deferred by a legal hold resume when the last hold covering them is released
(issue 16, gap 2): two DPOs confirm them, or beat carries them out after the grace period."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from dsr.held_erasures import (
    held_erasures_approve,
    held_erasures_confirm,
    held_erasures_finish,
    held_erasures_resuming,
    held_erasures_story,
)
from dsr.models import DataSubjectRequest
from dsr.services import request_create
from dsr.workflow import request_approve, request_identity_verify, request_transition
from recordings.models import DataSubject, Recording
from recordings.vault.keys import KeyDestroyedError, personal_data_read, recording_key
from retention.models import DeletionRecord, HeldErasure, LegalHold
from retention.services import hold_place, hold_release
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = DataSubjectRequest.Status
State = HeldErasure.State


@pytest.fixture
def second_dpo(roles):
    from compliance_site.roles import DPO

    return UserFactory(username="second.dpo", groups=[roles[DPO]])


def place(dpo, **target) -> LegalHold:
    scope = next(iter(target))
    return hold_place(
        hold=LegalHold(
            scope=scope, case_reference=f"CASE-{scope}-{LegalHold.objects.count()}", reason="Claim.", **target
        ),
        placed_by=dpo,
    )


def erase(subject, dpo, second_dpo, capture) -> DataSubjectRequest:
    """The subject asks for erasure; one DPO prepares it, a second approves, a worker runs it."""
    request = request_create(
        request_type="erasure",
        channel="email",
        received_at=timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )
    request = request_identity_verify(dsr=request, method="document", note="Passport seen.", actor=dpo)
    request = request_transition(dsr=request, to=Status.AWAITING_APPROVAL, actor=dpo)
    with capture(execute=True):
        request_approve(dsr=request, actor=second_dpo)
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    return request


def statuses(recordings) -> list[str]:
    for recording in recordings:
        recording.refresh_from_db()
    return [recording.status for recording in recordings]


@pytest.fixture
def held_subject(dpo, queue_a):
    """A caller with three calls under a subject-wide legal hold and one free call."""
    subject = DataSubjectFactory(full_name="Erika Mustermann")
    held = [RecordingFactory(subject=subject, queue=queue_a) for _ in range(3)]
    hold = place(dpo, subject=subject)
    return subject, held, hold


def test_released_hold_then_two_dpos_confirm_and_the_deferred_erasure_is_carried_out(
    dpo, second_dpo, held_subject, django_capture_on_commit_callbacks, jobs_eager
):
    """Given a caller whose erasure a legal hold turned into a restriction of three calls,
    when the hold is released and one DPO confirms and a second DPO approves the resumed erasure,
    then the three calls are erased with HOLD_RELEASED tombstones naming the request and the hold,
    their keys are gone, and so are the caller's name, phone and email."""
    subject, held, hold = held_subject
    request = erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)
    assert statuses(held) == [Recording.Status.RESTRICTED] * 3
    assert HeldErasure.objects.filter(request_reference=request.reference, state=State.WAITING).count() == 3

    # when: the hold is released; the DPO sees the erasures resuming
    hold_release(hold=hold, released_by=dpo, reason="Case settled.")
    resuming = list(held_erasures_resuming())
    assert [e.recording_id for e in resuming] == [r.pk for r in held]
    assert {e.state for e in resuming} == {State.DUE}
    assert statuses(held) == [Recording.Status.RESTRICTED] * 3  # nothing happens by itself yet

    held_erasures_confirm(erasures=resuming, actor=dpo)
    with django_capture_on_commit_callbacks(execute=True):
        held_erasures_approve(erasures=resuming, actor=second_dpo)

    # then
    assert statuses(held) == [Recording.Status.ERASED] * 3
    tombstones = DeletionRecord.objects.filter(recording_id__in=[r.pk for r in held])
    assert {t.reason for t in tombstones} == {DeletionRecord.Reason.HOLD_RELEASED}
    assert all(request.reference in t.rule and hold.case_reference in t.rule for t in tombstones)
    assert {t.executed_by for t in tombstones} == {second_dpo}
    for recording in held:
        with pytest.raises(KeyDestroyedError):
            recording_key(recording)
    with pytest.raises(KeyDestroyedError):
        personal_data_read(DataSubject.objects.get(pk=subject.pk))
    assert set(HeldErasure.objects.values_list("state", flat=True)) == {State.DONE}
    event = AccessEvent.objects.filter(action="erasure", object_id=subject.pk).latest("sequence")
    assert event.detail["erased"] == 3 and event.detail["after_hold"] == [hold.case_reference]
    assert event.detail["personal_data_shredded"] is True


def test_the_same_dpo_cannot_confirm_and_approve(
    dpo, second_dpo, held_subject, django_capture_on_commit_callbacks, jobs_eager
):
    """Given a resumed erasure one DPO confirmed, when the same DPO approves it, then it is
    refused (four eyes) and nothing is erased; an analyst cannot confirm at all."""
    subject, held, hold = held_subject
    erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)
    hold_release(hold=hold, released_by=dpo, reason="Case settled.")
    resuming = list(held_erasures_resuming())

    held_erasures_confirm(erasures=resuming, actor=dpo)
    with pytest.raises(ValidationError, match="Four eyes"):
        held_erasures_approve(erasures=resuming, actor=dpo)

    assert statuses(held) == [Recording.Status.RESTRICTED] * 3
    assert set(HeldErasure.objects.values_list("state", flat=True)) == {State.CONFIRMED}


def test_analyst_cannot_confirm(
    dpo, second_dpo, analyst, held_subject, django_capture_on_commit_callbacks, jobs_eager
):
    subject, _, hold = held_subject
    erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)
    hold_release(hold=hold, released_by=dpo, reason="Case settled.")

    with pytest.raises(ValidationError, match="Only a DPO"):
        held_erasures_confirm(erasures=list(held_erasures_resuming()), actor=analyst)
    assert set(HeldErasure.objects.values_list("state", flat=True)) == {State.DUE}


def test_unconfirmed_erasure_is_carried_out_by_beat_after_the_grace_period(
    dpo, second_dpo, held_subject, settings, django_capture_on_commit_callbacks, jobs_eager
):
    """Given a resumed erasure nobody confirmed, when beat runs before the grace period ends,
    then nothing happens; when it runs after it, the recordings are erased (tombstones with no
    author, reason HOLD_RELEASED) and the caller's personal data is shredded."""
    settings.CUSTOS_HELD_ERASURE_GRACE_DAYS = 14
    subject, held, hold = held_subject
    erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)
    hold_release(hold=hold, released_by=dpo, reason="Case settled.")
    released_at = LegalHold.objects.get(pk=hold.pk).released_at

    with django_capture_on_commit_callbacks(execute=True):
        assert held_erasures_finish(now=released_at + datetime.timedelta(days=13, hours=23)) == 0
    assert statuses(held) == [Recording.Status.RESTRICTED] * 3

    with django_capture_on_commit_callbacks(execute=True):
        assert held_erasures_finish(now=released_at + datetime.timedelta(days=14)) == 3
    assert statuses(held) == [Recording.Status.ERASED] * 3
    tombstones = DeletionRecord.objects.filter(recording_id__in=[r.pk for r in held])
    assert {(t.reason, t.executed_by) for t in tombstones} == {(DeletionRecord.Reason.HOLD_RELEASED, None)}
    with pytest.raises(KeyDestroyedError):
        personal_data_read(DataSubject.objects.get(pk=subject.pk))
    # and a second run (a redelivered message) erases nothing twice
    assert held_erasures_finish(now=released_at + datetime.timedelta(days=15)) == 0


def test_release_while_another_hold_still_covers_changes_nothing(
    dpo, second_dpo, queue_a, held_subject, django_capture_on_commit_callbacks, jobs_eager
):
    """Given a restricted call covered by a subject hold and a queue hold, when only the subject
    hold is released, then its erasure stays waiting and beat never erases it; when the second
    hold goes too, it becomes due."""
    subject, held, subject_hold = held_subject
    queue_hold = place(dpo, queue=queue_a)
    erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)

    hold_release(hold=subject_hold, released_by=dpo, reason="Settled.")
    assert set(HeldErasure.objects.values_list("state", flat=True)) == {State.WAITING}
    assert held_erasures_finish(now=timezone.now() + datetime.timedelta(days=365)) == 0
    assert statuses(held) == [Recording.Status.RESTRICTED] * 3

    hold_release(hold=queue_hold, released_by=dpo, reason="Audit closed.")
    erasures = HeldErasure.objects.all()
    assert {(e.state, e.released_hold_id) for e in erasures} == {(State.DUE, queue_hold.pk)}


def test_a_new_hold_before_execution_sends_the_erasure_back_to_waiting(
    dpo, second_dpo, held_subject, django_capture_on_commit_callbacks, jobs_eager
):
    """Given a resumed erasure already confirmed by a DPO, when a new hold is placed on one of
    its calls before it is carried out, then that erasure waits again (its confirmation void),
    a second DPO's approval of it is refused, and beat leaves the call alone."""
    subject, held, hold = held_subject
    erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)
    hold_release(hold=hold, released_by=dpo, reason="Settled.")
    held_erasures_confirm(erasures=list(held_erasures_resuming()), actor=dpo)

    new_hold = place(dpo, recording=held[0])

    first = HeldErasure.objects.get(recording=held[0])
    assert (first.state, first.confirmed_by) == (State.WAITING, None)
    assert new_hold in first.holds.all()
    with pytest.raises(ValidationError, match="Only a confirmed erasure"):
        held_erasures_approve(erasures=[first], actor=second_dpo)
    with django_capture_on_commit_callbacks(execute=True):
        held_erasures_finish(now=timezone.now() + datetime.timedelta(days=365))
    assert statuses(held) == [Recording.Status.RESTRICTED, Recording.Status.ERASED, Recording.Status.ERASED]
    # the personal data stays while a call is held
    assert personal_data_read(DataSubject.objects.get(pk=subject.pk)).full_name == "Erika Mustermann"


def test_the_request_page_tells_the_story(
    dpo, second_dpo, held_subject, django_capture_on_commit_callbacks, jobs_eager
):
    """Given an erasure deferred by hold X, when X is released and the erasure carried out, then
    the request's history says "3 recording(s) deferred by legal hold X ...; erased on <date>
    after the release of X"."""
    subject, _, hold = held_subject
    request = erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)
    today = f"{timezone.localdate():%Y-%m-%d}"
    assert held_erasures_story(request.reference) == [
        f"3 recording(s) deferred by legal hold {hold.case_reference} on {today}; "
        "restricted until the hold is released."
    ]

    hold_release(hold=hold, released_by=dpo, reason="Settled.")
    resuming = list(held_erasures_resuming())
    held_erasures_confirm(erasures=resuming, actor=dpo)
    with django_capture_on_commit_callbacks(execute=True):
        held_erasures_approve(erasures=resuming, actor=second_dpo)

    assert held_erasures_story(request.reference) == [
        f"3 recording(s) deferred by legal hold {hold.case_reference} on {today}; "
        f"erased on {today} after the release of {hold.case_reference}."
    ]


def test_an_erasure_ends_the_subjects_restriction_and_what_a_hold_keeps_stays_restricted(
    dpo, second_dpo, queue_a, django_capture_on_commit_callbacks, jobs_eager
):
    """Given a caller who had their calls restricted (Art. 18) and then asks for erasure while a
    legal hold covers one call, when the erasure runs, then the restriction is ended by it (its
    record names the request), the free call is erased and the held one stays restricted: ending the
    restriction gives back nothing whose erasure waits for the hold."""
    from dsr.rights import RightInput
    from dsr.workflow import request_complete
    from recordings.models import RestrictionGround
    from recordings.selectors import restriction_in_force

    subject = DataSubjectFactory()
    free, held = (RecordingFactory(subject=subject, queue=queue_a) for _ in range(2))
    restriction_request = request_identity_verify(
        dsr=request_create(
            request_type="restriction",
            channel="email",
            received_at=timezone.now() - datetime.timedelta(days=2),
            subject=subject,
        ),
        method="document",
        note="Passport seen.",
        actor=dpo,
    )
    ground = RightInput(restriction_ground=RestrictionGround.LEGAL_CLAIMS)
    request_complete(dsr=restriction_request, actor=dpo, given=ground)
    restriction = restriction_in_force(subject)
    place(dpo, recording=held)

    erasure = erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)

    assert restriction_in_force(subject) is None
    restriction.refresh_from_db()
    assert erasure.reference in restriction.lift_reason
    assert statuses([free, held]) == [Recording.Status.ERASED, Recording.Status.RESTRICTED]
    assert HeldErasure.objects.get(recording=held).state == State.WAITING


def test_the_subject_is_told_that_the_held_erasure_resumes_on_release(
    dpo, second_dpo, queue_a, django_capture_on_commit_callbacks, jobs_eager, settings
):
    """Given a legal hold on one of a caller's calls, when their erasure is carried out, then the
    outcome and the letter say that the held call is erased once the hold is released, and by when."""
    settings.CUSTOS_HELD_ERASURE_GRACE_DAYS = 14
    subject = DataSubjectFactory()
    held = RecordingFactory(subject=subject, queue=queue_a)
    place(dpo, recording=held)

    request = erase(subject, dpo, second_dpo, django_capture_on_commit_callbacks)

    assert "erased once the hold is released" in request.outcome
    assert "14 days after the release" in request.letters.get().body
