"""Scorecard services (reviews.scorecards): drafts, publishing, retirement, queues, and the frozen
published version, held by the database itself."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from reviews.models import (
    AnswerType,
    Scorecard,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardVersion,
    ScoringRule,
    VersionStatus,
)
from reviews.scorecards import (
    scorecard_assign_queues,
    scorecard_create,
    scorecard_for_queue,
    scorecard_update,
    scorecard_version_draft,
    scorecard_version_problems,
    scorecard_version_publish,
    scorecard_version_update,
)
from tests.factories import QueueFactory, UserFactory


@pytest.fixture
def author(db):
    return UserFactory(username="qa.admin")


def fill(version: ScorecardVersion) -> ScorecardVersion:
    """A small valid form: one section, a yes/no gate, a scale and a choice."""
    section = ScorecardSection.objects.create(version=version, title="Opening", weight=Decimal(2))
    ScorecardQuestion.objects.create(
        version=version,
        section=section,
        key="greeting",
        text="Greets",
        answer_type=AnswerType.YES_NO,
        auto_fail=True,
    )
    ScorecardQuestion.objects.create(
        version=version,
        section=section,
        key="tone",
        text="Tone",
        answer_type=AnswerType.SCALE,
        scale_min=1,
        scale_max=5,
        position=1,
    )
    ScorecardQuestion.objects.create(
        version=version,
        section=section,
        key="close",
        text="Close",
        answer_type=AnswerType.CHOICE,
        choices=[{"label": "No", "points": 0}, {"label": "Yes", "points": 2}],
        position=2,
    )
    return version


def published(author, name: str = "Support calls") -> ScorecardVersion:
    scorecard = scorecard_create(name=name, actor=author)
    draft = fill(scorecard.versions.get())
    return scorecard_version_publish(version=draft, actor=author)


def frozen_write_refused(write) -> None:
    with pytest.raises(IntegrityError, match="frozen"), transaction.atomic():
        write()


# --- create, draft, publish --------------------------------------------------------------------


def test_create_makes_a_scorecard_with_an_empty_first_draft(author):
    queue = QueueFactory()

    scorecard = scorecard_create(name="  Support calls ", description="Inbound", queues=[queue], actor=author)

    assert scorecard.name == "Support calls"
    assert list(scorecard.queues.all()) == [queue]
    version = scorecard.versions.get()
    assert (version.number, version.status, version.created_by) == (1, VersionStatus.DRAFT, author)
    assert scorecard.history.first().history_user == author


@pytest.mark.parametrize("name", ["", "   ", "x" * 201])
def test_create_refuses_a_missing_or_long_name(author, name):
    with pytest.raises(ValidationError):
        scorecard_create(name=name, actor=author)
    assert not Scorecard.objects.exists()


def test_create_refuses_a_name_taken(author):
    scorecard_create(name="Support calls", actor=author)

    with pytest.raises(ValidationError, match="exists"):
        scorecard_create(name="Support calls", actor=author)


def test_update_renames_with_history(author):
    scorecard = scorecard_create(name="Support", actor=author)
    other = scorecard_create(name="Sales", actor=author)

    scorecard_update(scorecard=scorecard, name="Support calls", description="Inbound", actor=author)

    assert Scorecard.objects.get(pk=scorecard.pk).name == "Support calls"
    with pytest.raises(ValidationError, match="exists"):
        scorecard_update(scorecard=other, name="Support calls", description="", actor=author)


def test_publish_freezes_the_draft_and_records_who(author):
    version = published(author)

    assert version.status == VersionStatus.PUBLISHED
    assert version.published_by == author and version.published_at is not None
    record = version.history.first()
    assert (record.status, record.history_user) == (VersionStatus.PUBLISHED, author)


def test_publish_retires_the_previous_version(author):
    first = published(author)
    second = scorecard_version_draft(scorecard=first.scorecard, actor=author)

    scorecard_version_publish(version=second, actor=author)

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (VersionStatus.RETIRED, VersionStatus.PUBLISHED)
    assert first.history.first().history_change_reason == "Replaced by version 2"


def test_publish_refuses_a_version_that_is_not_a_draft(author):
    version = published(author)

    with pytest.raises(ValidationError, match="is published, not a draft"):
        scorecard_version_publish(version=version, actor=author)


def test_publish_refuses_a_version_without_a_scored_question(author):
    scorecard = scorecard_create(name="Empty", actor=author)
    draft = scorecard.versions.get()
    section = ScorecardSection.objects.create(version=draft, title="Notes")
    ScorecardQuestion.objects.create(
        version=draft, section=section, key="notes", text="Notes", answer_type=AnswerType.TEXT
    )
    ScorecardQuestion.objects.create(
        version=draft,
        section=section,
        key="weightless",
        text="Counts for nothing",
        answer_type=AnswerType.YES_NO,
        weight=Decimal(0),
    )

    with pytest.raises(ValidationError, match="at least one scored question"):
        scorecard_version_publish(version=draft, actor=author)
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT


def test_problems_name_each_bad_question(author):
    scorecard = scorecard_create(name="Broken", actor=author)
    draft = fill(scorecard.versions.get())
    section = draft.sections.get()
    ScorecardQuestion.objects.create(
        version=draft,
        section=section,
        key="one-option",
        text="?",
        answer_type=AnswerType.CHOICE,
        choices=[{"label": "Only", "points": 1}],
        position=3,
    )
    ScorecardQuestion.objects.create(
        version=draft,
        section=section,
        key="text-points",
        text="?",
        answer_type=AnswerType.CHOICE,
        choices=[{"label": "A", "points": "1"}, {"label": "B", "points": 2}],
        position=4,
    )

    problems = scorecard_version_problems(draft)

    assert problems == [
        "Question 'one-option': a choice needs at least two options.",
        "Question 'text-points', option 1: the points must be a number.",
        "Question 'text-points': a choice needs at least two options.",
    ]


def test_draft_copies_the_published_version(author):
    first = published(author)

    draft = scorecard_version_draft(scorecard=first.scorecard, actor=author)

    assert (draft.number, draft.status, draft.pass_mark) == (2, VersionStatus.DRAFT, first.pass_mark)
    copied = [(q.key, q.section.title, q.answer_type, q.choices) for q in draft.questions.all()]
    original = [(q.key, q.section.title, q.answer_type, q.choices) for q in first.questions.all()]
    assert copied == original
    assert {q.section.version_id for q in draft.questions.all()} == {draft.pk}


def test_draft_refused_while_a_draft_exists(author):
    scorecard = scorecard_create(name="Support", actor=author)

    with pytest.raises(ValidationError, match="Version 1 is already a draft"):
        scorecard_version_draft(scorecard=scorecard, actor=author)
    assert scorecard.versions.count() == 1


def test_update_changes_a_draft_only(author):
    scorecard = scorecard_create(name="Support", actor=author)
    draft = scorecard.versions.get()

    scorecard_version_update(
        version=draft, scoring_rule=ScoringRule.WEIGHTED_SECTIONS, pass_mark=Decimal(80), actor=author
    )
    draft.refresh_from_db()
    assert (draft.scoring_rule, draft.pass_mark) == (ScoringRule.WEIGHTED_SECTIONS, Decimal(80))

    fill(draft)
    version = scorecard_version_publish(version=draft, actor=author)
    with pytest.raises(ValidationError, match="start a new version"):
        scorecard_version_update(
            version=version, scoring_rule=ScoringRule.WEIGHTED_POINTS, pass_mark=None, actor=author
        )


# --- queues ---------------------------------------------------------------------------------------


def test_scorecard_for_queue_gives_the_published_versions_of_its_scorecards(author):
    queue, other = QueueFactory(), QueueFactory()
    support = published(author, "Support calls")
    sales = published(author, "Sales calls")
    unpublished = scorecard_create(name="Unpublished", actor=author)
    scorecard_assign_queues(scorecard=support.scorecard, queues=[queue], actor=author)
    scorecard_assign_queues(scorecard=sales.scorecard, queues=[queue, other], actor=author)
    scorecard_assign_queues(scorecard=unpublished, queues=[queue], actor=author)
    scorecard_version_draft(scorecard=support.scorecard, actor=author)

    assert list(scorecard_for_queue(queue)) == [sales, support]
    assert list(scorecard_for_queue(other)) == [sales]
    assert list(scorecard_for_queue(QueueFactory())) == []


def test_assigning_queues_is_in_history(author):
    queue = QueueFactory()
    scorecard = scorecard_create(name="Support", actor=author)

    scorecard_assign_queues(scorecard=scorecard, queues=[queue], actor=author)

    latest = scorecard.history.first()
    assert latest.history_user == author
    assert [row.queue_id for row in latest.queues.all()] == [queue.pk]


# --- frozen in the database -------------------------------------------------------------------------


def test_a_direct_save_of_a_published_question_raises(author):
    version = published(author)
    question = version.questions.first()
    question.text = "Rewritten after the fact"

    frozen_write_refused(question.save)

    assert ScorecardQuestion.objects.get(pk=question.pk).text != "Rewritten after the fact"


def test_no_section_or_question_joins_a_published_version(author):
    version = published(author)
    section = version.sections.get()

    frozen_write_refused(lambda: ScorecardSection.objects.create(version=version, title="Late"))
    frozen_write_refused(
        lambda: ScorecardQuestion.objects.create(
            version=version, section=section, key="late", text="Late", answer_type=AnswerType.YES_NO
        )
    )
    frozen_write_refused(lambda: ScorecardSection.objects.filter(pk=section.pk).update(weight=9))
    frozen_write_refused(lambda: ScorecardQuestion.objects.filter(version=version).update(weight=0))


def test_a_published_version_changes_only_by_retiring(author):
    version = published(author)

    frozen_write_refused(lambda: ScorecardVersion.objects.filter(pk=version.pk).update(pass_mark=10))
    frozen_write_refused(lambda: ScorecardVersion.objects.filter(pk=version.pk).update(status="draft"))
    ScorecardVersion.objects.filter(pk=version.pk).update(status=VersionStatus.RETIRED)
    frozen_write_refused(lambda: ScorecardVersion.objects.filter(pk=version.pk).update(status="published"))


@pytest.mark.skipif(connection.vendor != "postgresql", reason="delete triggers exist on PostgreSQL only")
def test_a_published_version_and_its_content_cannot_be_deleted(author):
    version = published(author)

    frozen_write_refused(lambda: ScorecardQuestion.objects.filter(version=version).delete())
    frozen_write_refused(lambda: ScorecardSection.objects.filter(version=version).delete())
    frozen_write_refused(lambda: ScorecardVersion.objects.filter(pk=version.pk).delete())


def test_a_question_cannot_sit_in_a_section_of_another_version(author):
    one = scorecard_create(name="One", actor=author).versions.get()
    two = scorecard_create(name="Two", actor=author).versions.get()
    foreign = ScorecardSection.objects.create(version=two, title="Theirs")

    with pytest.raises(IntegrityError, match="its own version"), transaction.atomic():
        ScorecardQuestion.objects.create(
            version=one, section=foreign, key="stray", text="?", answer_type=AnswerType.YES_NO
        )


def test_a_draft_stays_editable_and_deletable(author):
    draft = fill(scorecard_create(name="Support", actor=author).versions.get())

    ScorecardQuestion.objects.filter(version=draft).update(weight=3)
    draft.questions.filter(key="close").delete()
    draft.delete()

    assert not ScorecardQuestion.objects.filter(version_id=draft.pk).exists()
