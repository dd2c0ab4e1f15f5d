"""The server's scoring of an evaluation: each answer's points and the score, from the scorecard
version and the raw answer values. Pure: it writes nothing and reads only the version's own rows.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from django.core.exceptions import ValidationError

from reviews.models import AnswerType, ScorecardQuestion, ScorecardVersion, ScoringRule

YES = "yes"
NO = "no"
NA = "na"
# The longest value a text question accepts (its answer is the free text itself).
TEXT_ANSWER_MAX_LENGTH = 10_000
# Answer.points_* columns: 8 digits, 2 of them decimals.
CHOICE_POINTS_MAX = Decimal("999999.99")

# Scale answers are plain integers ("-2", "7"): no sign "+", no spaces, no decimals.
_INTEGER = re.compile(r"-?[0-9]{1,6}")
_INDEX = re.compile(r"[0-9]{1,4}")
_HUNDRED = Fraction(100)

Points = tuple[Decimal | None, Decimal | None]


class AnswerInvalid(ValidationError):
    """A value the question does not accept, or a question the version does not have."""

    def __init__(self, message: str, *, question_id: int | None = None) -> None:
        super().__init__(message, code="answer_invalid")
        self.question_id = question_id


class AnswersIncomplete(ValidationError):
    """Questions left unanswered at submit (text questions may stay empty)."""

    def __init__(self, missing: list[ScorecardQuestion]) -> None:
        keys = ", ".join(question.key for question in missing)
        super().__init__(f"Answer every question before submitting (unanswered: {keys}).", code="incomplete")
        self.missing = [question.pk for question in missing]


@dataclass(frozen=True)
class ScoreResult:
    """``score`` 0-100 with 2 decimals (None: nothing scored yet); ``points`` maps every question
    of the version to its (earned, possible) points, both None when it does not count (text,
    N/A, unanswered)."""

    score: Decimal | None
    auto_failed: bool
    points: dict[int, Points]


def choice_points(question: ScorecardQuestion) -> list[Decimal]:
    """The points of a choice question's options, in order; ValidationError when the options are
    not a list of {"label": text, "points": number >= 0 with at most 2 decimals}."""
    options = question.choices
    if not isinstance(options, list):
        raise ValidationError(f"Question '{question.key}': the choices must be a list of options.")
    points: list[Decimal] = []
    for index, option in enumerate(options):
        where = f"Question '{question.key}', option {index + 1}"
        if not isinstance(option, dict) or set(option) != {"label", "points"}:
            raise ValidationError(f'{where}: write it as {{"label": "...", "points": 1}}.')
        label, raw = option["label"], option["points"]
        if not isinstance(label, str) or not label.strip():
            raise ValidationError(f"{where}: the label must be a non-empty text.")
        # bool is an int to Python but not a number to a form designer.
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ValidationError(f"{where}: the points must be a number.")
        if isinstance(raw, float) and not math.isfinite(raw):
            raise ValidationError(f"{where}: the points must be a finite number.")
        value = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(raw)
        if value < 0 or value > CHOICE_POINTS_MAX:
            raise ValidationError(f"{where}: the points must be between 0 and {CHOICE_POINTS_MAX}.")
        if value != value.quantize(Decimal("0.01")):
            raise ValidationError(f"{where}: the points may have at most 2 decimals.")
        points.append(value)
    return points


def _question_points(question: ScorecardQuestion, value: str) -> tuple[Fraction, Fraction] | None:
    """(earned, possible) for one answer, or None when it does not count; AnswerInvalid for a
    value the question does not accept."""
    qid = question.pk
    if not isinstance(value, str):
        raise AnswerInvalid(f"Question '{question.key}': the answer must be text.", question_id=qid)
    if question.answer_type == AnswerType.TEXT:
        if len(value) > TEXT_ANSWER_MAX_LENGTH:
            raise AnswerInvalid(
                f"Question '{question.key}': at most {TEXT_ANSWER_MAX_LENGTH} characters.", question_id=qid
            )
        return None
    if value == "":
        return None
    if value == NA:
        if not question.allow_na:
            raise AnswerInvalid(f"Question '{question.key}' cannot be answered N/A.", question_id=qid)
        return None
    if question.answer_type == AnswerType.YES_NO:
        if value not in (YES, NO):
            raise AnswerInvalid(f"Question '{question.key}': answer yes or no.", question_id=qid)
        return (Fraction(1 if value == YES else 0), Fraction(1))
    if question.answer_type == AnswerType.SCALE:
        low, high = question.scale_min, question.scale_max
        if low is None or high is None or high <= low:
            raise ValidationError(f"Question '{question.key}': its scale has no valid bounds.")
        if not _INTEGER.fullmatch(value) or not low <= int(value) <= high:
            raise AnswerInvalid(
                f"Question '{question.key}': answer a whole number from {low} to {high}.", question_id=qid
            )
        return (Fraction(int(value) - low, high - low), Fraction(1))
    if question.answer_type == AnswerType.CHOICE:
        options = choice_points(question)
        if not options:
            raise ValidationError(f"Question '{question.key}': it has no options.")
        if not _INDEX.fullmatch(value) or int(value) >= len(options):
            raise AnswerInvalid(f"Question '{question.key}': choose one of its options.", question_id=qid)
        return (Fraction(options[int(value)]), Fraction(max(options)))
    raise ValidationError(f"Question '{question.key}': unknown answer type.")


def _half_up(value: Fraction) -> Decimal:
    """The exact value rounded half away from zero to 2 decimals."""
    cents = abs(value) * 100
    rounded = math.floor(cents + Fraction(1, 2))
    return Decimal(-rounded if value < 0 else rounded).scaleb(-2)


def _ratio(rows: list[tuple[Fraction, Fraction, Fraction]]) -> Fraction | None:
    """Percentage of (earned, possible, weight) rows: sum(earned*weight)/sum(possible*weight)*100;
    None when nothing could be earned (no row, or every weight or possible 0)."""
    possible = sum((p * w for _, p, w in rows), Fraction(0))
    if possible == 0:
        return None
    return sum((e * w for e, _, w in rows), Fraction(0)) / possible * _HUNDRED


def _checked_ids(version: ScorecardVersion, answers: Mapping[int, str]) -> dict[int, ScorecardQuestion]:
    questions = {question.pk: question for question in version.questions.all()}
    for qid in answers:
        if isinstance(qid, bool) or not isinstance(qid, int) or qid not in questions:
            raise AnswerInvalid(f"Question {qid!r} is not part of this scorecard version.")
    return questions


def evaluation_score(version: ScorecardVersion, answers: Mapping[int, str]) -> ScoreResult:
    """Score ``answers`` ({question id: value}) against ``version``; prefetch its ``questions``
    (and ``sections`` for the weighted-sections rule) to read nothing. Unanswered questions ("" or
    absent) simply do not count: completeness is ``answers_complete``'s job, at submit."""
    questions = _checked_ids(version, answers)
    points: dict[int, Points] = {}
    counted: list[tuple[ScorecardQuestion, Fraction, Fraction]] = []
    auto_failed = False
    for qid, question in questions.items():
        value = answers.get(qid, "")
        raw = _question_points(question, value)
        if question.auto_fail and value == NO:
            auto_failed = True
        if raw is None:
            points[qid] = (None, None)
            continue
        earned, possible = raw
        points[qid] = (_half_up(earned), _half_up(possible))
        counted.append((question, earned, possible))

    if auto_failed:
        return ScoreResult(score=Decimal("0.00"), auto_failed=True, points=points)
    percentage: Fraction | None
    if version.scoring_rule == ScoringRule.WEIGHTED_SECTIONS:
        percentage = _sections_percentage(version, counted)
    else:
        percentage = _ratio([(e, p, Fraction(q.weight)) for q, e, p in counted])
    score = None if percentage is None else _half_up(percentage)
    return ScoreResult(score=score, auto_failed=False, points=points)


def _sections_percentage(
    version: ScorecardVersion, counted: list[tuple[ScorecardQuestion, Fraction, Fraction]]
) -> Fraction | None:
    """Each section's percentage, averaged by section weight over the sections that could earn
    points."""
    weights = {section.pk: Fraction(section.weight) for section in version.sections.all()}
    rows: dict[int, list[tuple[Fraction, Fraction, Fraction]]] = {}
    for question, earned, possible in counted:
        if question.section_id not in weights:
            raise ValidationError(f"Question '{question.key}' sits in a section of another version.")
        rows.setdefault(question.section_id, []).append((earned, possible, Fraction(question.weight)))
    averaged: list[tuple[Fraction, Fraction]] = []
    for section_id, section_rows in rows.items():
        section_percentage = _ratio(section_rows)
        if section_percentage is not None:
            averaged.append((section_percentage, weights[section_id]))
    total_weight = sum((w for _, w in averaged), Fraction(0))
    if total_weight == 0:
        return None
    return sum((pct * w for pct, w in averaged), Fraction(0)) / total_weight


def answers_missing(version: ScorecardVersion, answers: Mapping[int, str]) -> list[ScorecardQuestion]:
    """The version's scored questions with no answer ("" or absent), in form order."""
    return [
        question
        for question in version.questions.all()
        if question.answer_type != AnswerType.TEXT and answers.get(question.pk, "") == ""
    ]


def answers_complete(version: ScorecardVersion, answers: Mapping[int, str]) -> None:
    """The submit check: every value valid (AnswerInvalid, N/A only where allowed) and every
    scored question answered (AnswersIncomplete)."""
    questions = _checked_ids(version, answers)
    for qid, value in answers.items():
        _question_points(questions[qid], value)
    missing = answers_missing(version, answers)
    if missing:
        raise AnswersIncomplete(missing)
