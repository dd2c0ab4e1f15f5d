"""The evaluations' own retention: kept CUSTOS_EVALUATION_RETENTION_DAYS, then deleted by the
nightly sweep with a tombstone keeping their numbers, in batches that survive an interruption."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.schedule import PERIODIC_JOBS
from reviews import retention
from reviews.models import Answer, CalibrationSession, Evaluation, EvaluationTombstone, TimelineComment
from reviews.retention import evaluations_sweep
from reviews.tasks import sweep_expired_evaluations
from tests.factories import RecordingFactory
from tests.reviews.agentdata_helpers import calibration_of, evaluation_of

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


def aged(days: int, **kwargs) -> Evaluation:
    return evaluation_of(RecordingFactory(), created_at=timezone.now() - days * DAY, **kwargs)


def test_a_new_evaluation_is_kept_for_the_setting_s_days(settings):
    settings.CUSTOS_EVALUATION_RETENTION_DAYS = 30
    before = timezone.now()

    evaluation = evaluation_of(RecordingFactory())

    assert before + 30 * DAY <= evaluation.keep_until <= timezone.now() + 30 * DAY
    assert evaluation.history.first().keep_until == evaluation.keep_until


def test_expired_evaluations_go_with_tombstones_and_fresh_ones_stay():
    # given
    old = aged(400, score="61.25")
    fresh = aged(10)

    # when
    deleted = evaluations_sweep(now=timezone.now())

    # then
    assert deleted == 1
    assert not Evaluation.objects.filter(pk=old.pk).exists()
    assert not Evaluation.history.filter(id=old.pk).exists()
    assert not Answer.objects.filter(evaluation_id=old.pk).exists()
    assert not Answer.history.filter(evaluation_id=old.pk).exists()
    assert not TimelineComment.objects.filter(evaluation_id=old.pk).exists()
    tombstone = EvaluationTombstone.objects.get(evaluation_id=old.pk)
    assert (tombstone.cause, tombstone.score, tombstone.queue_id) == (
        "expired",
        Decimal("61.25"),
        old.queue_id,
    )
    assert tombstone.scorecard_version_id == old.scorecard_version_id
    assert Evaluation.objects.filter(pk=fresh.pk).exists()
    event = AccessEvent.objects.get(action=AccessAction.RETENTION_DELETION, object_type="evaluation")
    assert event.detail == {"evaluations": 1, "first": old.pk, "last": old.pk}


def test_a_shortened_setting_takes_effect_at_the_next_sweep(settings):
    # given: kept a year when it was written
    evaluation = aged(40)
    assert evaluation.keep_until > timezone.now()

    # when: a deploy shortens the retention to 30 days
    settings.CUSTOS_EVALUATION_RETENTION_DAYS = 30
    sweep_expired_evaluations()

    # then
    assert EvaluationTombstone.objects.filter(evaluation_id=evaluation.pk, cause="expired").exists()


def test_the_sweep_realigns_stored_keep_until_with_the_setting(settings):
    evaluation = aged(10)
    settings.CUSTOS_EVALUATION_RETENTION_DAYS = 100

    evaluations_sweep(now=timezone.now(), batch_size=1)

    evaluation.refresh_from_db()
    assert evaluation.keep_until == evaluation.created_at + 100 * DAY
    assert evaluation.history.first().keep_until == evaluation.keep_until
    # A second sweep finds nothing to realign: no new history row.
    versions = evaluation.history.count()
    evaluations_sweep(now=timezone.now())
    assert evaluation.history.count() == versions


def test_a_calibration_goes_with_its_last_evaluation():
    # given: one session all expired, one with an evaluation still kept
    gone = calibration_of(RecordingFactory())
    kept = calibration_of(RecordingFactory())
    Evaluation.objects.filter(calibration=gone).update(created_at=timezone.now() - 400 * DAY)
    Evaluation.objects.filter(pk=kept.evaluations.first().pk).update(created_at=timezone.now() - 400 * DAY)

    # when
    evaluations_sweep(now=timezone.now())

    # then
    assert not CalibrationSession.objects.filter(pk=gone.pk).exists()
    assert not CalibrationSession.history.filter(id=gone.pk).exists()
    assert not CalibrationSession.participants.through.objects.filter(calibrationsession_id=gone.pk).exists()
    assert CalibrationSession.objects.get(pk=kept.pk).evaluations.count() == 1


def test_an_interrupted_sweep_keeps_its_finished_batches_and_the_next_finishes(monkeypatch):
    # given: five expired evaluations, and a failure while the second batch is written
    expired = [aged(400) for _ in range(5)]
    record = retention.access_event_record
    calls = {"n": 0}

    def failing_on_second_batch(**kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker killed")
        return record(**kwargs)

    monkeypatch.setattr(retention, "access_event_record", failing_on_second_batch)

    # when
    with pytest.raises(RuntimeError):
        evaluations_sweep(now=timezone.now(), batch_size=2)

    # then: the first batch is gone with its tombstones; the second is whole, without tombstones
    ids = [evaluation.pk for evaluation in expired]
    assert set(EvaluationTombstone.objects.values_list("evaluation_id", flat=True)) == set(ids[:2])
    assert set(Evaluation.objects.filter(pk__in=ids).values_list("pk", flat=True)) == set(ids[2:])
    assert Answer.objects.filter(evaluation_id__in=ids[2:]).count() == 6
    assert TimelineComment.objects.filter(evaluation_id__in=ids[2:]).count() == 3

    # when: the next night
    monkeypatch.setattr(retention, "access_event_record", record)
    assert evaluations_sweep(now=timezone.now(), batch_size=2) == 3

    # then
    assert set(EvaluationTombstone.objects.values_list("evaluation_id", flat=True)) == set(ids)
    assert not Evaluation.objects.filter(pk__in=ids).exists()


def _statements_of_a_sweep(count: int) -> int:
    for _ in range(count):
        aged(400)
        calibration_of(RecordingFactory())
    Evaluation.objects.filter(calibration__isnull=False).update(created_at=timezone.now() - 400 * DAY)
    with CaptureQueriesContext(connection) as queries:
        evaluations_sweep(now=timezone.now(), batch_size=1000)
    assert not Evaluation.objects.exists()
    return len(queries)


def test_a_batch_costs_the_same_statements_whatever_its_size():
    _statements_of_a_sweep(1)  # the first event creates the audit chain's head row
    small = _statements_of_a_sweep(2)
    large = _statements_of_a_sweep(8)

    assert large == small


def test_the_sweep_is_a_periodic_task():
    job = next(job for job in PERIODIC_JOBS if job.task == "reviews.tasks.sweep_expired_evaluations")
    assert job.crontab_setting == "CUSTOS_EVALUATION_SWEEP_CRONTAB"
