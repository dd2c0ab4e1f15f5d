"""The QA lead's evaluations list at scale: ``evaluations_visible_to`` asked per row answers as
its definition does (the union of three rules over whole recording sets), the recording's
current queue and ad-hoc grants count, the total is exact up to the cap, and the page reads no
evaluation to find the queue filter's choices."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance_site.pagination import CappedCountPaginator, EstimatedCountPaginator
from recordings.models import Consent, Recording, RecordingUserObjectPermission
from recordings.selectors import recordings_visible_to
from recordings.services import consent_withdraw
from reviews.models import CalibrationSession, Evaluation, EvaluationStatus
from reviews.selectors import evaluations_visible_to, recordings_usable_for_quality_now
from tests.factories import QueueFactory, RecordingFactory, UserFactory
from tests.reviews.factories import agent_with_team_lead, evaluation_make, scorecard_published

pytestmark = pytest.mark.django_db

URL = reverse("admin:reviews_evaluation_changelist")
STATES = ("active", "restricted", "erased", "withdrawn", "expired")


def _definition(user) -> set[int]:
    """The rule as first written, over whole sets: evaluations of recordings the user may see,
    their own and their led agents' while the recording may serve QA, minus others' in an
    unrevealed calibration. Slow at scale, and the reference the fast selector must equal."""
    usable = recordings_usable_for_quality_now().values("pk")
    reachable = (
        Q(recording__in=recordings_visible_to(user).values("pk"))
        | Q(evaluator=user, recording__in=usable)
        | Q(agent__supervision__team_lead=user, recording__in=usable)
    )
    unrevealed_other = Q(calibration__isnull=False, calibration__revealed_at__isnull=True) & ~Q(
        evaluator=user
    )
    return set(Evaluation.objects.filter(reachable).exclude(unrevealed_other).values_list("pk", flat=True))


def _call(state: str, **fields) -> Recording:
    status = {"restricted": Recording.Status.RESTRICTED, "erased": Recording.Status.ERASED}
    return RecordingFactory(status=status.get(state, Recording.Status.ACTIVE), **fields)


def _put_in_state(call: Recording, state: str) -> None:
    if state == "withdrawn":
        consent_withdraw(consent=Consent.objects.get(recording=call), via=Consent.Channel.PHONE)
    elif state == "expired":
        Recording.objects.filter(pk=call.pk).update(keep_until=timezone.now() - datetime.timedelta(minutes=1))


def _grant(user, recording: Recording, *, expires_at=None) -> None:
    from django.contrib.auth.models import Permission

    RecordingUserObjectPermission.objects.create(
        user=user,
        permission=Permission.objects.get(content_type__app_label="recordings", codename="review_recording"),
        content_object=recording,
        reason="Escalated complaint #4711",
        expires_at=expires_at,
    )


@pytest.fixture
def world(roles, queue_a, queue_b, qa_lead_a, qa_lead_b, dpo, auditor, stranger):
    """For each state of a call: a call of queue A by an evaluator with no queue (of the team
    lead's agent), and a call of queue C by lead A; an ad-hoc grant to lead B on a call of queue
    A, an expired one on another; a call moved from queue B to queue A after its evaluation (the
    evaluation keeps queue B); an unrevealed calibration of leads A and B."""
    version = scorecard_published(queue_a, queue_b)
    agent, team_lead = agent_with_team_lead()
    loner = UserFactory(username="qa.loner", groups=[roles["QA lead"]])
    queue_c = QueueFactory(code="queue-c", name="Queue C")
    submitted = EvaluationStatus.SUBMITTED
    for state in STATES:
        for queue, evaluator, call_agent in ((queue_a, loner, agent), (queue_c, qa_lead_a, None)):
            call = _call(state, queue=queue, agent=call_agent)
            evaluation_make(recording=call, evaluator=evaluator, version=version, status=submitted)
            _put_in_state(call, state)
    granted, expired = RecordingFactory(queue=queue_a), RecordingFactory(queue=queue_a)
    evaluation_make(recording=granted, evaluator=loner, version=version)
    evaluation_make(recording=expired, evaluator=loner, version=version)
    _grant(qa_lead_b, granted)
    _grant(qa_lead_b, expired, expires_at=timezone.now() - datetime.timedelta(hours=1))
    moved = RecordingFactory(queue=queue_b)
    evaluation_make(recording=moved, evaluator=loner, version=version)
    Recording.objects.filter(pk=moved.pk).update(queue=queue_a)
    calibrated = RecordingFactory(queue=queue_a)
    session = CalibrationSession.objects.create(
        recording=calibrated, scorecard_version=version, created_by=dpo
    )
    session.participants.set([qa_lead_a, qa_lead_b])
    for lead in (qa_lead_a, qa_lead_b):
        Evaluation.objects.create(
            recording=calibrated,
            scorecard_version=version,
            queue=queue_a,
            evaluator=lead,
            calibration=session,
        )
    people = {"qa_lead_a": qa_lead_a, "qa_lead_b": qa_lead_b, "loner": loner, "team_lead": team_lead}
    return {**people, "dpo": dpo, "auditor": auditor, "stranger": stranger, "moved": moved,
            "granted": granted, "expired": expired}  # fmt: skip


def test_the_selector_answers_as_its_definition_for_every_persona(world):
    every = set(Evaluation.objects.values_list("pk", flat=True))
    for persona in ("qa_lead_a", "qa_lead_b", "loner", "team_lead"):
        visible = set(evaluations_visible_to(world[persona]).values_list("pk", flat=True))
        assert visible == _definition(world[persona]), persona
        assert visible and visible != every, persona  # each reads some, none all
    for persona in ("dpo", "auditor"):
        assert set(evaluations_visible_to(world[persona]).values_list("pk", flat=True)) == every
    assert not evaluations_visible_to(world["stranger"]).exists()  # no view_evaluation at all

    # The recording's current queue counts, not the queue copied on the evaluation: made in queue
    # B, its call since moved to queue A, it is read by the lead of A, no longer by the lead of B.
    moved = Evaluation.objects.get(recording=world["moved"])
    assert moved.queue.code == "queue-b"
    assert evaluations_visible_to(world["qa_lead_a"]).filter(pk=moved.pk).exists()
    assert not evaluations_visible_to(world["qa_lead_b"]).filter(pk=moved.pk).exists()

    # An ad-hoc grant shows that call's evaluations until it expires.
    lead_b = evaluations_visible_to(world["qa_lead_b"])
    assert lead_b.filter(recording=world["granted"]).exists()
    assert not lead_b.filter(recording=world["expired"]).exists()


@pytest.fixture
def listed(queue_a, queue_b, qa_lead_a, dpo, auditor):
    """Four evaluations lead A may read (queue A, one made by another lead), one in a restricted
    call, one in queue B by lead B's hand."""
    version = scorecard_published(queue_a, queue_b)
    other = UserFactory(username="qa.other")
    for evaluator in (qa_lead_a, qa_lead_a, qa_lead_a, other):
        evaluation_make(recording=RecordingFactory(queue=queue_a), evaluator=evaluator, version=version)
    restricted = RecordingFactory(queue=queue_a, status=Recording.Status.RESTRICTED)
    evaluation_make(recording=restricted, evaluator=qa_lead_a, version=version)
    evaluation_make(recording=RecordingFactory(queue=queue_b), evaluator=other, version=version)
    return version


def _total_line(html: str) -> str:
    paginator = re.search(r'<p class="paginator">(.*?)</p>', html, re.S)
    assert paginator, "no paginator on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", paginator.group(1)).split())


def test_a_qa_lead_sees_the_exact_total_and_past_the_cap_cap_plus(client, listed, qa_lead_a, settings):
    client.force_login(qa_lead_a)

    cl = client.get(URL).context["cl"]
    assert isinstance(cl.paginator, CappedCountPaginator)
    assert (cl.result_count, cl.paginator.capped) == (4, False)

    settings.CUSTOS_LIST_COUNT_CAP = 3
    response = client.get(URL)
    assert response.context["cl"].paginator.capped
    assert "3+ evaluations (counted up to 3" in _total_line(response.content.decode())


def test_the_dpo_and_the_auditor_keep_the_estimate(client, listed, dpo, auditor):
    for user in (dpo, auditor):
        client.force_login(user)
        assert isinstance(client.get(URL).context["cl"].paginator, EstimatedCountPaginator)


def test_the_count_is_one_bounded_query_and_the_queue_choices_read_no_evaluation(
    client, listed, qa_lead_a, settings
):
    settings.CUSTOS_LIST_COUNT_CAP = 3
    client.force_login(qa_lead_a)

    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)

    counts = [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "reviews_evaluation" in q["sql"]]
    assert len(counts) == 1 and re.search(r"LIMIT 4\b", counts[0])
    choices = [q["sql"] for q in queries if q["sql"].startswith('SELECT "recordings_queue"."id"')]
    assert choices and not any("reviews_evaluation" in sql for sql in choices)
    # The queue the lead reviews is offered, queue B is not.
    queue_filter = next(
        f for f in response.context["cl"].filter_specs if getattr(f, "parameter_name", "") == "queue"
    )
    assert [name for _pk, name in queue_filter.lookup_choices] == ["Queue A"]


def test_the_lists_queries_do_not_follow_the_number_of_evaluations(client, listed, qa_lead_a, queue_a):
    lead = qa_lead_a
    client.force_login(lead)
    client.get(URL)
    with CaptureQueriesContext(connection) as few:
        client.get(URL)

    for _ in range(3):
        evaluation_make(recording=RecordingFactory(queue=queue_a), evaluator=lead, version=listed)
    with CaptureQueriesContext(connection) as more:
        response = client.get(URL)

    assert response.context["cl"].result_count == 7 == len(_definition(lead))
    assert len(more) == len(few)
