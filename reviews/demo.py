"""The demo's QA reviews (``manage.py seed_demo``): two scorecards, twelve weeks of evaluations with
comments, acknowledgements and a dispute, and two calibrations, made through the reviews' services.

Evaluations happen now, so each is dated back afterwards to a few days after its call (the only
write outside the services: reports over twelve weeks need a past).
"""

from __future__ import annotations

import datetime
import random
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone

from recordings.models import Queue, Recording, RecordingUserObjectPermission
from reviews.agents import agent_supervision_set
from reviews.calibration import calibration_agree, calibration_create
from reviews.models import (
    AgentSupervision,
    AnswerType,
    Evaluation,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardVersion,
)
from reviews.retention import evaluation_keep_until
from reviews.scorecards import scorecard_create, scorecard_version_draft, scorecard_version_publish
from reviews.selectors import recordings_evaluable_by
from reviews.services import (
    comment_add,
    evaluation_acknowledge,
    evaluation_answers_save,
    evaluation_dispute,
    evaluation_start,
    evaluation_submit,
)

WEEKS = 12

# (title, weight, [(key, text, answer type, options)]): a scale's bounds, a choice's options.
ESSENTIALS = [
    (
        "Opening",
        1,
        [
            ("notice", "Gave the recording notice and their name", AnswerType.YES_NO, {"auto_fail": True}),
            ("tone", "Friendly, calm tone", AnswerType.SCALE, {"scale_min": 1, "scale_max": 5}),
        ],
    ),
    (
        "Privacy",
        2,
        [
            (
                "identity",
                "Verified the caller before discussing the account",
                AnswerType.YES_NO,
                {"auto_fail": True},
            ),
            (
                "payment",
                "Card details taken through the secure line, never read back",
                AnswerType.YES_NO,
                {"allow_na": True},
            ),
        ],
    ),
    (
        "Resolution",
        2,
        [
            (
                "resolved",
                "Was the caller's problem resolved?",
                AnswerType.CHOICE,
                {
                    "choices": [
                        {"label": "No", "points": 0},
                        {"label": "Partly", "points": 1},
                        {"label": "Yes", "points": 2},
                    ]
                },
            ),
            ("summary", "Summarised the next steps", AnswerType.YES_NO, {}),
            ("coaching", "Coaching notes", AnswerType.TEXT, {}),
        ],
    ),
]
BILLING = [
    (
        "Accuracy",
        3,
        [
            (
                "invoice",
                "Explained the invoice correctly",
                AnswerType.SCALE,
                {"scale_min": 0, "scale_max": 4},
            ),
            (
                "refund",
                "Applied the refund policy",
                AnswerType.CHOICE,
                {"choices": [{"label": "Wrongly", "points": 0}, {"label": "Correctly", "points": 3}]},
            ),
        ],
    ),
    (
        "Compliance",
        1,
        [("card", "No card number read back to the caller", AnswerType.YES_NO, {"auto_fail": True})],
    ),
]

# How good each agent is (chance of a good answer); Sara improves week by week.
SKILL = {"agent.mila": 0.9, "agent.jonas": 0.7, "agent.sara": 0.5}
COMMENTS = [
    "Good open: notice given straight away.",
    "Hold without telling the caller why.",
    "Clear summary of the refund steps.",
    "Asked for the card number here: should have used the secure line.",
    "Empathetic answer to the complaint.",
]


def _scorecard(name: str, description: str, sections: list, queues: list[Queue], actor, **version: Any):
    scorecard = scorecard_create(name=name, description=description, queues=queues, actor=actor)
    draft = ScorecardVersion.objects.get(scorecard=scorecard, status=ScorecardVersion.Status.DRAFT)
    ScorecardVersion.objects.filter(pk=draft.pk).update(**version)
    position = 0
    for section_position, (title, weight, questions) in enumerate(sections):
        section = ScorecardSection.objects.create(
            version=draft, position=section_position, title=title, weight=Decimal(weight)
        )
        for key, text, answer_type, options in questions:
            ScorecardQuestion.objects.create(
                version=draft,
                section=section,
                position=position,
                key=key,
                text=text,
                answer_type=answer_type,
                **options,
            )
            position += 1
    return scorecard_version_publish(version=draft, actor=actor)


def _answers(version: ScorecardVersion, skill: float, rng: random.Random) -> dict[int, tuple[str, str]]:
    answers: dict[int, tuple[str, str]] = {}
    for question in version.questions.all():
        good = rng.random() < skill
        if question.answer_type == AnswerType.YES_NO:
            if question.allow_na and rng.random() < 0.4:
                value = "na"
            else:
                # An auto-fail "no" is rare: it fails the whole call.
                value = "yes" if good or (question.auto_fail and rng.random() < 0.85) else "no"
        elif question.answer_type == AnswerType.SCALE:
            low, high = question.scale_min or 0, question.scale_max or 1
            value = str(rng.randint((low + high) // 2, high) if good else rng.randint(low, (low + high) // 2))
        elif question.answer_type == AnswerType.CHOICE:
            last = len(question.choices) - 1
            value = str(last if good else rng.randint(0, last))
        else:
            answers[question.pk] = ("", "Keep the summary at the end." if not good else "")
            continue
        answers[question.pk] = (value, "")
    return answers


def _date_back(evaluation: Evaluation, when: datetime.datetime) -> None:
    # A call of the last days was evaluated today, never in the future.
    when = min(when, timezone.now() - datetime.timedelta(hours=3))
    submitted = when + datetime.timedelta(hours=2) if evaluation.submitted_at else None
    Evaluation.objects.filter(pk=evaluation.pk).update(
        created_at=when, submitted_at=submitted, keep_until=evaluation_keep_until(when)
    )


def _evaluate(
    recording: Recording, lead, version, rng: random.Random, now: datetime.datetime, *, submit: bool
):
    evaluation = evaluation_start(recording=recording, evaluator=lead, scorecard_version=version)
    weeks_ago = (now - recording.started_at).days / 7
    skill = SKILL.get(recording.agent.username if recording.agent else "", 0.7)
    if recording.agent and recording.agent.username == "agent.sara":
        skill = min(0.95, 0.4 + 0.05 * (WEEKS - weeks_ago))  # she improves over the weeks
    evaluation_answers_save(evaluation=evaluation, answers=_answers(version, skill, rng), actor=lead)
    seconds = int((recording.ended_at - recording.started_at).total_seconds())
    for _ in range(rng.choice((0, 1, 2))):
        comment_add(
            evaluation=evaluation,
            actor=lead,
            position_ms=rng.randint(0, max(0, seconds - 1)) * 1000,
            body=rng.choice(COMMENTS),
        )
    if submit:
        evaluation = evaluation_submit(evaluation=evaluation, actor=lead)
    return evaluation


def demo_reviews_create(users: dict[str, Any]) -> None:
    """Scorecards, evaluations, team leads and calibrations for the demo's people and calls."""
    rng = random.Random(19)  # noqa: S311 - demo data, not security
    now = timezone.now()
    dpo, qa_admin = users["dpo"], users["qa.admin"]
    billing, technical = users["qa.billing"], users["qa.technical"]
    queues = {queue.code: queue for queue in Queue.objects.all()}
    with transaction.atomic():
        essentials = _scorecard(
            "Customer service essentials",
            "What every support call is scored on: opening, privacy and resolution.",
            ESSENTIALS,
            list(queues.values()),
            qa_admin,
            scoring_rule="weighted_sections",
            pass_mark=Decimal("70"),
        )
        billing_card = _scorecard(
            "Billing accuracy",
            "Invoices and refunds explained right, and card data kept off the call.",
            BILLING,
            [queues["billing"]],
            qa_admin,
            pass_mark=Decimal("75"),
        )
        # The QA administrator has started the next version of the essentials (a draft).
        scorecard_version_draft(scorecard=essentials.scorecard, actor=qa_admin)
        agents = {agent.username: agent for agent in users["agents"]}
        for agent, lead in (("agent.mila", technical), ("agent.jonas", technical), ("agent.sara", billing)):
            supervision = AgentSupervision(agent=agents[agent])
            agent_supervision_set(supervision=supervision, agent=agents[agent], team_lead=lead, actor=dpo)

    since = now - datetime.timedelta(weeks=WEEKS)
    evaluated: list[Evaluation] = []
    for lead in (billing, technical):
        calls = (
            recordings_evaluable_by(lead)
            .filter(started_at__gte=since)
            .select_related("agent")
            .order_by("started_at")
        )
        for recording in calls:
            if rng.random() < 0.15:
                continue  # not every call is evaluated
            version = billing_card if recording.queue.code == "billing" and rng.random() < 0.4 else essentials
            evaluation = _evaluate(recording, lead, version, rng, now, submit=True)
            _date_back(evaluation, recording.started_at + datetime.timedelta(days=rng.uniform(0.5, 4)))
            evaluated.append(evaluation)

    # The team leads acknowledge most of their agents' evaluations, and dispute the lowest one.
    leads: dict[int | None, int] = dict(AgentSupervision.objects.values_list("agent_id", "team_lead_id"))
    people = {user.pk: user for user in (billing, technical)}
    theirs = [e for e in evaluated if leads.get(e.agent_id) not in (None, e.evaluator_id)]
    lowest = min(theirs, key=lambda e: e.score if e.score is not None else Decimal(101), default=None)
    for evaluation in theirs:
        team_lead = people[leads[evaluation.agent_id]]
        if evaluation is lowest:
            evaluation_dispute(
                evaluation=evaluation,
                actor=team_lead,
                reason="The caller was verified by the IVR already: the identity question is N/A here.",
            )
        elif rng.random() < 0.6:
            evaluation_acknowledge(evaluation=evaluation, actor=team_lead)

    _calibrations(users, essentials, rng, now)
    # One evaluation in progress: a draft with notes, for the QA lead to finish.
    latest = (
        recordings_evaluable_by(billing)
        .exclude(evaluations__evaluator=billing)
        .order_by("-started_at")
        .first()
    )
    if latest is not None:
        _evaluate(latest, billing, essentials, rng, now, submit=False)


def _calibrations(users: dict[str, Any], version: ScorecardVersion, rng: random.Random, now) -> None:
    """Two billing calls granted to the technical QA lead for calibration: one scored by both and
    agreed, one still blind (only the billing lead has submitted)."""
    billing, technical, dpo = users["qa.billing"], users["qa.technical"], users["dpo"]
    permission = Permission.objects.get(content_type__app_label="recordings", codename="review_recording")
    calls = list(recordings_evaluable_by(billing).filter(agent__isnull=False).order_by("-started_at")[:2])
    for number, recording in enumerate(calls):
        RecordingUserObjectPermission.objects.create(
            user=technical,
            permission=permission,
            content_object=recording,
            reason="Calibration of the essentials scorecard",
            expires_at=now + datetime.timedelta(days=30),
        )
        session = calibration_create(
            recording=recording, scorecard_version=version, participants=[billing, technical], actor=dpo
        )
        people = (billing, technical) if number == 0 else (billing,)
        for lead in people:
            evaluation = session.evaluations.get(evaluator=lead)
            evaluation_answers_save(evaluation=evaluation, answers=_answers(version, 0.75, rng), actor=lead)
            evaluation_submit(evaluation=evaluation, actor=lead)
        if number == 0:
            session.refresh_from_db()
            scores = [e.score for e in session.evaluations.all() if e.score is not None]
            agreed = (sum(scores, Decimal(0)) / len(scores)).quantize(Decimal("1"))
            calibration_agree(
                session=session, actor=dpo, agreed_score=agreed, note="Agreed after listening together."
            )
