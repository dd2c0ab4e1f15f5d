"""Data for the calibration and report tests: a published scorecard of four scored questions and a
text one, QA leads on queue A, and an evaluation submitted the way the evaluations service submits
one (answers, score, status, then ``evaluation_submitted`` in the same transaction)."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from compliance_site.roles import QA_LEAD
from reviews.models import (
    Answer,
    AnswerType,
    Evaluation,
    EvaluationStatus,
    Scorecard,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardVersion,
    VersionStatus,
)
from reviews.signals import evaluation_submitted
from tests.factories import UserFactory

CHOICES = [
    {"label": "Not resolved", "points": 0},
    {"label": "Partly", "points": 1},
    {"label": "Resolved", "points": 2},
]


def published_version(*queues, name: str = "Support basics") -> ScorecardVersion:
    """A scorecard assigned to ``queues``, its version 1 published with five questions (keys
    greeting, empathy, resolution, notice (auto-fail) and notes (text))."""
    scorecard = Scorecard.objects.create(name=name)
    scorecard.queues.set(queues)
    version = ScorecardVersion.objects.create(scorecard=scorecard, number=1)
    section = ScorecardSection.objects.create(version=version, title="Call", weight=1)
    specs = [
        ("greeting", "Greeted the caller?", AnswerType.YES_NO, {"allow_na": True}),
        ("empathy", "Empathy", AnswerType.SCALE, {"scale_min": 1, "scale_max": 5}),
        ("resolution", "Resolved?", AnswerType.CHOICE, {"choices": CHOICES}),
        ("notice", "Read the recording notice?", AnswerType.YES_NO, {"auto_fail": True}),
        ("notes", "Notes", AnswerType.TEXT, {}),
    ]
    for position, (key, text, kind, extra) in enumerate(specs):
        ScorecardQuestion.objects.create(
            version=version, section=section, position=position, key=key, text=text, answer_type=kind, **extra
        )
    version.status, version.published_at = VersionStatus.PUBLISHED, timezone.now()
    version.save()
    return version


def questions(version: ScorecardVersion) -> dict[str, ScorecardQuestion]:
    return {q.key: q for q in version.questions.all()}


def qa_lead(username: str, roles, *queues):
    user = UserFactory(username=username, groups=[roles[QA_LEAD]])
    for queue in queues:
        assign_perm("recordings.review_queue", user, queue)
    return user


def evaluation_submit(
    evaluation: Evaluation,
    *,
    score: str,
    answers: dict[ScorecardQuestion, tuple[str, str | None, str | None]] | None = None,
    auto_failed: bool = False,
    status: str = EvaluationStatus.SUBMITTED,
    at=None,
) -> Evaluation:
    """Answers (question: (value, points earned, points possible)), the score, then the signal."""
    with transaction.atomic():
        for question, (value, earned, possible) in (answers or {}).items():
            Answer.objects.update_or_create(
                evaluation=evaluation,
                question=question,
                defaults={
                    "value": value,
                    "text": "Said thanks." if question.answer_type == AnswerType.TEXT else "",
                    "points_earned": Decimal(earned) if earned is not None else None,
                    "points_possible": Decimal(possible) if possible is not None else None,
                },
            )
        evaluation.status, evaluation.score, evaluation.auto_failed = status, Decimal(score), auto_failed
        evaluation.submitted_at = at or timezone.now()
        if status == EvaluationStatus.DISPUTED:
            evaluation.dispute_reason = "Not my call."
        evaluation.save()
        evaluation_submitted.send(sender=Evaluation, evaluation=evaluation)
    return evaluation
