"""The server's scoring (reviews.scoring): each rule, rounding, hostile values, and a property test
against an independent scorer written here with fractions over plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from reviews.models import (
    AnswerType,
    ScorecardQuestion,
    ScorecardSection,
    ScorecardVersion,
    ScoringRule,
)
from reviews.scoring import (
    AnswerInvalid,
    AnswersIncomplete,
    answers_complete,
    answers_missing,
    choice_points,
    evaluation_score,
)

# The scorer is pure: these tests build versions in memory, with their rows "prefetched", and no
# database at all (a query would fail the test).


@dataclass
class Q:
    answer_type: str
    weight: Decimal = Decimal(1)
    allow_na: bool = False
    auto_fail: bool = False
    scale_min: int | None = None
    scale_max: int | None = None
    choices: list[Any] = field(default_factory=list)


@dataclass
class S:
    weight: Decimal
    questions: list[Q]


def build(sections: list[S], rule: str = ScoringRule.WEIGHTED_POINTS) -> ScorecardVersion:
    version = ScorecardVersion(pk=1, number=1, scoring_rule=rule)
    section_rows, question_rows = [], []
    qid = 100
    for s_index, spec in enumerate(sections):
        section = ScorecardSection(pk=10 + s_index, version=version, position=s_index, weight=spec.weight)
        section_rows.append(section)
        for q_index, q in enumerate(spec.questions):
            qid += 1
            question_rows.append(
                ScorecardQuestion(
                    pk=qid,
                    version=version,
                    section=section,
                    position=q_index,
                    key=f"q{qid}",
                    text=f"Question {qid}",
                    answer_type=q.answer_type,
                    weight=q.weight,
                    allow_na=q.allow_na,
                    auto_fail=q.auto_fail,
                    scale_min=q.scale_min,
                    scale_max=q.scale_max,
                    choices=q.choices,
                )
            )
    version._prefetched_objects_cache = {"sections": section_rows, "questions": question_rows}  # type: ignore[attr-defined]
    return version


def ids(version: ScorecardVersion) -> list[int]:
    return [q.pk for q in version.questions.all()]


YES_NO = Q(AnswerType.YES_NO)
SCALE_1_5 = Q(AnswerType.SCALE, scale_min=1, scale_max=5)
CHOICE = Q(AnswerType.CHOICE, choices=[{"label": "Poor", "points": 0}, {"label": "Good", "points": 2}])
TEXT = Q(AnswerType.TEXT)


# --- the rules, one by one ---------------------------------------------------------------------


def test_yes_scores_one_of_one_and_no_zero_of_one():
    version = build([S(Decimal(1), [YES_NO, YES_NO])])
    a, b = ids(version)

    result = evaluation_score(version, {a: "yes", b: "no"})

    assert result.score == Decimal("50.00")
    assert result.points == {a: (Decimal("1.00"), Decimal("1.00")), b: (Decimal("0.00"), Decimal("1.00"))}
    assert result.auto_failed is False


def test_na_is_left_out_where_allowed_and_refused_elsewhere():
    version = build([S(Decimal(1), [Q(AnswerType.YES_NO, allow_na=True), YES_NO])])
    a, b = ids(version)

    result = evaluation_score(version, {a: "na", b: "yes"})
    assert result.score == Decimal("100.00")
    assert result.points[a] == (None, None)

    with pytest.raises(AnswerInvalid, match="cannot be answered N/A") as refused:
        evaluation_score(version, {a: "yes", b: "na"})
    assert refused.value.question_id == b


def test_scale_scores_its_position_between_the_bounds():
    version = build([S(Decimal(1), [SCALE_1_5])])
    (a,) = ids(version)

    assert evaluation_score(version, {a: "1"}).score == Decimal("0.00")
    assert evaluation_score(version, {a: "4"}).score == Decimal("75.00")
    assert evaluation_score(version, {a: "5"}).points[a] == (Decimal("1.00"), Decimal("1.00"))


def test_scale_with_negative_bounds_and_thirds_rounds_half_up():
    version = build([S(Decimal(1), [Q(AnswerType.SCALE, scale_min=-1, scale_max=2)])])
    (a,) = ids(version)

    result = evaluation_score(version, {a: "0"})

    assert result.score == Decimal("33.33")
    assert result.points[a] == (Decimal("0.33"), Decimal("1.00"))
    assert evaluation_score(version, {a: "1"}).score == Decimal("66.67")


def test_choice_scores_the_options_points_of_the_best_options():
    version = build(
        [
            S(
                Decimal(1),
                [
                    Q(
                        AnswerType.CHOICE,
                        choices=[
                            {"label": "Poor", "points": 0},
                            {"label": "Fair", "points": 1.5},
                            {"label": "Good", "points": 4},
                        ],
                    )
                ],
            )
        ]
    )
    (a,) = ids(version)

    result = evaluation_score(version, {a: "1"})

    assert result.score == Decimal("37.50")
    assert result.points[a] == (Decimal("1.50"), Decimal("4.00"))


def test_text_is_not_scored_but_limited_in_length():
    version = build([S(Decimal(1), [TEXT, YES_NO])])
    t, a = ids(version)

    result = evaluation_score(version, {t: "Polite, but forgot the summary.", a: "yes"})
    assert result.score == Decimal("100.00")
    assert result.points[t] == (None, None)

    with pytest.raises(AnswerInvalid, match="at most 10000 characters"):
        evaluation_score(version, {t: "x" * 10_001, a: "yes"})


def test_weighted_points_weighs_each_question():
    version = build(
        [
            S(Decimal(1), [Q(AnswerType.YES_NO, weight=Decimal(3))]),
            S(Decimal(5), [Q(AnswerType.YES_NO, weight=Decimal(1)), Q(AnswerType.YES_NO, weight=Decimal(0))]),
        ]
    )
    a, b, c = ids(version)

    # (1*3 + 0*1 + 1*0) / (3 + 1 + 0): section weights play no part in this rule.
    assert evaluation_score(version, {a: "yes", b: "no", c: "yes"}).score == Decimal("75.00")


def test_weighted_sections_averages_section_percentages_by_section_weight():
    version = build(
        [
            S(Decimal(3), [YES_NO, YES_NO]),  # 50 %
            S(Decimal(1), [SCALE_1_5]),  # 100 %
            S(Decimal(7), [TEXT]),  # nothing scored: left out
            S(Decimal(9), [Q(AnswerType.YES_NO, allow_na=True)]),  # N/A: left out
        ],
        rule=ScoringRule.WEIGHTED_SECTIONS,
    )
    a, b, c, t, n = ids(version)

    result = evaluation_score(version, {a: "yes", b: "no", c: "5", t: "fine", n: "na"})

    assert result.score == Decimal("62.50")  # (50*3 + 100*1) / 4


def test_a_section_whose_questions_all_weigh_zero_is_left_out():
    version = build(
        [S(Decimal(1), [Q(AnswerType.YES_NO, weight=Decimal(0))]), S(Decimal(1), [YES_NO])],
        rule=ScoringRule.WEIGHTED_SECTIONS,
    )
    a, b = ids(version)

    assert evaluation_score(version, {a: "no", b: "yes"}).score == Decimal("100.00")


@pytest.mark.parametrize("rule", list(ScoringRule))
def test_nothing_scored_gives_no_score(rule):
    version = build([S(Decimal(1), [TEXT, Q(AnswerType.YES_NO, allow_na=True), YES_NO])], rule=rule)
    t, n, a = ids(version)

    result = evaluation_score(version, {t: "words", n: "na"})

    assert result.score is None
    assert result.points == {t: (None, None), n: (None, None), a: (None, None)}


def test_auto_fail_no_scores_zero_whatever_the_rest():
    version = build([S(Decimal(1), [Q(AnswerType.YES_NO, auto_fail=True, weight=Decimal(0)), YES_NO])])
    gate, a = ids(version)

    failed = evaluation_score(version, {gate: "no", a: "yes"})
    passed = evaluation_score(version, {gate: "yes", a: "yes"})

    assert (failed.score, failed.auto_failed) == (Decimal("0.00"), True)
    assert failed.points[a] == (Decimal("1.00"), Decimal("1.00"))
    assert (passed.score, passed.auto_failed) == (Decimal("100.00"), False)


def test_unanswered_questions_count_nothing_in_a_draft():
    version = build([S(Decimal(1), [YES_NO, YES_NO, SCALE_1_5])])
    a, b, c = ids(version)

    result = evaluation_score(version, {a: "yes", b: ""})

    assert result.score == Decimal("100.00")
    assert result.points[b] == result.points[c] == (None, None)


def test_score_rounds_half_up_to_two_decimals():
    # 1/8 of 100 with 3 decimals would be 12.5; here 0.125 % exactly: 1 of 800.
    version = build(
        [S(Decimal(1), [Q(AnswerType.YES_NO, weight=Decimal(1)), Q(AnswerType.YES_NO, weight=Decimal(799))])]
    )
    a, b = ids(version)

    assert evaluation_score(version, {a: "yes", b: "no"}).score == Decimal("0.13")


# --- completeness at submit ----------------------------------------------------------------------


def test_answers_complete_requires_every_scored_question():
    version = build([S(Decimal(1), [YES_NO, TEXT, SCALE_1_5])])
    a, t, c = ids(version)

    assert [q.pk for q in answers_missing(version, {a: "yes"})] == [c]
    with pytest.raises(AnswersIncomplete, match=f"unanswered: q{c}") as refused:
        answers_complete(version, {a: "yes", t: ""})
    assert refused.value.missing == [c]
    answers_complete(version, {a: "yes", c: "3"})


def test_answers_complete_refuses_na_where_not_allowed():
    version = build([S(Decimal(1), [YES_NO])])
    (a,) = ids(version)

    with pytest.raises(AnswerInvalid):
        answers_complete(version, {a: "na"})


# --- hostile values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "value"),
    [
        (YES_NO, "Yes"),
        (YES_NO, "1"),
        (YES_NO, " yes"),
        (SCALE_1_5, "0"),
        (SCALE_1_5, "6"),
        (SCALE_1_5, "2.5"),
        (SCALE_1_5, "+3"),
        (SCALE_1_5, "3 "),
        (SCALE_1_5, "three"),
        (SCALE_1_5, "9" * 5000),
        (SCALE_1_5, "na"),
        (CHOICE, "2"),
        (CHOICE, "-1"),
        (CHOICE, "0x1"),
        (CHOICE, "\uff11"),  # a full-width digit: int() would take it
    ],
)
def test_hostile_values_are_refused_clearly(question, value):
    version = build([S(Decimal(1), [question])])
    (a,) = ids(version)

    with pytest.raises(AnswerInvalid) as refused:
        evaluation_score(version, {a: value})
    assert refused.value.question_id == a
    assert f"q{a}" in refused.value.messages[0]


@pytest.mark.parametrize("value", [3, None, b"yes", ["yes"]])
def test_a_value_that_is_not_text_is_refused(value):
    version = build([S(Decimal(1), [YES_NO])])
    (a,) = ids(version)

    with pytest.raises(AnswerInvalid, match="must be text"):
        evaluation_score(version, {a: value})


@pytest.mark.parametrize("qid", [999, "101", True, None])
def test_an_unknown_question_is_refused(qid):
    version = build([S(Decimal(1), [YES_NO])])

    with pytest.raises(AnswerInvalid, match="not part of this scorecard version"):
        evaluation_score(version, {qid: "yes"})


def test_a_question_of_another_version_is_refused():
    mine = build([S(Decimal(1), [YES_NO])])
    other = ScorecardQuestion(pk=555, answer_type=AnswerType.YES_NO, key="other")

    with pytest.raises(AnswerInvalid, match="Question 555 is not part"):
        evaluation_score(mine, {other.pk: "yes"})


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ("not a list", "must be a list"),
        ([{"label": "A"}], "write it as"),
        ([{"label": "A", "points": 1, "colour": "red"}], "write it as"),
        ([{"label": "", "points": 1}], "non-empty"),
        ([{"label": "A", "points": "1"}], "must be a number"),
        ([{"label": "A", "points": True}], "must be a number"),
        ([{"label": "A", "points": float("nan")}], "finite"),
        ([{"label": "A", "points": -1}], "between 0 and"),
        ([{"label": "A", "points": 10**7}], "between 0 and"),
        ([{"label": "A", "points": 0.125}], "at most 2 decimals"),
    ],
)
def test_choice_points_explains_a_malformed_option(choices, message):
    question = ScorecardQuestion(key="tone", answer_type=AnswerType.CHOICE, choices=choices)

    with pytest.raises(ValidationError, match=message):
        choice_points(question)


# --- property: random forms and answers against an independent scorer ------------------------------


def independent_score(sections: list[S], rule: str, answers: list[str]) -> tuple[Decimal | None, bool]:
    """Written apart from reviews.scoring: plain data, answers by position, percentages kept as
    (numerator, denominator) sums of Fractions, rounding by integer division."""
    flat = [(s_index, q) for s_index, s in enumerate(sections) for q in s.questions]
    if any(q.auto_fail and value == "no" for (_, q), value in zip(flat, answers, strict=True)):
        return Decimal("0.00"), True
    earned_by_section: dict[int, Fraction] = {}
    possible_by_section: dict[int, Fraction] = {}
    for (s_index, q), value in zip(flat, answers, strict=True):
        if q.answer_type == "text" or value in ("", "na"):
            continue
        if q.answer_type == "yes_no":
            got, best = Fraction(value == "yes"), Fraction(1)
        elif q.answer_type == "scale":
            assert q.scale_min is not None and q.scale_max is not None
            got, best = Fraction(int(value) - q.scale_min) / (q.scale_max - q.scale_min), Fraction(1)
        else:
            options = [Fraction(str(o["points"])) for o in q.choices]
            got, best = options[int(value)], max(options)
        w = Fraction(str(q.weight))
        earned_by_section[s_index] = earned_by_section.get(s_index, Fraction(0)) + got * w
        possible_by_section[s_index] = possible_by_section.get(s_index, Fraction(0)) + best * w
    if rule == "weighted_points":
        top, bottom = (
            sum(earned_by_section.values(), Fraction(0)),
            sum(possible_by_section.values(), Fraction(0)),
        )
        if bottom == 0:
            return None, False
        exact = top / bottom * 100
    else:
        parts = [
            (earned_by_section[i] / possible_by_section[i] * 100, Fraction(str(sections[i].weight)))
            for i in possible_by_section
            if possible_by_section[i] != 0
        ]
        if not parts:
            return None, False
        exact = sum((p * w for p, w in parts), Fraction(0)) / sum((w for _, w in parts), Fraction(0))
    # Half up at the cent: whole cents, and the remainder compared with half the denominator.
    whole_cents, remainder = divmod(exact.numerator * 100, exact.denominator)
    if 2 * remainder >= exact.denominator:
        whole_cents += 1
    return Decimal(whole_cents) / 100, False


cents = st.integers(min_value=0, max_value=5000).map(lambda n: Decimal(n) / 100)
positive_cents = st.integers(min_value=1, max_value=5000).map(lambda n: Decimal(n) / 100)


@st.composite
def questions(draw) -> Q:
    kind = draw(st.sampled_from(["yes_no", "scale", "choice", "text"]))
    weight = draw(st.one_of(st.just(Decimal(0)), cents))
    allow_na = draw(st.booleans())
    if kind == "yes_no":
        return Q(kind, weight=weight, allow_na=allow_na, auto_fail=draw(st.booleans()))
    if kind == "scale":
        low = draw(st.integers(min_value=-10, max_value=10))
        return Q(
            kind, weight=weight, allow_na=allow_na, scale_min=low, scale_max=low + draw(st.integers(1, 12))
        )
    if kind == "choice":
        points = draw(st.lists(st.integers(min_value=0, max_value=100_000), min_size=2, max_size=5))
        # JSON numbers: whole ones as int, others as float with at most 2 decimals.
        options = [
            {"label": f"o{i}", "points": p // 100 if p % 100 == 0 else p / 100} for i, p in enumerate(points)
        ]
        return Q(kind, weight=weight, allow_na=allow_na, choices=options)
    return Q(kind, weight=weight)


forms = st.tuples(
    st.lists(
        st.builds(S, weight=positive_cents, questions=st.lists(questions(), max_size=5)),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from([ScoringRule.WEIGHTED_POINTS.value, ScoringRule.WEIGHTED_SECTIONS.value]),
)


def valid_values(q: Q) -> st.SearchStrategy[str]:
    options: list[st.SearchStrategy[str]] = [st.just("")]
    if q.allow_na and q.answer_type != "text":
        options.append(st.just("na"))
    if q.answer_type == "yes_no":
        options.append(st.sampled_from(["yes", "no"]))
    elif q.answer_type == "scale":
        assert q.scale_min is not None and q.scale_max is not None
        options.append(st.integers(q.scale_min, q.scale_max).map(str))
    elif q.answer_type == "choice":
        options.append(st.integers(0, len(q.choices) - 1).map(str))
    else:
        options.append(st.text(max_size=50))
    return st.one_of(options)


@given(data=st.data(), form=forms)
def test_score_matches_an_independent_scorer(data, form):
    sections, rule = form
    flat = [q for s in sections for q in s.questions]
    values = [data.draw(valid_values(q)) for q in flat]
    version = build(sections, rule=rule)
    answers = dict(zip(ids(version), values, strict=True))

    result = evaluation_score(version, answers)

    assert (result.score, result.auto_failed) == independent_score(sections, rule, values)
    if result.score is not None:
        assert Decimal(0) <= result.score <= Decimal(100)
        assert result.score == result.score.quantize(Decimal("0.01"))


def accepted(q: Q, value: str) -> bool:
    """What the question accepts, restated from the rules (not from the code under test)."""
    if value == "":
        return True
    if q.answer_type == "text":
        return len(value) <= 10_000
    if value == "na":
        return q.allow_na
    if q.answer_type == "yes_no":
        return value in ("yes", "no")
    ascii_digits = set("0123456789")
    body = value[1:] if value.startswith("-") else value
    if not body or not set(body) <= ascii_digits or len(body) > 6:
        return False
    if q.answer_type == "scale":
        assert q.scale_min is not None and q.scale_max is not None
        return q.scale_min <= int(value) <= q.scale_max
    return value == body and int(value) < len(q.choices) and len(body) <= 4


hostile = st.one_of(
    st.text(max_size=8),
    st.integers(-30, 30).map(str),
    st.sampled_from(["Yes", "NO", "N/A", "1.0", "+1", " 1", "1 ", "٣", "00", "-0", "1e1", "\x00"]),
)


@given(data=st.data(), form=forms)
def test_invalid_answers_always_raise(data, form):
    sections, rule = form
    version = build(sections, rule=rule)
    flat = [q for s in sections for q in s.questions]
    if not flat:
        with pytest.raises(AnswerInvalid):
            evaluation_score(version, {data.draw(st.integers()): "yes"})
        return
    index = data.draw(st.integers(0, len(flat) - 1))
    value = data.draw(hostile.filter(lambda v: not accepted(flat[index], v)))
    qid = ids(version)[index]

    with pytest.raises(AnswerInvalid) as refused:
        evaluation_score(version, {qid: value})
    assert refused.value.question_id == qid
