"""The evaluations' own lifecycle as personal data: detached or deleted when their call is erased,
deleted with a tombstone when their retention runs out (CUSTOS_EVALUATION_RETENTION_DAYS).

Every function here is set-based: a batch costs a fixed number of statements whatever its size,
since the recordings' erasure calls it inside each of its batches (``retention.services``).
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import CharField, Exists, F, OuterRef, Q, QuerySet, Value
from django.utils import timezone
from simple_history.models import HistoricalRecords

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.bulk_rows import rows_insert
from compliance_site.history_bulk import HISTORY_CHANGED, history_copy
from reviews.models import Answer, CalibrationSession, Evaluation, EvaluationTombstone, TimelineComment

logger = logging.getLogger(__name__)

DETACH, DELETE = "detach", "delete"
# The columns a tombstone keeps, read with the batch (plus the id first).
_TOMBSTONE_COLUMNS = ("pk", "queue_id", "scorecard_version_id", "score", "auto_failed", "submitted_at")


def retention_period() -> datetime.timedelta:
    return datetime.timedelta(days=settings.CUSTOS_EVALUATION_RETENTION_DAYS)


def evaluation_keep_until(created_at: datetime.datetime) -> datetime.datetime:
    """Until when an evaluation started at ``created_at`` is kept, under the current setting."""
    return created_at + retention_period()


def _rows_delete(queryset: QuerySet) -> int:
    """Delete the rows of ``queryset`` with one ``DELETE ... WHERE pk IN (SELECT ...)``: no
    signals and no cascade (Django's collector would read the rows and delete them a hundred at a
    time). The caller has removed their dependents first; a forgotten one fails loudly on its
    foreign key."""
    model = queryset.model
    quote = connection.ops.quote_name
    try:
        select_sql, params = queryset.order_by().values_list("pk").query.sql_with_params()
    except EmptyResultSet:  # a list of no ids
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            # Names come from the model, quoted; every value is a bound parameter.
            f"DELETE FROM {quote(model._meta.db_table)} "  # noqa: S608
            f"WHERE {quote(model._meta.pk.column)} IN ({select_sql})",
            params,
        )
        return cursor.rowcount


def _history_forget(model: Any, object_ids: Sequence[int]) -> None:
    """Delete the history rows (and their m2m rows) of these objects: what retention deletes must
    not live on in the history. The tombstone and the access event say that it was deleted."""
    history_model = model.history.model
    versions = history_model.objects.filter(**{f"{model._meta.pk.attname}__any_of": object_ids})
    for field in history_model._history_m2m_fields:
        m2m_history_model = HistoricalRecords.m2m_models[field]
        _rows_delete(m2m_history_model.objects.filter(history__in=versions.values("pk")))
    _rows_delete(versions)


def _gone_with(recording_ids: Sequence[int]) -> tuple[list[int], list[int]]:
    """The evaluations and calibration sessions of these recordings, in one statement."""
    kind: CharField = CharField()
    evaluations = (
        Evaluation.objects.filter(recording_id__any_of=recording_ids)
        .order_by()
        .values_list("pk", Value("evaluation", output_field=kind))
    )
    calibrations = (
        CalibrationSession.objects.filter(recording_id__any_of=recording_ids)
        .order_by()
        .values_list("pk", Value("calibration", output_field=kind))
    )
    evaluation_ids: list[int] = []
    calibration_ids: list[int] = []
    for pk, what in evaluations.union(calibrations, all=True):
        (evaluation_ids if what == "evaluation" else calibration_ids).append(pk)
    return evaluation_ids, calibration_ids


def evaluations_on_recordings_gone(
    *, recording_ids: Sequence[int], now: datetime.datetime, actor=None
) -> None:
    """In the erasing transaction of these recordings: their evaluations keep their scores but lose
    the call (detach: no link, no comments, no free-text answers, here and in the history), or are
    deleted with a tombstone (CUSTOS_EVALUATIONS_ON_RECORDING_GONE = delete). Comments and text
    answers may quote the caller, whose call is gone (Art. 17(1)); the score is the agent's."""
    if not recording_ids:
        return
    evaluation_ids, calibration_ids = _gone_with(recording_ids)
    if not evaluation_ids and not calibration_ids:
        return
    if settings.CUSTOS_EVALUATIONS_ON_RECORDING_GONE == DELETE:
        rows = Evaluation.objects.filter(pk__any_of=evaluation_ids).values_list(*_TOMBSTONE_COLUMNS)
        _evaluations_delete(list(rows), cause=EvaluationTombstone.Cause.RECORDING_GONE, now=now)
        _calibrations_delete_empty(calibration_ids)
    else:
        _evaluations_detach(evaluation_ids, now=now, actor=actor)
    # In either policy a session still standing keeps its numbers, not its call.
    _calibrations_detach(calibration_ids, now=now, actor=actor)


def _evaluations_detach(evaluation_ids: list[int], *, now: datetime.datetime, actor) -> None:
    if not evaluation_ids:
        return
    TimelineComment.objects.filter(evaluation_id__any_of=evaluation_ids).delete()
    # ``text`` is not in the answers' history (HistoricalRecords(excluded_fields=["text"])), so
    # this update changes no audited field and needs no history row.
    Answer.objects.filter(evaluation_id__any_of=evaluation_ids).exclude(text="").update(text="")
    detached = Evaluation.objects.filter(pk__any_of=evaluation_ids)
    detached.update(recording=None, detached_at=now)
    history_copy(detached, history_type=HISTORY_CHANGED, date=timezone.now(), user=actor)
    # Earlier versions would still name the call: the link goes from the history too.
    Evaluation.history.model.objects.filter(id__any_of=evaluation_ids).update(recording=None)


def _calibrations_detach(calibration_ids: list[int], *, now: datetime.datetime, actor) -> None:
    """The session's note may quote the caller like a comment: it goes with the link."""
    if not calibration_ids:
        return
    detached = CalibrationSession.objects.filter(pk__any_of=calibration_ids)
    if not detached.update(recording=None, note="", detached_at=now):
        return
    history_copy(detached, history_type=HISTORY_CHANGED, date=timezone.now(), user=actor)
    CalibrationSession.history.model.objects.filter(id__any_of=calibration_ids).update(
        recording=None, note=""
    )


def _calibrations_delete_empty(calibration_ids: Sequence[int]) -> None:
    """Delete those of these sessions that no evaluation belongs to any more, with their history."""
    if not calibration_ids:
        return
    empty = CalibrationSession.objects.filter(pk__any_of=calibration_ids).exclude(
        Exists(Evaluation.objects.filter(calibration=OuterRef("pk")))
    )
    empty_ids = list(empty.values_list("pk", flat=True))
    if not empty_ids:
        return
    _history_forget(CalibrationSession, empty_ids)
    through = CalibrationSession.participants.through
    _rows_delete(through.objects.filter(calibrationsession_id__any_of=empty_ids))
    _rows_delete(CalibrationSession.objects.filter(pk__any_of=empty_ids))


def _evaluations_delete(rows: list[tuple], *, cause: str, now: datetime.datetime) -> None:
    """Delete these evaluations (rows of ``_TOMBSTONE_COLUMNS``) with their answers, comments and
    history, writing a tombstone each in the same transaction."""
    if not rows:
        return
    evaluation_ids = [row[0] for row in rows]
    rows_insert(
        [
            EvaluationTombstone(
                evaluation_id=pk,
                queue_id=queue_id,
                scorecard_version_id=version_id,
                score=score,
                auto_failed=auto_failed,
                submitted_at=submitted_at,
                cause=cause,
                deleted_at=now,
            )
            for pk, queue_id, version_id, score, auto_failed, submitted_at in rows
        ]
    )
    TimelineComment.objects.filter(evaluation_id__any_of=evaluation_ids).delete()
    answers = Answer.objects.filter(evaluation_id__any_of=evaluation_ids)
    _rows_delete(Answer.history.model.objects.filter(evaluation_id__any_of=evaluation_ids))
    _rows_delete(answers)
    _history_forget(Evaluation, evaluation_ids)
    _rows_delete(Evaluation.objects.filter(pk__any_of=evaluation_ids))


def evaluations_expired(now: datetime.datetime) -> QuerySet[Evaluation]:
    """Evaluations past their retention under the current setting. The rule reads ``created_at``,
    not the stored ``keep_until``: a shortened setting takes effect at the next sweep, and a
    lengthened one never deletes early."""
    return Evaluation.objects.filter(created_at__lt=now - retention_period())


def _sweep_batch(*, now: datetime.datetime, batch_size: int) -> int:
    with transaction.atomic():
        # skip_locked: two sweeps share the work and never wait on an evaluator's open save; pk
        # order keeps the lock order stable.
        rows = list(
            evaluations_expired(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .values_list(*_TOMBSTONE_COLUMNS, "calibration_id")[:batch_size]
        )
        if not rows:
            return 0
        _evaluations_delete([row[:-1] for row in rows], cause=EvaluationTombstone.Cause.EXPIRED, now=now)
        _calibrations_delete_empty(sorted({row[-1] for row in rows if row[-1] is not None}))
        access_event_record(
            action=AccessAction.RETENTION_DELETION,
            object_type="evaluation",
            detail={"evaluations": len(rows), "first": rows[0][0], "last": rows[-1][0]},
        )
    return len(rows)


def _keep_until_realign_batch(*, after: int, batch_size: int) -> int | None:
    """Set ``keep_until`` to what the current setting gives, for one batch of rows past ``after``
    (by id) that differ (after a deploy that changed it, or rows written before it was set), with
    their history; returns the last id looked at, None when there is none left. The id cursor
    visits each row once, whatever the comparison makes of a row."""
    period = retention_period()
    with transaction.atomic():
        window = list(
            Evaluation.objects.filter(pk__gt=after).order_by("pk").values_list("pk", flat=True)[:batch_size]
        )
        if not window:
            return None
        stale = Evaluation.objects.filter(pk__any_of=window).filter(
            Q(keep_until__isnull=True) | ~Q(keep_until=F("created_at") + period)
        )
        # skip_locked: a row someone is saving now is left for the next night.
        ids = list(stale.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
        if ids:
            batch = Evaluation.objects.filter(pk__any_of=ids)
            batch.update(keep_until=F("created_at") + period)
            history_copy(batch, history_type=HISTORY_CHANGED, date=timezone.now())
    return window[-1]


def evaluations_sweep(*, now: datetime.datetime, batch_size: int | None = None) -> int:
    """Delete every expired evaluation with its tombstone, a batch per transaction (an interrupted
    sweep keeps the batches it finished; the next one goes on), then bring the stored keep-until
    dates in line with the setting. Returns how many evaluations were deleted."""
    batch_size = batch_size or settings.CUSTOS_EVALUATION_SWEEP_BATCH_SIZE
    deleted = 0
    while done := _sweep_batch(now=now, batch_size=batch_size):
        deleted += done
    cursor: int | None = 0
    while cursor is not None:
        cursor = _keep_until_realign_batch(after=cursor, batch_size=batch_size)
    if deleted:
        logger.info("Evaluation sweep: %s evaluations deleted", deleted)
    return deleted
