"""The evaluation pages: starting from the recording's page, the form and timeline, hostile input
(clear errors, never a 500), the read-only and detached views, the list's filters and search,
and the access events."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from reviews.models import Evaluation, EvaluationStatus, TimelineComment
from tests.factories import QueueFactory, RecordingFactory
from tests.reviews.factories import evaluation_make, question, scorecard_published

pytestmark = pytest.mark.django_db


@pytest.fixture
def version(queue_a):
    return scorecard_published(queue_a)


@pytest.fixture
def call(queue_a):
    return RecordingFactory(queue=queue_a)


@pytest.fixture
def draft(call, qa_lead_a, version):
    return evaluation_make(recording=call, evaluator=qa_lead_a, version=version, answered=False)


def page(evaluation: Evaluation) -> str:
    return reverse("admin:reviews_evaluation_change", args=[evaluation.pk])


def errors(response) -> list[str]:
    return [m.message for m in get_messages(response.wsgi_request) if m.level_tag == "error"]


def test_the_recording_page_offers_evaluate_and_the_start_page_starts_a_draft(
    client, qa_lead_a, auditor, call, version
):
    # given: the QA lead on the call's page
    client.force_login(qa_lead_a)
    start = reverse("admin:reviews_evaluation_start", args=[call.pk])
    assert start in client.get(reverse("admin:recordings_recording_change", args=[call.pk])).content.decode()

    # when: they start with the queue's scorecard
    response = client.post(start, {"version": str(version.pk)})

    # then: a draft, and the start page now leads to it
    evaluation = Evaluation.objects.get()
    assert response["Location"] == page(evaluation)
    assert client.get(start)["Location"] == page(evaluation)

    # and: the auditor sees no such link, and may not start
    client.force_login(auditor)
    assert (
        start not in client.get(reverse("admin:recordings_recording_change", args=[call.pk])).content.decode()
    )
    assert client.get(start).status_code == 403


def test_the_start_page_refuses_a_bogus_version_clearly(client, qa_lead_a, call, version, queue_b):
    client.force_login(qa_lead_a)
    start = reverse("admin:reviews_evaluation_start", args=[call.pk])
    other = scorecard_published(queue_b, name="Other")

    assert client.post(start, {"version": "abc"}).status_code == 400
    response = client.post(start, {"version": str(other.pk)})
    assert response.status_code == 200
    assert "not published for this call&#x27;s queue" in response.content.decode()
    assert not Evaluation.objects.exists()


def test_the_page_shows_player_form_and_timeline_and_logs_a_view(client, qa_lead_a, draft):
    client.force_login(qa_lead_a)

    response = client.get(page(draft))

    html = response.content.decode()
    assert response.status_code == 200
    for marker in (
        'id="recording-player"',
        'id="evaluation-timeline"',
        'id="comment-form"',
        'id="evaluation-submit"',
    ):
        assert marker in html
    assert "<script>" not in html and " style=" not in html  # the strict CSP: nothing inline
    event = AccessEvent.objects.filter(object_type="evaluation").get()
    assert (event.action, event.object_id, event.actor) == (AccessAction.VIEW, draft.pk, qa_lead_a)


def test_a_score_posted_by_the_browser_is_ignored(client, qa_lead_a, draft, version):
    client.force_login(qa_lead_a)
    answers = {
        f"q-{question(version, 'identified').pk}": "no",
        f"q-{question(version, 'tone').pk}": "5",
        f"q-{question(version, 'resolved').pk}": "2",
    }

    client.post(page(draft), {**answers, "score": "100", "auto_failed": "", "_action": "submit"})

    draft.refresh_from_db()
    assert (draft.status, draft.score, draft.auto_failed) == (
        EvaluationStatus.SUBMITTED,
        Decimal("0.00"),
        True,
    )


@pytest.mark.parametrize(
    ("posted", "message"),
    [
        ({"q-abc": "yes"}, "names a question that does not exist"),
        ({"q-999999": "yes"}, "not on this evaluation's scorecard version"),
        ({"q-99999999999999999999": "yes"}, "names a question that does not exist"),
        ({"tone": "maybe"}, "answer a whole number from 1 to 5"),
        ({"notes": "x" * 5001}, "longer than 5,000 characters"),
    ],
)
def test_hostile_answers_get_a_clear_error_and_change_nothing(
    client, qa_lead_a, draft, version, posted, message
):
    client.force_login(qa_lead_a)
    data = {}
    for key, value in posted.items():
        if key.startswith("q-"):
            data[key] = value
        elif key == "notes":
            data[f"t-{question(version, key).pk}"] = value
        else:
            data[f"q-{question(version, key).pk}"] = value

    response = client.post(page(draft), {**data, "_action": "save"})

    assert response.status_code == 200
    assert any(message in text for text in errors(response))
    assert not draft.answers.exists()


def test_answers_to_another_versions_question_are_refused(client, qa_lead_a, draft, queue_b):
    other = scorecard_published(queue_b, name="Other")
    client.force_login(qa_lead_a)

    response = client.post(page(draft), {f"q-{question(other, 'identified').pk}": "yes", "_action": "save"})

    assert any("not on this evaluation's scorecard version" in text for text in errors(response))
    assert not draft.answers.exists()


@pytest.mark.parametrize(
    ("position", "body", "message"),
    [
        ("abc", "Here.", "whole number of milliseconds"),
        ("-5", "Here.", "whole number of milliseconds"),
        ("1e3", "Here.", "whole number of milliseconds"),
        ("99999999999999", "Here.", "whole number of milliseconds"),
        ("999999999", "Here.", "within the call"),
        ("1000", "x" * 100_000, "at most 2,000 characters"),
        ("1000", "", "Write the comment"),
    ],
)
def test_hostile_comments_get_a_clear_error(client, qa_lead_a, draft, position, body, message):
    client.force_login(qa_lead_a)

    response = client.post(
        reverse("admin:reviews_evaluation_comment_add", args=[draft.pk]),
        {"position_ms": position, "body": body},
    )

    assert response.status_code == 302
    assert any(message in text for text in errors(response))
    assert not TimelineComment.objects.exists()


def test_a_comment_at_a_point_shows_on_the_timeline_and_goes_when_deleted(client, qa_lead_a, draft):
    client.force_login(qa_lead_a)
    client.post(
        reverse("admin:reviews_evaluation_comment_add", args=[draft.pk]),
        {"position_ms": "83000", "body": "Hold was too long."},
    )
    comment = TimelineComment.objects.get()
    html = client.get(page(draft)).content.decode()
    assert 'data-position-ms="83000"' in html and "01:23" in html and "Hold was too long." in html

    assert (
        client.get(
            reverse("admin:reviews_evaluation_comment_delete", args=[draft.pk, comment.pk])
        ).status_code
        == 405
    )
    client.post(reverse("admin:reviews_evaluation_comment_delete", args=[draft.pk, comment.pk]))
    assert not TimelineComment.objects.exists()


def test_the_auditor_reads_a_submitted_evaluation_without_a_form_or_a_player(
    client, auditor, qa_lead_a, call, version
):
    evaluation = evaluation_make(
        recording=call, evaluator=qa_lead_a, version=version, status=EvaluationStatus.SUBMITTED
    )
    TimelineComment.objects.create(
        evaluation=evaluation, author=qa_lead_a, position_ms=5000, body="Good opening."
    )
    client.force_login(auditor)

    html = client.get(page(evaluation)).content.decode()

    assert "68.75 / 100" in html and "Good opening." in html
    assert 'name="q-' not in html and 'id="comment-form"' not in html and 'id="recording-player"' not in html
    assert 'id="audio-unavailable"' in html


def test_a_detached_evaluation_shows_its_score_and_values_without_the_call(
    client, dpo, qa_lead_a, call, version
):
    # given: the call is gone; the evaluation kept its numbers (the retention's detach)
    evaluation = evaluation_make(
        recording=call, evaluator=qa_lead_a, version=version, status=EvaluationStatus.SUBMITTED
    )
    Evaluation.objects.filter(pk=evaluation.pk).update(recording=None, detached_at=timezone.now())
    evaluation.answers.update(text="")
    client.force_login(dpo)

    # when
    html = client.get(page(evaluation)).content.decode()

    # then
    assert "68.75 / 100" in html and "(detached" in html and "Partly" in html
    assert 'id="evaluation-call"' not in html and "recording-player" not in html
    assert "Re-score" not in html


def test_the_list_filters_offer_only_what_the_lead_may_read_and_refuse_the_rest(
    client, qa_lead_a, draft, queue_b, version
):
    client.force_login(qa_lead_a)
    url = reverse("admin:reviews_evaluation_changelist")
    hidden_queue = QueueFactory(code="queue-secret", name="Secret queue")

    html = client.get(url).content.decode()
    assert "Queue A" in html and "Secret queue" not in html and "Queue B" not in html

    assert client.get(url, {"queue": str(hidden_queue.pk)}).status_code == 400
    assert client.get(url, {"queue": "abc"}).status_code == 400
    assert client.get(url, {"scorecard": "abc"}).status_code == 400
    assert client.get(url, {"evaluator__password__startswith": "p"}).status_code == 400
    listed = client.get(url, {"status": "draft", "queue": str(draft.queue_id)}).context["cl"].result_list
    assert [row.pk for row in listed] == [draft.pk]


def test_the_list_searches_by_recording_reference_and_logs_the_listing(client, qa_lead_a, draft, call):
    client.force_login(qa_lead_a)
    url = reverse("admin:reviews_evaluation_changelist")

    assert [r.pk for r in client.get(url, {"q": call.reference}).context["cl"].result_list] == [draft.pk]
    assert list(client.get(url, {"q": "REC-NOPE"}).context["cl"].result_list) == []
    event = AccessEvent.objects.filter(object_type="evaluation", action=AccessAction.LIST).first()
    assert event is not None and event.detail["ids"] == [draft.pk]


def test_the_team_lead_disputes_from_the_page_and_an_empty_reason_is_refused(
    client, roles, qa_lead_a, queue_a, version
):
    from tests.reviews.factories import agent_with_team_lead

    agent, lead = agent_with_team_lead()
    evaluation = evaluation_make(
        recording=RecordingFactory(queue=queue_a, agent=agent),
        evaluator=qa_lead_a,
        version=version,
        status=EvaluationStatus.SUBMITTED,
    )
    client.force_login(lead)
    url = reverse("admin:reviews_evaluation_team_lead", args=[evaluation.pk])
    assert 'id="evaluation-dispute-button"' in client.get(page(evaluation)).content.decode()

    response = client.post(url, {"_action": "dispute", "reason": ""})
    assert any("Say why" in text for text in errors(response))

    client.post(url, {"_action": "dispute", "reason": "The caller confirmed the fix later."})
    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.dispute_reason) == (
        EvaluationStatus.DISPUTED,
        "The caller confirmed the fix later.",
    )


def test_the_evaluator_rescores_a_disputed_evaluation_from_the_page(client, qa_lead_a, call, version):
    evaluation = evaluation_make(
        recording=call, evaluator=qa_lead_a, version=version, status=EvaluationStatus.DISPUTED
    )
    client.force_login(qa_lead_a)
    assert "?rescore=1" in client.get(page(evaluation)).content.decode()
    assert 'id="evaluation-rescore"' in client.get(page(evaluation) + "?rescore=1").content.decode()

    answers = {
        f"q-{question(version, 'identified').pk}": "yes",
        f"q-{question(version, 'tone').pk}": "4",
        f"q-{question(version, 'resolved').pk}": "2",
    }
    client.post(page(evaluation), {**answers, "_action": "rescore"})

    evaluation.refresh_from_db()
    assert (evaluation.status, evaluation.score) == (EvaluationStatus.SUBMITTED, Decimal("93.75"))
