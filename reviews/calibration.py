"""Calibration: several QA leads score the same call blind, then compare their answers and agree.

A session is created for a recording every participant may evaluate; each participant gets a
draft evaluation of it. Until the last one submits, a participant reads only their own
(``reviews.selectors.evaluations_visible_to``); the last submission reveals the session. Then
the spread per question and overall is shown, and the DPO or the session's creator records the
agreed score. Calibration evaluations are practice on a shared call, not the agent's record: the
reports leave them out (``reviews.reports``); the agreed score is shown on the session.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from compliance_site.model_update import history_save, model_update
from compliance_site.roles import is_dpo
from recordings.models import Recording
from reviews.models import (
    Answer,
    AnswerType,
    CalibrationSession,
    Evaluation,
    EvaluationStatus,
    ScorecardQuestion,
    ScorecardVersion,
    VersionStatus,
)
from reviews.selectors import (
    evaluations_visible_to,
    recordings_evaluable_by,
    recordings_usable_for_quality_now,
)
from reviews.services import evaluation_start

CALIBRATE = "reviews.calibrate"
MIN_PARTICIPANTS = 2
MAX_PARTICIPANTS = 20
NOTE_MAX_LENGTH = 2000
HUNDRED = Decimal(100)
CENT = Decimal("0.01")


# --- Who may do what ------------------------------------------------------------------------------


def may_create_calibration(user) -> bool:
    """The DPO, or a QA lead who takes part in calibrations and may create sessions."""
    if not user.is_active:
        return False
    return is_dpo(user) or (user.has_perm("reviews.add_calibrationsession") and user.has_perm(CALIBRATE))


def may_agree(user, session: CalibrationSession) -> bool:
    """The DPO or the session's creator records the agreed score."""
    return bool(user.is_active and (is_dpo(user) or session.created_by_id == user.pk))


def calibration_candidates() -> QuerySet:
    """Active users who may take part in a calibration: holders of ``reviews.calibrate``, through
    a group or given directly."""
    calibrate = Permission.objects.filter(codename="calibrate", content_type__app_label="reviews")
    user_model = get_user_model()
    holders = user_model.objects.filter(
        Q(groups__permissions__in=calibrate) | Q(user_permissions__in=calibrate)
    ).values("pk")
    return user_model.objects.filter(pk__in=holders, is_active=True).order_by("username")


def calibration_sessions_visible_to(user) -> QuerySet[CalibrationSession]:
    """Sessions this user may open: all for the DPO and the auditor (``view_all_evaluations``);
    for a QA lead, the sessions they take part in or created. What a session shows of its
    evaluations is still ``evaluations_visible_to`` (blind until revealed, hidden when the
    recording may no longer serve quality assurance)."""
    if not user.is_active or not user.has_perm("reviews.view_calibrationsession"):
        return CalibrationSession.objects.none()
    if user.has_perm("reviews.view_all_evaluations"):
        return CalibrationSession.objects.all()
    taking_part = CalibrationSession.participants.through.objects.filter(user=user)
    return CalibrationSession.objects.filter(
        Q(pk__in=taking_part.values("calibrationsession_id")) | Q(created_by=user)
    )


def recordings_open_to_creator(user) -> QuerySet[Recording]:
    """Recordings ``user`` may set a calibration on: those they may evaluate themselves, or, for
    the DPO (who sees every recording and evaluates none), every recording that may serve quality
    assurance now."""
    if not may_create_calibration(user):
        return Recording.objects.none()
    if is_dpo(user):
        return recordings_usable_for_quality_now()
    return recordings_evaluable_by(user)


# --- Writes ---------------------------------------------------------------------------------------


def calibration_create(
    *,
    recording: Recording,
    scorecard_version: ScorecardVersion,
    participants: Iterable,
    actor,
) -> CalibrationSession:
    """A session on ``recording`` with ``scorecard_version``, and a draft evaluation for each
    participant. Refused unless every participant (at least two, each holding
    ``reviews.calibrate``) and the creator may evaluate the recording now."""
    if not may_create_calibration(actor):
        raise PermissionDenied("You may not create calibration sessions.")
    people = list({p.pk: p for p in participants}.values())
    errors: dict[str, list[str]] = {}
    if not MIN_PARTICIPANTS <= len(people) <= MAX_PARTICIPANTS:
        errors.setdefault("participants", []).append(
            f"A calibration takes {MIN_PARTICIPANTS} to {MAX_PARTICIPANTS} participants."
        )
    lacking = sorted(p.username for p in people if not p.is_active or not p.has_perm(CALIBRATE))
    if lacking:
        errors.setdefault("participants", []).append(
            "Not allowed to take part in calibrations: " + ", ".join(lacking) + "."
        )
    if scorecard_version.status != VersionStatus.PUBLISHED:
        errors["scorecard_version"] = ["Only a published scorecard version can be calibrated."]
    elif not scorecard_version.scorecard.queues.filter(pk=recording.queue_id).exists():
        errors["scorecard_version"] = ["This scorecard is not assigned to the recording's queue."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        # Checked inside the transaction that writes, against the rules as they stand now.
        if not recordings_open_to_creator(actor).filter(pk=recording.pk).exists():
            raise ValidationError({"recording": ["No recording you may evaluate has this reference."]})
        refused = sorted(
            p.username for p in people if not recordings_evaluable_by(p).filter(pk=recording.pk).exists()
        )
        if refused:
            raise ValidationError(
                {"participants": ["May not evaluate this recording now: " + ", ".join(refused) + "."]}
            )
        session = history_save(
            CalibrationSession(recording=recording, scorecard_version=scorecard_version, created_by=actor),
            actor=actor,
        )
        session.participants.set(people)
        for person in people:
            evaluation_start(recording=recording, evaluator=person, calibration=session)
    return session


def calibration_reveal_if_complete(*, session_id: int, actor=None) -> bool:
    """Reveal the session once every participant has submitted; True if this call revealed it."""
    with transaction.atomic():
        # The session row is the lock: of two last submissions at once, the second waits here for
        # the first to commit, then (read committed) counts its evaluation and reveals.
        session = CalibrationSession.objects.select_for_update().filter(pk=session_id).first()
        if session is None or session.revealed_at is not None:
            return False
        participants = set(session.participants.values_list("pk", flat=True))
        submitted = set(
            session.evaluations.exclude(status=EvaluationStatus.DRAFT)
            .filter(evaluator_id__in=participants)
            .values_list("evaluator_id", flat=True)
        )
        if not participants or submitted != participants:
            return False
        model_update(session, actor=actor, reason="Every participant submitted", revealed_at=timezone.now())
    return True


def calibration_reveal_on_submit(sender, *, evaluation: Evaluation, **kwargs) -> None:
    """Receiver of ``reviews.signals.evaluation_submitted`` (inside the submit's transaction)."""
    if evaluation.calibration_id is not None:
        calibration_reveal_if_complete(session_id=evaluation.calibration_id, actor=evaluation.evaluator)


def calibration_agree(
    *, session: CalibrationSession, actor, agreed_score: Decimal, note: str = ""
) -> CalibrationSession:
    """Record the score the participants agreed on, and a note, once the session is revealed."""
    if not may_agree(actor, session):
        raise PermissionDenied("Only the DPO or the session's creator records the agreed score.")
    errors: dict[str, list[str]] = {}
    if not isinstance(agreed_score, Decimal) or not agreed_score.is_finite():
        errors["agreed_score"] = ["The agreed score is a number from 0 to 100."]
    elif not 0 <= agreed_score <= 100 or agreed_score != agreed_score.quantize(CENT):
        errors["agreed_score"] = ["The agreed score is a number from 0 to 100, at most two decimals."]
    if len(note) > NOTE_MAX_LENGTH:
        errors["note"] = [f"The note is at most {NOTE_MAX_LENGTH:,} characters."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        locked = CalibrationSession.objects.select_for_update().get(pk=session.pk)
        if locked.revealed_at is None:
            raise ValidationError("The agreed score is recorded once every participant has submitted.")
        return model_update(
            locked,
            actor=actor,
            agreed_score=agreed_score,
            agreed_by=actor,
            agreed_at=timezone.now(),
            note=note,
        )


# --- The comparison after the reveal --------------------------------------------------------------


@dataclass(frozen=True)
class Spread:
    """Minimum, maximum, mean and population standard deviation of some percentages (None when
    there is none); the participants of a session are the whole population compared."""

    count: int
    minimum: Decimal | None
    maximum: Decimal | None
    mean: Decimal | None
    stdev: Decimal | None

    @classmethod
    def of(cls, values: Sequence[Decimal]) -> Spread:
        if not values:
            return cls(0, None, None, None, None)
        return cls(
            len(values),
            min(values).quantize(CENT),
            max(values).quantize(CENT),
            statistics.mean(values).quantize(CENT),
            statistics.pstdev(values).quantize(CENT),
        )


@dataclass(frozen=True)
class AnswerCell:
    label: str
    percent: Decimal | None  # points earned of points possible, None when the answer scores nothing


@dataclass(frozen=True)
class QuestionRow:
    question: ScorecardQuestion
    cells: list[AnswerCell]  # one per compared evaluation, in their order
    spread: Spread


@dataclass(frozen=True)
class Comparison:
    evaluations: list[Evaluation]
    questions: list[QuestionRow]
    overall: Spread  # of the evaluations' scores


YES_NO_LABELS = {"yes": "Yes", "no": "No", "na": "N/A"}


def answer_label(question: ScorecardQuestion, answer: Answer | None) -> str:
    """An answer as the evaluation form shows it."""
    if answer is None:
        return "—"
    if answer.value == "na":
        return "N/A"
    if question.answer_type == AnswerType.YES_NO:
        return YES_NO_LABELS.get(answer.value, answer.value)
    if question.answer_type == AnswerType.CHOICE:
        choices = question.choices if isinstance(question.choices, list) else []
        if answer.value.isdigit() and int(answer.value) < len(choices):
            return str(choices[int(answer.value)].get("label", answer.value))
        return answer.value
    if question.answer_type == AnswerType.TEXT:
        return answer.text or "—"
    return answer.value or "—"


def answer_percent(answer: Answer | None) -> Decimal | None:
    if answer is None or answer.points_earned is None or not answer.points_possible:
        return None
    return (answer.points_earned / answer.points_possible * HUNDRED).quantize(CENT)


def calibration_comparison(session: CalibrationSession, evaluations: Sequence[Evaluation]) -> Comparison:
    """Per question, each evaluation's answer and the spread of their points (%); overall, the
    spread of the scores. Two queries, whatever the number of participants."""
    questions = list(
        ScorecardQuestion.objects.filter(version_id=session.scorecard_version_id).select_related("section")
    )
    answers = {
        (a.evaluation_id, a.question_id): a
        for a in Answer.objects.filter(evaluation__in=[e.pk for e in evaluations])
    }
    rows = []
    for question in questions:
        found = [answers.get((e.pk, question.pk)) for e in evaluations]
        cells = [AnswerCell(answer_label(question, a), answer_percent(a)) for a in found]
        rows.append(
            QuestionRow(question, cells, Spread.of([c.percent for c in cells if c.percent is not None]))
        )
    scores = [e.score for e in evaluations if e.score is not None]
    return Comparison(list(evaluations), rows, Spread.of(scores))


def calibration_evaluations_for(user, session: CalibrationSession) -> list[Evaluation]:
    """The session's evaluations ``user`` may read, by evaluator's username."""
    return list(
        evaluations_visible_to(user)
        .filter(calibration=session)
        .select_related("evaluator")
        .order_by("evaluator__username", "pk")
    )
