"""The evaluations' access matrix, read as a spec: every persona x the state of the evaluated
call x view / edit / comment / submit / acknowledge, through the admin's addresses.

Personas: the DPO, QA lead A (the evaluator, granted queue A), QA lead B (queue B), a staff user
with no group, the auditor, an anonymous visitor, and the agent's team lead (a QA lead with no
queue). States of the call: active, restricted (Art. 18), its QA consent withdrawn, erased, past
its keep-until. Answers:
- 200 where the page shows; DONE where the write took effect, REFUSED where the page answered
  with the reason and nothing changed;
- 404 for an evaluation the persona may not read (as for an id that never existed);
- 403 for a persona without the model permission; LOGIN for the anonymous visitor.
"""

from __future__ import annotations

import datetime
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from recordings.models import Consent, Recording
from recordings.services import consent_withdraw
from reviews.models import EvaluationStatus, TimelineComment
from tests.factories import RecordingFactory
from tests.reviews.factories import agent_with_team_lead, evaluation_make, question, scorecard_published

pytestmark = pytest.mark.django_db

PERSONAS = ("dpo", "qa_lead_a", "qa_lead_b", "stranger", "auditor", "anonymous", "team_lead")
STATES = ("active", "restricted", "withdrawn", "erased", "expired")
LOGIN, DONE, REFUSED = "login", "done", "refused"


class Answers(NamedTuple):
    view: int | str
    edit: int | str
    comment: int | str
    submit: int | str
    acknowledge: int | str


def _by_state(active: Answers, other: Answers) -> dict[str, Answers]:
    return {state: active if state == "active" else other for state in STATES}


HIDDEN = Answers(404, 404, 404, 404, 404)
# fmt: off
MATRIX: dict[str, dict[str, Answers]] = {
    # Reads every evaluation; writes none of another's (a DPO re-scores a submitted one, below).
    "dpo":       {state: Answers(200, REFUSED, 403, REFUSED, 403) for state in STATES},
    "auditor":   {state: Answers(200, 403, 403, 403, 403) for state in STATES},
    # The evaluator, while the call may serve quality assurance; then the evaluation is hidden.
    "qa_lead_a": _by_state(Answers(200, DONE, DONE, DONE, REFUSED), HIDDEN),
    "qa_lead_b": {state: HIDDEN for state in STATES},
    "stranger":  {state: Answers(403, 403, 403, 403, 403) for state in STATES},
    "anonymous": {state: Answers(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN) for state in STATES},
    # Reads their agent's evaluations while the call may serve QA; answers, never edits.
    "team_lead": _by_state(Answers(200, REFUSED, REFUSED, REFUSED, DONE), HIDDEN),
}
# fmt: on


def test_the_matrix_covers_every_persona_and_state():
    assert {(p, s) for p in MATRIX for s in MATRIX[p]} == {(p, s) for p in PERSONAS for s in STATES}


@pytest.fixture
def team_lead(roles):
    return agent_with_team_lead()[1]


@pytest.fixture
def world(queue_a, qa_lead_a, team_lead):
    """For a state: a draft and a submitted evaluation by QA lead A of two calls of the team
    lead's agent in queue A, the calls then put in that state."""
    version = scorecard_published(queue_a)
    agent = team_lead.supervised.get().agent

    def make(state: str):
        calls = []
        for _ in range(2):
            status = {"restricted": Recording.Status.RESTRICTED, "erased": Recording.Status.ERASED}.get(
                state, Recording.Status.ACTIVE
            )
            calls.append(RecordingFactory(queue=queue_a, agent=agent, status=status))
        draft = evaluation_make(recording=calls[0], evaluator=qa_lead_a, version=version)
        submitted = evaluation_make(
            recording=calls[1], evaluator=qa_lead_a, version=version, status=EvaluationStatus.SUBMITTED
        )
        for call in calls:
            if state == "withdrawn":
                consent_withdraw(consent=Consent.objects.get(recording=call), via=Consent.Channel.PHONE)
            if state == "expired":
                Recording.objects.filter(pk=call.pk).update(
                    keep_until=timezone.now() - datetime.timedelta(minutes=1)
                )
        return version, draft, submitted

    return make


def outcome(response, url: str, changed: bool) -> int | str:
    if response.status_code == 302:
        parts = urlsplit(response["Location"])
        if parts.path == reverse("admin:login") and parse_qs(parts.query).get("next") == [url]:
            return LOGIN
    if response.status_code in (200, 302):
        return DONE if changed else REFUSED
    return response.status_code


@pytest.mark.parametrize(
    ("persona", "state"),
    [(p, s) for p in PERSONAS for s in STATES],
    ids=[f"{p}-{s}" for p in PERSONAS for s in STATES],
)
def test_every_address_answers_each_persona_as_the_matrix_says(client, request, world, persona, state):
    # given
    version, draft, submitted = world(state)
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    page = reverse("admin:reviews_evaluation_change", args=[draft.pk])
    tone = question(version, "tone").pk

    # when
    view = client.get(page)
    viewed = view.status_code if view.status_code != 302 else outcome(view, page, False)

    url = reverse("admin:reviews_evaluation_comment_add", args=[draft.pk])
    response = client.post(url, {"position_ms": "1500", "body": "Hold music too loud."})
    comment = outcome(response, url, TimelineComment.objects.filter(evaluation=draft).exists())

    answers = {
        f"q-{question(version, key).pk}": value for key, value in [("identified", "yes"), ("resolved", "2")]
    }
    response = client.post(page, {**answers, f"q-{tone}": "5", "_action": "save"})
    edit = outcome(response, page, draft.answers.get(question_id=tone).value == "5")

    response = client.post(page, {**answers, f"q-{tone}": "5", "_action": "submit"})
    draft.refresh_from_db()
    submit = outcome(response, page, draft.status == EvaluationStatus.SUBMITTED)

    url = reverse("admin:reviews_evaluation_team_lead", args=[submitted.pk])
    response = client.post(url, {"_action": "acknowledge"})
    submitted.refresh_from_db()
    acknowledge = outcome(response, url, submitted.status == EvaluationStatus.ACKNOWLEDGED)

    # then
    assert Answers(viewed, edit, comment, submit, acknowledge) == MATRIX[persona][state]


LISTED = {
    "dpo": set(STATES),
    "auditor": set(STATES),
    "qa_lead_a": {"active"},
    "qa_lead_b": set(),
    "team_lead": {"active"},
    "stranger": 403,
    "anonymous": LOGIN,
}


@pytest.mark.parametrize("persona", PERSONAS)
def test_the_list_shows_exactly_what_the_persona_may_read(client, request, world, persona):
    # given: two evaluations of calls in each state
    made = {state: world(state) for state in STATES}
    if persona != "anonymous":
        client.force_login(request.getfixturevalue(persona))
    url = reverse("admin:reviews_evaluation_changelist")

    # when
    response = client.get(url)

    # then
    expected = LISTED[persona]
    if isinstance(expected, set):
        assert response.status_code == 200
        listed = {row.pk for row in response.context["cl"].result_list}
        assert listed == {e.pk for state in expected for e in made[state][1:]}
    else:
        assert outcome(response, url, False) == expected


def test_a_withdrawal_hides_the_calls_evaluations_from_qa_leads_at_once(
    client, world, qa_lead_a, team_lead, auditor
):
    # given: QA lead A reads their evaluation
    _version, draft, _submitted = world("active")
    page = reverse("admin:reviews_evaluation_change", args=[draft.pk])
    client.force_login(qa_lead_a)
    assert client.get(page).status_code == 200

    # when: the caller withdraws their quality-assurance consent (no job runs)
    consent_withdraw(consent=Consent.objects.get(recording=draft.recording), via=Consent.Channel.PHONE)

    # then: gone for the evaluator and the team lead, in the page and the list; the auditor keeps it
    assert client.get(page).status_code == 404
    listed = client.get(reverse("admin:reviews_evaluation_changelist")).context["cl"].result_list
    assert draft.pk not in {row.pk for row in listed}
    client.force_login(team_lead)
    assert client.get(page).status_code == 404
    client.force_login(auditor)
    assert client.get(page).status_code == 200
