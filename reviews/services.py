"""Evaluations' writes: start, answer, submit, re-score, acknowledge or dispute, and the comments
pinned to points in the call. Each re-checks, at the moment it writes, that its actor may still."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save, model_update
from compliance_site.roles import is_dpo
from recordings.models import Recording
from reviews.models import (
    AgentSupervision,
    Answer,
    AnswerType,
    CalibrationSession,
    Evaluation,
    EvaluationStatus,
    ScorecardQuestion,
    ScorecardVersion,
    TimelineComment,
)
from reviews.scorecards import scorecard_for_queue
from reviews.scoring import answers_complete, evaluation_score
from reviews.selectors import (
    evaluation_visible_to,
    recordings_evaluable_by,
    recordings_usable_for_quality_now,
)
from reviews.signals import evaluation_submitted

COMMENT_MAX_CHARS = 2000
ANSWER_TEXT_MAX_CHARS = 5000
DISPUTE_REASON_MIN_CHARS = 10
DISPUTE_REASON_MAX_CHARS = 2000

NOT_EVALUABLE = (
    "You may not evaluate this recording now: it is outside your grant, restricted, erased, past "
    "its retention, or its quality-assurance consent was withdrawn."
)
NO_LONGER_EVALUABLE = (
    "This evaluation's recording may no longer serve quality assurance for you (a restriction, an "
    "erasure, an expiry, a withdrawn consent or a grant that ended): nothing was saved."
)


def scorecard_versions_for(recording: Recording) -> list[ScorecardVersion]:
    """The published versions of the scorecards assigned to the recording's queue."""
    return list(scorecard_for_queue(recording.queue))


def evaluation_start(
    *,
    recording: Recording,
    evaluator,
    calibration: CalibrationSession | None = None,
    scorecard_version: ScorecardVersion | None = None,
) -> Evaluation:
    """A draft evaluation of ``recording`` by ``evaluator``, with the queue's published scorecard
    version (``scorecard_version`` picks one where the queue has several; a calibration names
    its own). The queue and the agent are copied from the recording: reports outlive the link."""
    with transaction.atomic():
        live = recordings_evaluable_by(evaluator).filter(pk=recording.pk).first()
        if live is None:
            raise ValidationError(NOT_EVALUABLE, code="not_evaluable")
        if calibration is not None:
            if calibration.recording_id != live.pk:
                raise ValidationError("This calibration is about another recording.", code="calibration")
            if not (
                evaluator.has_perm("reviews.calibrate")
                and calibration.participants.filter(pk=evaluator.pk).exists()
            ):
                raise ValidationError("You do not take part in this calibration.", code="calibration")
            if calibration.evaluations.filter(evaluator=evaluator).exists():
                raise ValidationError("You already scored this calibration.", code="exists")
            version = calibration.scorecard_version
        else:
            existing = Evaluation.objects.filter(
                recording=live, evaluator=evaluator, calibration__isnull=True
            ).first()
            if existing is not None:
                raise ValidationError(
                    f"You already evaluated this call: evaluation #{existing.pk}.", code="exists"
                )
            version = _version_for(live, scorecard_version)
        evaluation = Evaluation(
            recording=live,
            scorecard_version=version,
            queue_id=live.queue_id,
            agent_id=live.agent_id,
            evaluator=evaluator,
            calibration=calibration,
        )
        return history_save(evaluation, actor=evaluator, reason="started")


def _version_for(recording: Recording, chosen: ScorecardVersion | None) -> ScorecardVersion:
    versions = scorecard_versions_for(recording)
    if not versions:
        raise ValidationError(
            "No published scorecard is assigned to this call's queue: a QA administrator assigns one.",
            code="no_scorecard",
        )
    if chosen is None:
        if len(versions) > 1:
            raise ValidationError("Several scorecards apply to this call's queue: choose one.", code="choose")
        return versions[0]
    for version in versions:
        if version.pk == chosen.pk:
            return version
    raise ValidationError("This scorecard is not published for this call's queue.", code="version")


def _locked(evaluation: Evaluation) -> Evaluation:
    # The row lock serialises two tabs (or two people) saving the same evaluation.
    return (
        Evaluation.objects.select_for_update(of=("self",))
        .select_related("scorecard_version")
        .get(pk=evaluation.pk)
    )


def _still_evaluable_by(evaluation: Evaluation, actor) -> Recording:
    """The evaluation's recording, if ``actor`` may evaluate it at this moment."""
    recording = None
    if evaluation.recording_id is not None:
        recording = recordings_evaluable_by(actor).filter(pk=evaluation.recording_id).first()
    if recording is None:
        raise ValidationError(NO_LONGER_EVALUABLE, code="not_evaluable")
    return recording


def _questions(evaluation: Evaluation) -> dict[int, ScorecardQuestion]:
    return {q.pk: q for q in ScorecardQuestion.objects.filter(version_id=evaluation.scorecard_version_id)}


def _answers_apply(
    evaluation: Evaluation, answers: Mapping[int, tuple[str, str]], actor, *, reason: str
) -> None:
    """Write ``answers`` (question id -> (value, text)) over the evaluation's, then its score,
    computed here from the version and every answer it now has."""
    questions = _questions(evaluation)
    foreign = sorted(str(pk) for pk in answers if pk not in questions)
    if foreign:
        raise ValidationError(
            "Answers to questions that are not on this evaluation's scorecard version: "
            f"{', '.join(foreign)}.",
            code="foreign_question",
        )
    for pk, (value, text) in answers.items():
        if len(text) > ANSWER_TEXT_MAX_CHARS:
            raise ValidationError(
                f"The answer to “{questions[pk].text}” is longer than {ANSWER_TEXT_MAX_CHARS:,} characters.",
                code="too_long",
            )
        if questions[pk].answer_type == AnswerType.TEXT and value:
            raise ValidationError(f"“{questions[pk].text}” takes a text, not a value.", code="invalid")
    current = {a.question_id: a for a in evaluation.answers.all()}
    merged = {pk: (a.value, a.text) for pk, a in current.items()}
    merged.update({pk: (value.strip(), text.strip()) for pk, (value, text) in answers.items()})
    result = evaluation_score(
        evaluation.scorecard_version, {pk: value for pk, (value, _text) in merged.items() if value}
    )
    for pk, (value, text) in merged.items():
        answer = current.get(pk)
        if not value and not text:
            if answer is not None:
                answer.delete()
            continue
        earned, possible = result.points.get(pk, (None, None))
        if answer is None:
            answer = Answer(evaluation=evaluation, question_id=pk)
        elif (answer.value, answer.text, answer.points_earned, answer.points_possible) == (
            value,
            text,
            earned,
            possible,
        ):
            continue  # unchanged: no history row
        answer.value, answer.text = value, text
        answer.points_earned, answer.points_possible = earned, possible
        history_save(answer, actor=actor, reason=reason)
    score = None if result.score is None else Decimal(result.score).quantize(Decimal("0.01"))
    model_update(evaluation, actor=actor, reason=reason, score=score, auto_failed=result.auto_failed)


def evaluation_answers_save(
    *, evaluation: Evaluation, answers: Mapping[int, tuple[str, str]], actor
) -> Evaluation:
    """Save a draft's answers (question id -> (value, text)); only its evaluator, only while they
    may still evaluate the recording. An empty value and text clears an answer."""
    with transaction.atomic():
        evaluation = _locked(evaluation)
        _require_evaluator(evaluation, actor)
        if evaluation.status != EvaluationStatus.DRAFT:
            raise ValidationError("Only a draft is saved this way: it was submitted already.", code="status")
        _still_evaluable_by(evaluation, actor)
        _answers_apply(evaluation, answers, actor, reason="answers saved")
        return evaluation


def _require_evaluator(evaluation: Evaluation, actor) -> None:
    if evaluation.evaluator_id != actor.pk:
        raise ValidationError("Only the evaluation's evaluator may change it.", code="not_evaluator")


def _require_complete(evaluation: Evaluation) -> None:
    values = dict(evaluation.answers.exclude(value="").values_list("question_id", "value"))
    answers_complete(evaluation.scorecard_version, values)
    if evaluation.score is None:
        raise ValidationError(
            "Nothing was scored (every question N/A): answer at least one scored question.", code="no_score"
        )


def evaluation_submit(*, evaluation: Evaluation, actor) -> Evaluation:
    """Submit a complete draft: its score is final until re-scored, and the agent's team lead may
    acknowledge or dispute it. Calibration hears of it (``evaluation_submitted``)."""
    with transaction.atomic():
        evaluation = _locked(evaluation)
        _require_evaluator(evaluation, actor)
        if evaluation.status != EvaluationStatus.DRAFT:
            raise ValidationError("This evaluation was submitted already.", code="status")
        _still_evaluable_by(evaluation, actor)
        # The score is computed again from the stored answers, never taken as it was.
        _answers_apply(evaluation, {}, actor, reason="submitted")
        _require_complete(evaluation)
        model_update(
            evaluation,
            actor=actor,
            reason="submitted",
            status=EvaluationStatus.SUBMITTED,
            submitted_at=timezone.now(),
        )
        evaluation_submitted.send(sender=Evaluation, evaluation=evaluation)
        return evaluation


def evaluation_rescore(
    *, evaluation: Evaluation, answers: Mapping[int, tuple[str, str]], actor
) -> Evaluation:
    """Change a submitted or disputed evaluation's answers: by its evaluator (while they may still
    evaluate the call) or a DPO (while it may serve quality assurance). The score is recomputed,
    the history keeps before and after, and the evaluation is submitted again."""
    with transaction.atomic():
        evaluation = _locked(evaluation)
        if evaluation.status not in (EvaluationStatus.SUBMITTED, EvaluationStatus.DISPUTED):
            raise ValidationError("Only a submitted or disputed evaluation is re-scored.", code="status")
        if evaluation.evaluator_id == actor.pk:
            _still_evaluable_by(evaluation, actor)
        elif is_dpo(actor):
            usable = recordings_usable_for_quality_now()
            if evaluation.recording_id is None or not usable.filter(pk=evaluation.recording_id).exists():
                raise ValidationError(NO_LONGER_EVALUABLE, code="not_evaluable")
        else:
            raise ValidationError("Only the evaluator or a DPO may re-score an evaluation.", code="forbidden")
        _answers_apply(evaluation, answers, actor, reason="re-scored")
        _require_complete(evaluation)
        return model_update(evaluation, actor=actor, reason="re-scored", status=EvaluationStatus.SUBMITTED)


def _require_team_lead(evaluation: Evaluation, actor) -> Evaluation:
    evaluation = _locked(evaluation)
    leads = (
        evaluation.agent_id is not None
        and AgentSupervision.objects.filter(agent_id=evaluation.agent_id, team_lead=actor).exists()
    )
    if not (actor.has_perm("reviews.acknowledge_evaluation") and leads):
        raise ValidationError(
            "Only the team lead of the evaluated agent acknowledges or disputes an evaluation.",
            code="not_team_lead",
        )
    if evaluation.evaluator_id == actor.pk:
        raise ValidationError("You wrote this evaluation: another lead must answer it.", code="own")
    if not evaluation_visible_to(actor, evaluation):
        raise ValidationError(NO_LONGER_EVALUABLE, code="not_visible")
    if evaluation.status != EvaluationStatus.SUBMITTED:
        raise ValidationError("Only a submitted evaluation is acknowledged or disputed.", code="status")
    return evaluation


def evaluation_acknowledge(*, evaluation: Evaluation, actor) -> Evaluation:
    """The agent's team lead acknowledges a submitted evaluation."""
    with transaction.atomic():
        evaluation = _require_team_lead(evaluation, actor)
        return model_update(
            evaluation,
            actor=actor,
            reason="acknowledged",
            status=EvaluationStatus.ACKNOWLEDGED,
            acknowledged_at=timezone.now(),
            acknowledged_by=actor,
        )


def evaluation_dispute(*, evaluation: Evaluation, actor, reason: str) -> Evaluation:
    """The agent's team lead disputes a submitted evaluation, saying why; its evaluator (or a
    DPO) may then re-score it."""
    reason = reason.strip()
    if not DISPUTE_REASON_MIN_CHARS <= len(reason) <= DISPUTE_REASON_MAX_CHARS:
        raise ValidationError(
            {
                "reason": f"Say why in {DISPUTE_REASON_MIN_CHARS} to {DISPUTE_REASON_MAX_CHARS:,} "
                "characters; no personal data of the caller."
            },
            code="reason",
        )
    with transaction.atomic():
        evaluation = _require_team_lead(evaluation, actor)
        return model_update(
            evaluation,
            actor=actor,
            reason="disputed",
            status=EvaluationStatus.DISPUTED,
            disputed_at=timezone.now(),
            dispute_reason=reason,
        )


def _call_length_ms(recording: Recording) -> int:
    return max(int(recording.duration.total_seconds() * 1000), 0)


def comment_add(*, evaluation: Evaluation, actor, position_ms: int, body: str) -> TimelineComment:
    """Pin a comment to a point of the call; by the evaluator, while they may see the recording,
    and not once the evaluation was acknowledged."""
    body = body.strip()
    if not body:
        raise ValidationError({"body": "Write the comment."}, code="required")
    if len(body) > COMMENT_MAX_CHARS:
        raise ValidationError(
            {"body": f"A comment has at most {COMMENT_MAX_CHARS:,} characters."}, code="too_long"
        )
    with transaction.atomic():
        evaluation = _locked(evaluation)
        _require_evaluator(evaluation, actor)
        recording = _still_evaluable_by(evaluation, actor)
        if evaluation.status == EvaluationStatus.ACKNOWLEDGED:
            raise ValidationError(
                "This evaluation was acknowledged: it takes no more comments.", code="status"
            )
        length = _call_length_ms(recording)
        if not isinstance(position_ms, int) or not 0 <= position_ms <= length:
            raise ValidationError(
                {"position_ms": f"The position must lie within the call (0 to {length:,} ms)."},
                code="position",
            )
        return TimelineComment.objects.create(
            evaluation=evaluation, author=actor, position_ms=position_ms, body=body
        )


def comment_delete(*, comment: TimelineComment, actor) -> None:
    """Remove a comment: by its author (the evaluator), while they may see the recording."""
    with transaction.atomic():
        evaluation = _locked(comment.evaluation)
        if comment.author_id != actor.pk:
            raise ValidationError("Only its author deletes a comment.", code="not_author")
        _still_evaluable_by(evaluation, actor)
        if evaluation.status == EvaluationStatus.ACKNOWLEDGED:
            raise ValidationError("This evaluation was acknowledged: its comments stay.", code="status")
        TimelineComment.objects.filter(pk=comment.pk).delete()


def evaluation_view_record(*, evaluation: Evaluation, actor, page: str, client_ip: str | None) -> None:
    """The access event of one view of an evaluation (personal data of the agent and the caller)."""
    access_event_record(
        action=AccessAction.VIEW,
        object_type="evaluation",
        object_id=evaluation.pk,
        actor=actor,
        detail={"page": page, "recording_id": evaluation.recording_id},
        client_ip=client_ip,
    )
