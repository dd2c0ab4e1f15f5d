"""Rows of the QA reviews for the agent-data tests, made directly (the evaluation services are
another module's): a published scorecard, evaluations with answers and comments, calibrations."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.utils import timezone

from recordings.models import Recording
from reviews.models import (
    Answer,
    AnswerType,
    CalibrationSession,
    Evaluation,
    Scorecard,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardVersion,
    TimelineComment,
    VersionStatus,
)
from tests.factories import UserFactory

CALLER_QUOTE = "Caller said her card number is 4111 1111 1111 1111"


def published_version(name: str = "Greeting and resolution") -> ScorecardVersion:
    scorecard, _ = Scorecard.objects.get_or_create(name=name)
    version = ScorecardVersion.objects.filter(scorecard=scorecard, status=VersionStatus.PUBLISHED).first()
    if version is not None:
        return version
    # Drafted, then published: the database refuses questions added to a published version.
    version = ScorecardVersion.objects.create(scorecard=scorecard, number=1)
    section = ScorecardSection.objects.create(version=version, title="Call")
    ScorecardQuestion.objects.create(
        version=version,
        section=section,
        key="greeting",
        text="Greeted the caller?",
        answer_type=AnswerType.YES_NO,
    )
    ScorecardQuestion.objects.create(
        version=version, section=section, key="notes", text="What happened?", answer_type=AnswerType.TEXT
    )
    ScorecardVersion.objects.filter(pk=version.pk).update(
        status=VersionStatus.PUBLISHED, published_at=timezone.now()
    )
    version.refresh_from_db()
    return version


def evaluation_of(
    recording: Recording | None,
    *,
    evaluator=None,
    agent=None,
    calibration: CalibrationSession | None = None,
    score: str = "80.00",
    created_at: datetime.datetime | None = None,
    queue=None,
) -> Evaluation:
    """A submitted evaluation with a yes/no answer, a text answer quoting the caller and a comment."""
    version = calibration.scorecard_version if calibration is not None else published_version()
    now = timezone.now()
    evaluation = Evaluation.objects.create(
        recording=recording,
        scorecard_version=version,
        queue=queue or recording.queue,
        agent=agent,
        evaluator=evaluator or UserFactory(),
        calibration=calibration,
        status=Evaluation.Status.SUBMITTED,
        score=Decimal(score),
        submitted_at=now,
    )
    if created_at is not None:
        # auto_now_add ignores a given value: an old evaluation is backdated after its creation.
        Evaluation.objects.filter(pk=evaluation.pk).update(created_at=created_at)
        evaluation.refresh_from_db()
    questions = {q.key: q for q in version.questions.all()}
    Answer.objects.create(
        evaluation=evaluation,
        question=questions["greeting"],
        value="yes",
        text="Friendly",
        points_earned=Decimal(1),
        points_possible=Decimal(1),
    )
    Answer.objects.create(evaluation=evaluation, question=questions["notes"], text=CALLER_QUOTE)
    TimelineComment.objects.create(
        evaluation=evaluation, author=evaluation.evaluator, position_ms=83_000, body=CALLER_QUOTE
    )
    return evaluation


def calibration_of(
    recording: Recording, *, participants: int = 2, note: str = CALLER_QUOTE
) -> CalibrationSession:
    """A revealed calibration session with one evaluation per participant."""
    leads = [UserFactory() for _ in range(participants)]
    session = CalibrationSession.objects.create(
        recording=recording,
        scorecard_version=published_version(),
        created_by=leads[0],
        revealed_at=timezone.now(),
        note=note,
    )
    session.participants.set(leads)
    for lead in leads:
        evaluation_of(recording, evaluator=lead, calibration=session)
    return session
