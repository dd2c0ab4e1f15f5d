"""Scorecards (evaluation forms): create them, draft and publish their versions, assign them to queues.

A published version is frozen: evaluations name it, so its meaning must never change. The database
holds that rule (triggers of migration ``0002_scorecard_frozen``: a published or retired
version, its sections and its questions refuse every write but the version's own retirement); the
services check it first to say so clearly, and the admin shows such a version read only.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from compliance_site.model_update import history_save, model_update
from recordings.models import Queue
from reviews.models import (
    AnswerType,
    Scorecard,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardVersion,
    ScoringRule,
    VersionStatus,
)
from reviews.scoring import choice_points

NAME_MAX_LENGTH = 200


def _locked_scorecard(scorecard: Scorecard) -> Scorecard:
    # Drafting and publishing lock the scorecard first, then its versions: one writer at a time
    # decides which version is the draft and which the published one.
    return Scorecard.objects.select_for_update().get(pk=scorecard.pk)


def scorecard_create(*, name: str, description: str = "", queues: Iterable[Queue] = (), actor) -> Scorecard:
    """A new scorecard with its first, empty draft version (v1)."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the scorecard a name."})
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError({"name": f"At most {NAME_MAX_LENGTH} characters."})
    with transaction.atomic():
        if Scorecard.objects.filter(name=name).exists():
            raise ValidationError({"name": "A scorecard with this name exists."})
        scorecard = history_save(Scorecard(name=name, description=description, created_by=actor), actor=actor)
        scorecard._history_user = actor  # type: ignore[attr-defined]
        scorecard.queues.set(list(queues))
        history_save(ScorecardVersion(scorecard=scorecard, number=1, created_by=actor), actor=actor)
    return scorecard


def scorecard_update(*, scorecard: Scorecard, name: str, description: str, actor) -> Scorecard:
    """Rename or redescribe a scorecard; its versions are untouched."""
    name = name.strip()
    if not name:
        raise ValidationError({"name": "Give the scorecard a name."})
    with transaction.atomic():
        if Scorecard.objects.filter(name=name).exclude(pk=scorecard.pk).exists():
            raise ValidationError({"name": "A scorecard with this name exists."})
        return model_update(scorecard, actor=actor, name=name, description=description)


def scorecard_assign_queues(*, scorecard: Scorecard, queues: Iterable[Queue], actor) -> None:
    """The queues whose calls are evaluated with this scorecard; the change is in its history."""
    with transaction.atomic():
        scorecard._history_user = actor  # type: ignore[attr-defined]
        scorecard.queues.set(list(queues))


def scorecard_version_draft(*, scorecard: Scorecard, actor) -> ScorecardVersion:
    """A new draft: a copy of the published version's sections and questions (empty when none
    was ever published), numbered after the last version. Refused while a draft exists."""
    with transaction.atomic():
        scorecard = _locked_scorecard(scorecard)
        versions = ScorecardVersion.objects.filter(scorecard=scorecard)
        existing = versions.filter(status=VersionStatus.DRAFT).first()
        if existing is not None:
            raise ValidationError(f"Version {existing.number} is already a draft: edit or publish it first.")
        number = (versions.aggregate(last=Max("number"))["last"] or 0) + 1
        source = versions.filter(status=VersionStatus.PUBLISHED).first()
        draft = history_save(
            ScorecardVersion(
                scorecard=scorecard,
                number=number,
                created_by=actor,
                scoring_rule=source.scoring_rule if source else ScoringRule.WEIGHTED_POINTS,
                pass_mark=source.pass_mark if source else None,
            ),
            actor=actor,
            reason=f"Drafted from version {source.number}" if source else "",
        )
        if source is not None:
            _copy_content(source=source, draft=draft)
    return draft


def _copy_content(*, source: ScorecardVersion, draft: ScorecardVersion) -> None:
    sections: dict[int, ScorecardSection] = {}
    for section in source.sections.all():
        sections[section.pk] = ScorecardSection.objects.create(
            version=draft, position=section.position, title=section.title, weight=section.weight
        )
    # Sections and questions have no history (the version's history and its frozen content are
    # the record), so a bulk insert loses nothing.
    ScorecardQuestion.objects.bulk_create(
        ScorecardQuestion(
            version=draft,
            section=sections[question.section_id],
            position=question.position,
            key=question.key,
            text=question.text,
            guidance=question.guidance,
            answer_type=question.answer_type,
            weight=question.weight,
            allow_na=question.allow_na,
            scale_min=question.scale_min,
            scale_max=question.scale_max,
            choices=question.choices,
            auto_fail=question.auto_fail,
        )
        for question in source.questions.all()
    )


def scorecard_version_problems(version: ScorecardVersion) -> list[str]:
    """What stops ``version`` from being published (empty: nothing); the publish page lists them."""
    problems: list[str] = []
    sections = {section.pk for section in version.sections.all()}
    questions = list(version.questions.all())
    keys: set[str] = set()
    scoring = False
    for question in questions:
        label = f"Question '{question.key}'"
        if question.key in keys:
            problems.append(f"{label}: another question has the same key.")
        keys.add(question.key)
        if question.section_id not in sections:
            problems.append(f"{label} sits in a section of another version.")
        if question.auto_fail and question.answer_type != AnswerType.YES_NO:
            problems.append(f"{label}: only a yes/no question can fail the evaluation.")
        possible = Decimal(1)
        if question.answer_type == AnswerType.SCALE:
            low, high = question.scale_min, question.scale_max
            if low is None or high is None or high <= low:
                problems.append(f"{label}: a scale needs a lowest value below its highest.")
        elif question.answer_type == AnswerType.CHOICE:
            try:
                points = choice_points(question)
            except ValidationError as exc:
                problems.extend(exc.messages)
                points = []
            if len(points) < 2:
                problems.append(f"{label}: a choice needs at least two options.")
            possible = max(points, default=Decimal(0))
        if question.answer_type != AnswerType.TEXT and question.weight > 0 and possible > 0:
            scoring = True
    if not scoring:
        problems.append(
            "The version needs at least one scored question (yes/no, scale or choice) with a weight "
            "above 0 that can earn points."
        )
    return problems


def scorecard_version_publish(*, version: ScorecardVersion, actor) -> ScorecardVersion:
    """Publish a draft: it becomes the version evaluations use, and the one published before it
    is retired (evaluations already made keep naming it)."""
    with transaction.atomic():
        _locked_scorecard(version.scorecard)
        version = ScorecardVersion.objects.select_for_update().get(pk=version.pk)
        if not version.is_draft:
            raise ValidationError(
                f"Version {version.number} is {version.get_status_display().lower()}, not a draft."
            )
        problems = scorecard_version_problems(version)
        if problems:
            raise ValidationError(problems)
        previous = ScorecardVersion.objects.filter(
            scorecard_id=version.scorecard_id, status=VersionStatus.PUBLISHED
        ).first()
        if previous is not None:
            model_update(
                previous,
                actor=actor,
                reason=f"Replaced by version {version.number}",
                status=VersionStatus.RETIRED,
            )
        return model_update(
            version,
            actor=actor,
            status=VersionStatus.PUBLISHED,
            published_at=timezone.now(),
            published_by=actor,
        )


def scorecard_version_update(
    *, version: ScorecardVersion, scoring_rule: str, pass_mark: Decimal | None, actor
) -> ScorecardVersion:
    """Change a draft's scoring rule or pass mark; the caller may then edit its sections and
    questions in the same transaction, the version locked against a concurrent publish."""
    with transaction.atomic():
        locked = ScorecardVersion.objects.select_for_update().get(pk=version.pk)
        if not locked.is_draft:
            raise ValidationError(
                f"Version {locked.number} is {locked.get_status_display().lower()}: "
                "start a new version to change it."
            )
        return model_update(version, actor=actor, scoring_rule=scoring_rule, pass_mark=pass_mark)


def scorecard_for_queue(queue: Queue) -> QuerySet[ScorecardVersion]:
    """The published versions to evaluate ``queue``'s calls with, one per scorecard assigned to
    it (several: the evaluator chooses)."""
    return (
        ScorecardVersion.objects.filter(status=VersionStatus.PUBLISHED, scorecard__queues=queue)
        .select_related("scorecard")
        .order_by("scorecard__name")
    )
