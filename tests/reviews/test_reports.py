"""The QA report: its numbers against a hand-built set (a tombstone, a hidden evaluation, a draft,
a calibration and an old one left out), the calibrations apart, who reads which rows, the CSV's
formula-safe cells, and a constant number of queries."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import Recording
from reviews.calibration import calibration_agree, calibration_comparison, calibration_create
from reviews.csv_cells import csv_safe
from reviews.models import CalibrationSession, Evaluation, EvaluationStatus, EvaluationTombstone
from reviews.reports import DELETED_KEY, HIDDEN_KEY, Dimension, report_for
from tests.factories import RecordingFactory, UserFactory
from tests.reviews.calreports_data import evaluation_submit, published_version, qa_lead

REPORT = "admin:reviews_report"


def _this_week(days: int = 0, weeks: int = 0) -> datetime.datetime:
    """An instant in the current ISO week (Monday 09:00 local + ``days``), ``weeks`` back."""
    today = timezone.localdate()
    monday = today - datetime.timedelta(days=today.weekday(), weeks=weeks)
    at = datetime.datetime.combine(monday, datetime.time(9), tzinfo=timezone.get_current_timezone())
    return at + datetime.timedelta(days=days)


@pytest.fixture
def world(roles, queue_a, queue_b, qa_lead_a):
    """Queue A (named like a formula), queue B; agents X and Y on A, Z on B; one scorecard."""
    queue_a.name = "=HYPERLINK(evil)"
    queue_a.save()
    version = published_version(queue_a, queue_b, name="+Support basics")
    x = UserFactory(username="agent.x", first_name="Xavier", last_name="Example")
    y = UserFactory(username="agent.y", first_name="@Yvonne", last_name="Why")
    z = UserFactory(username="agent.z", first_name="Zoe", last_name="Zed")
    call_x, call_y, call_z = (
        RecordingFactory(queue=queue_a, agent=x),
        RecordingFactory(queue=queue_a, agent=y),
        RecordingFactory(queue=queue_b, agent=z),
    )
    restricted = RecordingFactory(queue=queue_a, agent=y)
    evaluators = [qa_lead("qa.e1", roles, queue_a, queue_b), qa_lead("qa.e2", roles, queue_a, queue_b)]

    def evaluation(call, by=0, **kwargs):
        made = Evaluation.objects.create(
            recording=call,
            scorecard_version=version,
            queue_id=call.queue_id,
            agent_id=call.agent_id,
            evaluator=evaluators[by],
        )
        return evaluation_submit(made, **kwargs) if kwargs else made

    # this week: X 80 and 60 (acknowledged), Y 40 on a call restricted since, a tombstone 100
    evaluation(call_x, score="80.00", at=_this_week(1))
    evaluation(call_x, by=1, score="60.00", status=EvaluationStatus.ACKNOWLEDGED, at=_this_week(2))
    evaluation(restricted, score="40.00", at=_this_week(1))
    Recording.objects.filter(pk=restricted.pk).update(status=Recording.Status.RESTRICTED)
    EvaluationTombstone.objects.create(
        evaluation_id=999_001,
        queue=queue_a,
        scorecard_version=version,
        score=Decimal("100.00"),
        submitted_at=_this_week(0),
        cause=EvaluationTombstone.Cause.EXPIRED,
        deleted_at=timezone.now(),
    )
    # last week: Y auto-failed (disputed)
    evaluation(
        call_y, score="0.00", auto_failed=True, status=EvaluationStatus.DISPUTED, at=_this_week(3, weeks=1)
    )
    # this week on B: Z 90
    evaluation(call_z, score="90.00", at=_this_week(1))
    # left out: a draft, a calibration evaluation submitted, one from 13 weeks ago
    evaluation(call_y, by=1)
    session = calibration_create(
        recording=call_x, scorecard_version=version, participants=evaluators, actor=evaluators[0]
    )
    evaluation_submit(Evaluation.objects.get(calibration=session, evaluator=evaluators[0]), score="10.00")
    old_call = RecordingFactory(queue=queue_a, agent=x)
    evaluation(old_call, score="20.00", at=_this_week(2, weeks=12))
    return {
        "version": version,
        "x": x,
        "y": y,
        "z": z,
        "evaluators": evaluators,
        "calls": (call_x, call_z),
    }


def _figures(row) -> list[tuple[int, Decimal | None, int]]:
    """(evaluations, average, auto-fails) of the last two weeks, last week first."""
    return [(c.evaluations, c.average, c.auto_failed) for c in row.cells[-2:]]


def test_the_queue_report_of_a_qa_lead(world, qa_lead_a, queue_a):
    report = report_for(qa_lead_a, dimension=Dimension.QUEUE)
    assert len(report.weeks) == 12 and report.weeks[-1] == _this_week().date()
    # only queue A: 80, 60, 40 (hidden from the lead, still counted) and the tombstone's 100 this
    # week; last week the auto-failed 0
    assert [row.key for row in report.rows] == [queue_a.pk]
    (row,) = report.rows
    assert _figures(row) == [(1, Decimal("0.00"), 1), (4, Decimal("70.00"), 0)]
    assert (row.total.evaluations, row.total.average, row.total.auto_failed) == (5, Decimal("56.00"), 1)
    assert row.total.auto_fail_rate == Decimal("20.00")
    assert sum(c.evaluations for c in row.cells[:-2]) == 0  # the 13-weeks-old one is out of the window


def test_the_dpo_and_the_auditor_read_every_queue(world, dpo, auditor, queue_a, queue_b):
    for user in (dpo, auditor):
        report = report_for(user)
        by_queue = {row.key: row for row in report.rows}
        assert set(by_queue) == {queue_a.pk, queue_b.pk}
        assert _figures(by_queue[queue_b.pk]) == [(0, None, 0), (1, Decimal("90.00"), 0)]
        assert report.total.total.evaluations == 6
    # 24 weeks reach the old evaluation
    assert report_for(dpo, weeks=24).total.total.evaluations == 7


def test_by_agent_a_hidden_evaluation_is_pooled_for_a_qa_lead(world, qa_lead_a, dpo):
    x, y = world["x"], world["y"]
    lead = {row.key: row for row in report_for(qa_lead_a, dimension=Dimension.AGENT).rows}
    # the lead: X's two, Y's visible one, the hidden 40 under no name, the tombstone under none
    assert set(lead) == {x.pk, y.pk, HIDDEN_KEY, DELETED_KEY}
    assert _figures(lead[x.pk]) == [(0, None, 0), (2, Decimal("70.00"), 0)]
    assert _figures(lead[y.pk]) == [(1, Decimal("0.00"), 1), (0, None, 0)]
    assert _figures(lead[HIDDEN_KEY]) == [(0, None, 0), (1, Decimal("40.00"), 0)]
    assert _figures(lead[DELETED_KEY]) == [(0, None, 0), (1, Decimal("100.00"), 0)]
    assert lead[x.pk].label == "Xavier Example"
    # the DPO: Y's restricted one under Y's name; Z (queue B) too
    full = {row.key: row for row in report_for(dpo, dimension=Dimension.AGENT).rows}
    assert set(full) == {x.pk, y.pk, world["z"].pk, DELETED_KEY}
    assert _figures(full[y.pk]) == [(1, Decimal("0.00"), 1), (1, Decimal("40.00"), 0)]


def test_the_scorecard_report_and_the_filters(world, dpo, queue_b):
    (row,) = report_for(dpo, dimension=Dimension.SCORECARD).rows
    assert (row.label, row.total.evaluations) == ("+Support basics", 6)
    assert report_for(dpo, queue_id=queue_b.pk).total.total.evaluations == 1
    other = published_version(name="Other")
    assert report_for(dpo, scorecard_id=other.scorecard_id).rows == []
    assert report_for(dpo, weeks=1).total.total.evaluations == 5


def test_agent_names_stay_within_the_leads_queues(world, client, qa_lead_b):
    client.force_login(qa_lead_b)
    page = client.get(reverse(REPORT), {"dimension": "agent"}).content.decode()
    assert "Zoe Zed" in page
    assert "Xavier" not in page and "Yvonne" not in page and "HYPERLINK" not in page


def test_the_csv_is_formula_safe(world, client, dpo):
    client.force_login(dpo)
    response = client.get(reverse(REPORT), {"dimension": "queue", "format": "csv"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="qa-report-queue-')
    lines = list(csv.reader(io.StringIO(response.content.decode())))
    assert lines[0][:4] == ["iso_week", "week_start", "queue", "evaluations"]
    this_week = [line for line in lines[1:] if line[1] == _this_week().date().isoformat()]
    assert sorted(line[2:] for line in this_week) == [
        ["'=HYPERLINK(evil)", "4", "70.00", "0", "0.00"],
        ["Queue B", "1", "90.00", "0", "0.00"],
    ]
    by_agent = client.get(reverse(REPORT), {"dimension": "agent", "format": "csv"}).content.decode()
    assert "'@Yvonne Why" in by_agent
    by_scorecard = client.get(reverse(REPORT), {"dimension": "scorecard", "format": "csv"}).content.decode()
    assert "'+Support basics" in by_scorecard


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_every_formula_start_is_prefixed(value):
    assert csv_safe(value) == "'" + value
    assert csv_safe("Queue " + value) == "Queue " + value
    assert csv_safe(12) == 12


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("dpo", 200),
        ("auditor", 200),
        ("qa_lead_a", 200),
        ("qa_lead_b", 200),
        ("stranger", 403),
        ("analyst", 403),
    ],
)
def test_personas_on_the_report(request, client, world, persona, status):
    user = request.getfixturevalue(persona)
    client.force_login(user)
    for query in ({}, {"format": "csv"}):
        response = client.get(reverse(REPORT), query)
        assert response.status_code == status
    index = client.get(reverse("admin:index")).content.decode()
    assert (reverse(REPORT) in index) is (status == 200)
    if status == 200:
        actions = list(
            AccessEvent.objects.filter(actor=user, object_type="evaluation_report")
            .order_by("sequence")
            .values_list("action", flat=True)
        )
        assert actions == ["view", "export"]


def test_a_qa_lead_reads_only_their_queues_on_the_page(world, client, qa_lead_b, queue_a):
    client.force_login(qa_lead_b)
    response = client.get(reverse(REPORT))
    assert [row.label for row in response.context["report"].rows] == ["Queue B"]
    # another lead's queue is no choice: the same refusal as a queue that does not exist
    refused = client.get(reverse(REPORT), {"queue": queue_a.pk})
    missing = client.get(reverse(REPORT), {"queue": 987654})
    assert refused.status_code == missing.status_code == 400
    assert refused.context["form"].errors == missing.context["form"].errors


@pytest.mark.parametrize(
    "query",
    [
        {"weeks": "abc"},
        {"weeks": "0"},
        {"weeks": "1000"},
        {"weeks": "9" * 40},
        {"dimension": "recording"},
        {"scorecard": "x"},
        {"queue": "1e5"},
        {"chart": "<svg>"},
    ],
)
def test_hostile_filters_are_a_clear_error(world, client, dpo, query):
    client.force_login(dpo)
    response = client.get(reverse(REPORT), query)
    assert response.status_code == 400 and response.context["form"].errors
    assert client.post(reverse(REPORT)).status_code == 405


def test_the_page_draws_the_chart_without_script(world, client, dpo):
    client.force_login(dpo)
    page = client.get(reverse(REPORT), {"chart": "auto_fail"}).content.decode()
    assert "<svg" in page and "<circle" in page
    assert "<script" not in page.split('id="content-main"', 1)[1]
    assert "auto-fail rate 100.00%" in page


def test_the_number_of_queries_does_not_grow_with_the_evaluations(world, qa_lead_a, queue_a):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            for dimension in Dimension:
                report_for(qa_lead_a, dimension=dimension)
        return len(captured)

    queries()  # the lead's permissions cached, as on any page after the first
    before = queries()
    version, call = world["version"], RecordingFactory(queue=queue_a, agent=world["x"])
    for n in range(20):
        Evaluation.objects.create(
            recording=call if n == 0 else None,
            scorecard_version=version,
            queue=queue_a,
            agent=UserFactory(username=f"agent.more{n}"),
            evaluator=qa_lead_a,
            status=EvaluationStatus.SUBMITTED,
            score=Decimal(n),
            submitted_at=_this_week(n % 3, weeks=n % 5),
        )
    assert queries() == before


@pytest.fixture
def calibrations(world):
    """Besides the world's blind session on queue A: on A, sessions scored 80/60 (agreed 70) and
    90/50, and one revealed 13 weeks ago; on B, one scored 70/70 (agreed 75.50)."""
    version, (call_a, call_b), leads = world["version"], world["calls"], world["evaluators"]

    def session(call, scores, agreed=None):
        made = calibration_create(
            recording=call, scorecard_version=version, participants=leads, actor=leads[0]
        )
        for lead, score in zip(leads, scores, strict=True):
            evaluation_submit(Evaluation.objects.get(calibration=made, evaluator=lead), score=score)
        if agreed is not None:
            calibration_agree(session=made, actor=leads[0], agreed_score=Decimal(agreed))
        made.refresh_from_db()
        return made

    sessions = [session(call_a, ("80.00", "60.00"), "70.00"), session(call_a, ("90.00", "50.00"))]
    old = session(call_a, ("0.00", "100.00"), "50.00")
    long_ago = _this_week(weeks=13)
    CalibrationSession.objects.filter(pk=old.pk).update(created_at=long_ago, revealed_at=long_ago)
    sessions.append(session(call_b, ("70.00", "70.00"), "75.50"))
    return sessions


def _calibration_figures(row) -> tuple:
    return (row.revealed, row.mean_spread, row.agreed, row.mean_agreed, row.blind)


def test_calibrations_per_queue_for_the_dpo(calibrations, dpo, queue_a, queue_b):
    table = report_for(dpo).calibrations
    assert table is not None and table.dimension == Dimension.QUEUE
    by_queue = {row.key: row for row in table.rows}
    assert set(by_queue) == {queue_a.pk, queue_b.pk}
    # A: spreads 10 and 20, one agreed at 70, the world's session still blind; B: 0 and 75.50
    assert _calibration_figures(by_queue[queue_a.pk]) == (2, Decimal("15.00"), 1, Decimal("70.00"), 1)
    assert _calibration_figures(by_queue[queue_b.pk]) == (1, Decimal("0.00"), 1, Decimal("75.50"), 0)
    assert _calibration_figures(table.total) == (3, Decimal("10.00"), 2, Decimal("72.75"), 1)
    # 14 weeks reach the session revealed 13 weeks ago (spread 50, agreed 50)
    wide = {row.key: row for row in report_for(dpo, weeks=14).calibrations.rows}
    assert _calibration_figures(wide[queue_a.pk]) == (3, Decimal("26.67"), 2, Decimal("60.00"), 1)


def test_a_sessions_spread_is_the_one_its_page_shows(calibrations, dpo, queue_b):
    session = calibrations[-1]
    shown = calibration_comparison(session, list(session.evaluations.all())).overall.stdev
    (row,) = report_for(dpo, queue_id=queue_b.pk).calibrations.rows
    assert row.mean_spread == shown


def test_calibrations_follow_the_scorecard_grouping_and_the_filters(calibrations, dpo, queue_b, world):
    table = report_for(dpo, dimension=Dimension.SCORECARD).calibrations
    assert table.dimension == Dimension.SCORECARD
    (row,) = table.rows
    assert (row.key, row.label) == (world["version"].scorecard_id, "+Support basics")
    assert _calibration_figures(row) == (3, Decimal("10.00"), 2, Decimal("72.75"), 1)
    # by agent, the calibrations stay per queue: they score evaluators, not agents
    assert report_for(dpo, dimension=Dimension.AGENT).calibrations.dimension == Dimension.QUEUE
    assert [r.key for r in report_for(dpo, queue_id=queue_b.pk).calibrations.rows] == [queue_b.pk]
    other = published_version(name="Other")
    assert report_for(dpo, scorecard_id=other.scorecard_id).calibrations.rows == []


def test_a_qa_lead_reads_the_calibrations_of_their_queues_only(calibrations, qa_lead_a, qa_lead_b, queue_a):
    (row,) = report_for(qa_lead_a).calibrations.rows
    assert row.key == queue_a.pk and _calibration_figures(row)[0] == 2
    (row,) = report_for(qa_lead_b).calibrations.rows
    assert row.label == "Queue B"
    assert _calibration_figures(row) == (1, Decimal("0.00"), 1, Decimal("75.50"), 0)


def test_a_blind_session_shows_no_score(world, client, dpo):
    client.force_login(dpo)
    page = client.get(reverse(REPORT)).content.decode()
    table = page.split('id="report-calibrations"', 1)[1].split("</table>", 1)[0]
    # the world's only session: one of two submitted (10.00), still blind
    assert "still blind: 1" in table
    assert "10.00" not in table


def test_the_page_shows_the_calibrations(calibrations, client, qa_lead_b):
    client.force_login(qa_lead_b)
    page = client.get(reverse(REPORT)).content.decode()
    table = page.split('id="report-calibrations"', 1)[1].split("</table>", 1)[0]
    assert "Queue B" in table and "75.50" in table and "HYPERLINK" not in table


def test_the_number_of_queries_does_not_grow_with_the_sessions(calibrations, world, qa_lead_a, dpo):
    def queries(user) -> int:
        with CaptureQueriesContext(connection) as captured:
            report_for(user)
        return len(captured)

    queries(qa_lead_a), queries(dpo)  # their permissions cached, as on any page after the first
    before = {user: queries(user) for user in (qa_lead_a, dpo)}
    for scores in (("10.00", "20.00"), ("30.00", "90.00")):
        made = calibration_create(
            recording=world["calls"][0],
            scorecard_version=world["version"],
            participants=world["evaluators"],
            actor=world["evaluators"][0],
        )
        for lead, score in zip(world["evaluators"], scores, strict=True):
            evaluation_submit(Evaluation.objects.get(calibration=made, evaluator=lead), score=score)
    assert {user: queries(user) for user in (qa_lead_a, dpo)} == before
    assert report_for(dpo).calibrations.total.revealed == 5
