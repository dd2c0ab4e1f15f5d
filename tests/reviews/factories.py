"""Factories and personas' helpers for the QA reviews' tests: a published scorecard assigned to a
queue, evaluations in each state, an agent with their team lead."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth.models import Group
from django.utils import timezone

from compliance_site.roles import QA_LEAD
from recordings.models import Queue, Recording
from reviews.models import (
    AgentSupervision,
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
from reviews.scoring import evaluation_score
from tests.factories import UserFactory


def scorecard_published(*queues: Queue, name: str = "Service basics") -> ScorecardVersion:
    """A published version with two sections: greeting (a yes/no auto-fail question, a 1-5 scale)
    and resolution (a choice, a text), assigned to ``queues``."""
    scorecard = Scorecard.objects.create(name=name)
    scorecard.queues.set(queues)
    version = ScorecardVersion.objects.create(
        scorecard=scorecard,
        number=1,
        status=VersionStatus.PUBLISHED,
        published_at=timezone.now(),
        pass_mark=Decimal("70"),
    )
    greeting = ScorecardSection.objects.create(version=version, position=0, title="Greeting")
    resolution = ScorecardSection.objects.create(version=version, position=1, title="Resolution")
    questions = [
        (greeting, "identified", AnswerType.YES_NO, {"auto_fail": True}),
        (greeting, "tone", AnswerType.SCALE, {"scale_min": 1, "scale_max": 5, "allow_na": True}),
        (
            resolution,
            "resolved",
            AnswerType.CHOICE,
            {"choices": [{"label": "No", "points": 0}, {"label": "Partly", "points": 1}, {"label": "Yes", "points": 2}]},
        ),
        (resolution, "notes", AnswerType.TEXT, {}),
    ]
    for position, (section, key, answer_type, extra) in enumerate(questions):
        ScorecardQuestion.objects.create(
            version=version,
            section=section,
            position=position,
            key=key,
            text=f"Question {key}?",
            answer_type=answer_type,
            **extra,
        )
    return version


def question(version: ScorecardVersion, key: str) -> ScorecardQuestion:
    return version.questions.get(key=key)


def full_answers(version: ScorecardVersion) -> dict[int, tuple[str, str]]:
    """A complete set of answers: yes, 4 of 5, partly (1 of 2 points), a note;
    scores (1 + 0.75 + 1) / 4 = 68.75."""
    return {
        question(version, "identified").pk: ("yes", ""),
        question(version, "tone").pk: ("4", ""),
        question(version, "resolved").pk: ("1", ""),
        question(version, "notes").pk: ("", "Polite; offered a callback."),
    }


def evaluation_make(
    *,
    recording: Recording,
    evaluator,
    version: ScorecardVersion,
    status: str = EvaluationStatus.DRAFT,
    answered: bool = True,
) -> Evaluation:
    """An evaluation row as the services would leave it, made directly (whatever the recording's
    state now: the tests change the state after)."""
    answers = full_answers(version) if answered else {}
    result = evaluation_score(version, {pk: value for pk, (value, _text) in answers.items() if value})
    submitted = status != EvaluationStatus.DRAFT
    evaluation = Evaluation.objects.create(
        recording=recording,
        scorecard_version=version,
        queue_id=recording.queue_id,
        agent_id=recording.agent_id,
        evaluator=evaluator,
        status=status,
        score=result.score if answered else None,
        auto_failed=result.auto_failed,
        submitted_at=timezone.now() if submitted else None,
        dispute_reason="The customer asked for it." if status == EvaluationStatus.DISPUTED else "",
    )
    for pk, (value, text) in answers.items():
        earned, possible = result.points.get(pk, (None, None))
        Answer.objects.create(
            evaluation=evaluation,
            question_id=pk,
            value=value,
            text=text,
            points_earned=earned,
            points_possible=possible,
        )
    return evaluation


def agent_with_team_lead(*, agent_username: str = "agent.smith", lead_username: str = "tess.teamlead"):
    """A staff agent (no role) and their team lead, a QA lead with no queue of their own."""
    agent = UserFactory(username=agent_username)
    lead = UserFactory(username=lead_username, groups=[Group.objects.get(name=QA_LEAD)])
    AgentSupervision.objects.create(agent=agent, team_lead=lead)
    return agent, lead
