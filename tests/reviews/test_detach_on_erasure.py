"""An erased or expired call takes its evaluations' link, comments and free text with it (detach),
or the evaluations themselves, leaving tombstones (delete); a restriction takes nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dsr.erasure import subject_erase
from recordings.models import Recording, RestrictionGround
from recordings.restrictions import restriction_place
from retention.services import retention_sweep
from reviews.models import Answer, CalibrationSession, Evaluation, EvaluationTombstone, TimelineComment
from tests.factories import RecordingFactory
from tests.reviews.agentdata_helpers import CALLER_QUOTE, calibration_of, evaluation_of

pytestmark = pytest.mark.django_db


def expired_recording(**kwargs) -> Recording:
    return RecordingFactory(keep_until=timezone.now() - datetime.timedelta(days=1), **kwargs)


def assert_detached(evaluation: Evaluation, score: str = "80.00") -> None:
    evaluation.refresh_from_db()
    assert evaluation.recording_id is None
    assert evaluation.detached_at is not None
    assert (evaluation.score, evaluation.status) == (Decimal(score), Evaluation.Status.SUBMITTED)
    assert not TimelineComment.objects.filter(evaluation=evaluation).exists()
    answers = Answer.objects.filter(evaluation=evaluation)
    assert sorted(answers.values_list("value", "text")) == [("", ""), ("yes", "")]
    assert answers.get(value="yes").points_earned == Decimal(1)
    # The history lost the link too, and never held the text (nor the comments: no history).
    assert set(evaluation.history.values_list("recording_id", flat=True)) == {None}
    assert evaluation.history.first().detached_at == evaluation.detached_at


def test_history_of_answers_and_comments_keeps_no_free_text():
    historical_answer_fields = {field.name for field in Answer.history.model._meta.get_fields()}
    assert "text" not in historical_answer_fields
    assert "value" in historical_answer_fields
    assert not hasattr(TimelineComment, "history")


def test_erasure_request_detaches_the_calls_evaluations(dpo):
    # given
    recording = RecordingFactory()
    evaluation = evaluation_of(recording)
    other = evaluation_of(RecordingFactory())

    # when
    subject_erase(subject_id=recording.subject_id, actor=dpo, under="DSR-2026-000019")

    # then
    assert_detached(evaluation)
    assert evaluation.history.first().history_user == dpo
    other.refresh_from_db()
    assert other.recording_id is not None and other.detached_at is None
    assert TimelineComment.objects.get(evaluation=other).body == CALLER_QUOTE
    assert Answer.objects.filter(evaluation=other, text=CALLER_QUOTE).exists()


def test_retention_sweep_detaches_the_expired_calls_evaluations():
    recording = expired_recording()
    evaluation = evaluation_of(recording, score="55.50")

    retention_sweep(now=timezone.now())

    assert_detached(evaluation, score="55.50")


def test_calibration_session_keeps_its_numbers_not_its_call():
    # given
    recording = expired_recording()
    session = calibration_of(recording)
    CalibrationSession.objects.filter(pk=session.pk).update(agreed_score=Decimal("75.00"))

    # when
    retention_sweep(now=timezone.now())

    # then
    session.refresh_from_db()
    assert (session.recording_id, session.note, session.agreed_score) == (None, "", Decimal("75.00"))
    assert session.detached_at is not None
    assert session.participants.count() == 2
    assert set(session.history.values_list("recording_id", "note")) == {(None, "")}
    for evaluation in session.evaluations.all():
        assert_detached(evaluation)


def test_delete_policy_leaves_tombstones_and_nothing_else(settings):
    # given
    settings.CUSTOS_EVALUATIONS_ON_RECORDING_GONE = "delete"
    recording = expired_recording()
    evaluation = evaluation_of(recording, score="42.00")
    session = calibration_of(recording)
    kept = evaluation_of(RecordingFactory())
    gone = [evaluation.pk, *session.evaluations.values_list("pk", flat=True)]

    # when
    retention_sweep(now=timezone.now())

    # then
    assert not Evaluation.objects.filter(pk__in=gone).exists()
    assert not Evaluation.history.filter(id__in=gone).exists()
    assert not Answer.objects.filter(evaluation_id__in=gone).exists()
    assert not Answer.history.filter(evaluation_id__in=gone).exists()
    assert not TimelineComment.objects.filter(evaluation_id__in=gone).exists()
    assert not CalibrationSession.objects.filter(pk=session.pk).exists()
    assert not CalibrationSession.history.filter(id=session.pk).exists()
    tombstones = EvaluationTombstone.objects.filter(evaluation_id__in=gone)
    assert {t.cause for t in tombstones} == {EvaluationTombstone.Cause.RECORDING_GONE}
    assert tombstones.get(evaluation_id=evaluation.pk).score == Decimal("42.00")
    assert tombstones.get(evaluation_id=evaluation.pk).queue_id == recording.queue_id
    assert Evaluation.objects.filter(pk=kept.pk, recording__isnull=False).exists()


def test_restriction_is_not_erasure_the_evaluations_stay_whole(dpo):
    recording = RecordingFactory()
    evaluation = evaluation_of(recording)

    restriction_place(
        subject=recording.subject,
        request_reference="DSR-2026-000020",
        ground=RestrictionGround.ACCURACY_CONTESTED,
        actor=dpo,
    )

    recording.refresh_from_db()
    assert recording.status == Recording.Status.RESTRICTED
    evaluation.refresh_from_db()
    assert (evaluation.recording_id, evaluation.detached_at) == (recording.pk, None)
    assert TimelineComment.objects.filter(evaluation=evaluation).count() == 1
    assert Answer.objects.filter(evaluation=evaluation, text=CALLER_QUOTE).exists()


def _statements_of_a_sweep(count: int) -> int:
    for _ in range(count):
        recording = expired_recording()
        evaluation_of(recording)
        calibration_of(recording)
    with CaptureQueriesContext(connection) as queries:
        retention_sweep(now=timezone.now(), batch_size=500)
    assert not Evaluation.objects.filter(recording__isnull=False, recording__status="erased").exists()
    return len(queries)


@pytest.mark.parametrize("policy", ["detach", "delete"])
def test_the_erasure_batch_costs_the_same_statements_whatever_its_evaluations(settings, policy):
    settings.CUSTOS_EVALUATIONS_ON_RECORDING_GONE = policy
    _statements_of_a_sweep(1)  # the first event creates the audit chain's head row
    small = _statements_of_a_sweep(2)
    large = _statements_of_a_sweep(8)

    assert large == small
