"""The evaluation lifecycle's services: who may start, answer, submit, re-score, acknowledge,
dispute and comment, and that each re-checks at the moment it writes."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from recordings.models import Consent, Recording
from recordings.services import consent_withdraw
from reviews.models import Evaluation, EvaluationStatus, TimelineComment
from reviews.services import (
    comment_add,
    comment_delete,
    evaluation_acknowledge,
    evaluation_answers_save,
    evaluation_dispute,
    evaluation_rescore,
    evaluation_start,
    evaluation_submit,
)
from reviews.signals import evaluation_submitted
from tests.factories import RecordingFactory
from tests.reviews.factories import (
    agent_with_team_lead,
    evaluation_make,
    full_answers,
    question,
    scorecard_published,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(queue_a, queue_b):
    return scorecard_published(queue_a, queue_b)


@pytest.fixture
def agent_and_lead(roles):
    return agent_with_team_lead()


@pytest.fixture
def call(queue_a, agent_and_lead) -> Recording:
    return RecordingFactory(queue=queue_a, agent=agent_and_lead[0])


def test_a_qa_lead_starts_a_draft_with_the_queues_version_and_the_calls_queue_and_agent(
    qa_lead_a, call, version, agent_and_lead
):
    evaluation = evaluation_start(recording=call, evaluator=qa_lead_a)

    assert evaluation.status == EvaluationStatus.DRAFT
    assert (evaluation.scorecard_version, evaluation.queue_id, evaluation.agent) == (
        version,
        call.queue_id,
        agent_and_lead[0],
    )
    with pytest.raises(ValidationError, match="already evaluated"):
        evaluation_start(recording=call, evaluator=qa_lead_a)


def test_several_scorecards_on_the_queue_make_the_evaluator_choose(qa_lead_a, call, version, queue_a):
    other = scorecard_published(queue_a, name="Sales")

    with pytest.raises(ValidationError, match="choose one"):
        evaluation_start(recording=call, evaluator=qa_lead_a)
    assert evaluation_start(recording=call, evaluator=qa_lead_a, scorecard_version=other).scorecard_version == other


def test_a_version_of_another_queue_is_refused(qa_lead_a, call, version, queue_b):
    foreign = scorecard_published(queue_b, name="Only B")

    with pytest.raises(ValidationError, match="not published for this call's queue"):
        evaluation_start(recording=call, evaluator=qa_lead_a, scorecard_version=foreign)


@pytest.mark.parametrize("persona", ["qa_lead_b", "dpo", "auditor", "stranger"])
def test_only_someone_who_may_evaluate_the_call_starts(request, call, version, persona):
    with pytest.raises(ValidationError, match="may not evaluate"):
        evaluation_start(recording=call, evaluator=request.getfixturevalue(persona))
    assert not Evaluation.objects.exists()


def test_saving_scores_on_the_server_on_every_save(qa_lead_a, call, version):
    evaluation = evaluation_start(recording=call, evaluator=qa_lead_a)

    evaluation_answers_save(
        evaluation=evaluation, answers={question(version, "identified").pk: ("yes", "")}, actor=qa_lead_a
    )
    evaluation.refresh_from_db()
    assert evaluation.score == Decimal("100.00")

    evaluation_answers_save(evaluation=evaluation, answers=full_answers(version), actor=qa_lead_a)
    evaluation.refresh_from_db()
    assert evaluation.score == Decimal("68.75")  # (1 + 0.75 + 1 of 2 points) / 4
    assert evaluation.answers.get(question=question(version, "notes")).text == "Polite; offered a callback."

    evaluation_answers_save(
        evaluation=evaluation, answers={question(version, "identified").pk: ("no", "")}, actor=qa_lead_a
    )
    evaluation.refresh_from_db()
    assert (evaluation.score, evaluation.auto_failed) == (Decimal("0.00"), True)


def test_a_value_the_question_does_not_accept_is_refused_and_nothing_changes(qa_lead_a, call, version):
    evaluation = evaluation_start(recording=call, evaluator=qa_lead_a)

    with pytest.raises(ValidationError, match="answer a whole number from 1 to 5"):
        evaluation_answers_save(
            evaluation=evaluation, answers={question(version, "tone").pk: ("11", "")}, actor=qa_lead_a
        )
    assert not evaluation.answers.exists()


def test_answers_to_another_versions_questions_are_refused(qa_lead_a, call, version, queue_b):
    other = scorecard_published(queue_b, name="Other")
    evaluation = evaluation_start(recording=call, evaluator=qa_lead_a)

    with pytest.raises(ValidationError, match="not on this evaluation's scorecard version"):
        evaluation_answers_save(
            evaluation=evaluation, answers={question(other, "identified").pk: ("yes", "")}, actor=qa_lead_a
        )
    assert not evaluation.answers.exists()


def test_a_withdrawn_consent_refuses_the_next_save(qa_lead_a, call, version):
    # given: a draft
    evaluation = evaluation_start(recording=call, evaluator=qa_lead_a)

    # when: the caller withdraws their quality-assurance consent
    consent_withdraw(consent=Consent.objects.get(recording=call), via=Consent.Channel.PHONE)

    # then: nothing more is written
    with pytest.raises(ValidationError, match="no longer serve quality assurance"):
        evaluation_answers_save(evaluation=evaluation, answers=full_answers(version), actor=qa_lead_a)
    with pytest.raises(ValidationError, match="no longer serve quality assurance"):
        comment_add(evaluation=evaluation, actor=qa_lead_a, position_ms=1000, body="Here.")
    assert not evaluation.answers.exists()


def test_submit_needs_every_scored_answer_then_fires_the_signal(qa_lead_a, call, version):
    evaluation = evaluation_start(recording=call, evaluator=qa_lead_a)
    evaluation_answers_save(
        evaluation=evaluation, answers={question(version, "identified").pk: ("yes", "")}, actor=qa_lead_a
    )
    with pytest.raises(ValidationError, match="unanswered: tone, resolved"):
        evaluation_submit(evaluation=evaluation, actor=qa_lead_a)

    heard = []

    def receiver(sender, evaluation, **kwargs):
        heard.append(evaluation.pk)

    evaluation_submitted.connect(receiver)
    try:
        evaluation_answers_save(evaluation=evaluation, answers=full_answers(version), actor=qa_lead_a)
        evaluation_submit(evaluation=evaluation, actor=qa_lead_a)
    finally:
        evaluation_submitted.disconnect(receiver)

    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.score) == (EvaluationStatus.SUBMITTED, Decimal("68.75"))
    assert evaluation.submitted_at is not None
    assert heard == [evaluation.pk]
    with pytest.raises(ValidationError, match="submitted already"):
        evaluation_answers_save(evaluation=evaluation, answers=full_answers(version), actor=qa_lead_a)


def test_only_the_evaluator_saves_or_submits(qa_lead_a, call, version, roles):
    from guardian.shortcuts import assign_perm

    from tests.factories import UserFactory

    other_lead = UserFactory(username="qa.a2", groups=[roles["QA lead"]])
    assign_perm("recordings.review_queue", other_lead, call.queue)
    evaluation = evaluation_make(recording=call, evaluator=qa_lead_a, version=version)

    with pytest.raises(ValidationError, match="Only the evaluation's evaluator"):
        evaluation_answers_save(evaluation=evaluation, answers=full_answers(version), actor=other_lead)
    with pytest.raises(ValidationError, match="Only the evaluation's evaluator"):
        evaluation_submit(evaluation=evaluation, actor=other_lead)
    with pytest.raises(ValidationError, match="Only the evaluation's evaluator"):
        comment_add(evaluation=evaluation, actor=other_lead, position_ms=0, body="Mine?")


def test_the_team_lead_disputes_with_a_reason_then_the_evaluator_rescores_with_history(
    qa_lead_a, call, version, agent_and_lead
):
    # given: a submitted evaluation of the lead's agent
    lead = agent_and_lead[1]
    evaluation = evaluation_make(
        recording=call, evaluator=qa_lead_a, version=version, status=EvaluationStatus.SUBMITTED
    )

    # then: a dispute needs a reason
    with pytest.raises(ValidationError, match="Say why"):
        evaluation_dispute(evaluation=evaluation, actor=lead, reason="  no ")

    # when: the lead disputes it, and the evaluator re-scores it
    evaluation_dispute(evaluation=evaluation, actor=lead, reason="The agent did resolve the issue.")
    evaluation_rescore(
        evaluation=evaluation,
        answers={question(version, "resolved").pk: ("2", "")},
        actor=qa_lead_a,
    )

    # then: submitted again with the new score, and the history keeps each step
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.score) == (EvaluationStatus.SUBMITTED, Decimal("93.75"))
    steps = list(
        evaluation.history.order_by("history_date", "history_id").values_list(
            "history_change_reason", "status", "score"
        )
    )
    assert steps[-3:] == [
        ("disputed", EvaluationStatus.DISPUTED, Decimal("68.75")),
        ("re-scored", EvaluationStatus.DISPUTED, Decimal("93.75")),
        ("re-scored", EvaluationStatus.SUBMITTED, Decimal("93.75")),
    ]

    # when: the lead acknowledges it
    evaluation_acknowledge(evaluation=evaluation, actor=lead)
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.acknowledged_by) == (EvaluationStatus.ACKNOWLEDGED, lead)

    # then: an acknowledged evaluation is not re-scored
    with pytest.raises(ValidationError, match="Only a submitted or disputed"):
        evaluation_rescore(evaluation=evaluation, answers={}, actor=qa_lead_a)


def test_a_dpo_rescores_but_a_stranger_does_not(qa_lead_a, dpo, stranger, call, version):
    evaluation = evaluation_make(
        recording=call, evaluator=qa_lead_a, version=version, status=EvaluationStatus.SUBMITTED
    )
    with pytest.raises(ValidationError, match="Only the evaluator or a DPO"):
        evaluation_rescore(evaluation=evaluation, answers={}, actor=stranger)

    evaluation_rescore(
        evaluation=evaluation, answers={question(version, "tone").pk: ("1", "")}, actor=dpo
    )
    evaluation.refresh_from_db()
    assert evaluation.score == Decimal("50.00")
    assert evaluation.history.filter(history_user=dpo, history_change_reason="re-scored").exists()


def test_no_one_but_the_agents_team_lead_acknowledges(qa_lead_a, dpo, call, version, agent_and_lead):
    evaluation = evaluation_make(
        recording=call, evaluator=qa_lead_a, version=version, status=EvaluationStatus.SUBMITTED
    )
    for actor in (qa_lead_a, dpo):
        with pytest.raises(ValidationError, match="Only the team lead"):
            evaluation_acknowledge(evaluation=evaluation, actor=actor)


def test_a_team_lead_does_not_answer_their_own_evaluation(call, version, agent_and_lead, queue_a):
    from guardian.shortcuts import assign_perm

    lead = agent_and_lead[1]
    assign_perm("recordings.review_queue", lead, queue_a)
    evaluation = evaluation_make(recording=call, evaluator=lead, version=version, status=EvaluationStatus.SUBMITTED)

    with pytest.raises(ValidationError, match="another lead must answer it"):
        evaluation_acknowledge(evaluation=evaluation, actor=lead)


def test_the_team_lead_cannot_answer_once_the_call_is_restricted(qa_lead_a, call, version, agent_and_lead):
    evaluation = evaluation_make(
        recording=call, evaluator=qa_lead_a, version=version, status=EvaluationStatus.SUBMITTED
    )
    Recording.objects.filter(pk=call.pk).update(status=Recording.Status.RESTRICTED)

    with pytest.raises(ValidationError, match="no longer serve quality assurance"):
        evaluation_acknowledge(evaluation=evaluation, actor=agent_and_lead[1])
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUBMITTED


@pytest.mark.parametrize(
    ("position_ms", "body", "error"),
    [
        (-1, "Before the call.", "within the call"),
        (4 * 60 * 1000 + 1, "After the call.", "within the call"),
        (1000, "   ", "Write the comment"),
        (1000, "x" * 2001, "at most 2,000 characters"),
    ],
)
def test_a_comment_lies_within_the_call_and_says_something_short(qa_lead_a, call, version, position_ms, body, error):
    evaluation = evaluation_make(recording=call, evaluator=qa_lead_a, version=version)

    with pytest.raises(ValidationError, match=error):
        comment_add(evaluation=evaluation, actor=qa_lead_a, position_ms=position_ms, body=body)
    assert not TimelineComment.objects.exists()


def test_comments_are_added_and_deleted_by_their_author(qa_lead_a, call, version):
    evaluation = evaluation_make(recording=call, evaluator=qa_lead_a, version=version)

    comment = comment_add(evaluation=evaluation, actor=qa_lead_a, position_ms=83_000, body="Hold was too long.")
    assert (comment.position_ms, comment.body, comment.author) == (83_000, "Hold was too long.", qa_lead_a)
    comment_delete(comment=comment, actor=qa_lead_a)
    assert not TimelineComment.objects.exists()


def test_past_its_retention_a_call_takes_no_more_answers(qa_lead_a, call, version):
    evaluation = evaluation_make(recording=call, evaluator=qa_lead_a, version=version)
    Recording.objects.filter(pk=call.pk).update(keep_until=timezone.now() - datetime.timedelta(minutes=1))

    with pytest.raises(ValidationError, match="no longer serve quality assurance"):
        evaluation_submit(evaluation=evaluation, actor=qa_lead_a)
