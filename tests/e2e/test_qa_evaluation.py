"""A QA lead evaluates a call in the browser: opens it, plays it, drops two comments by clicking
the timeline at two points, seeks by clicking a comment, scores it and submits; then calibrates
the call with a second lead (blind until both submit, then side by side with the spread), and the
QA report shows both: the evaluation in the queue's numbers, the session in its calibrations.
Screenshots of each step (``journey.shot``)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm

from reviews.models import CalibrationSession, Evaluation, EvaluationStatus
from tests.e2e.desk import log_in, log_out
from tests.factories import RecordingFactory, _wav
from tests.reviews.factories import scorecard_published

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CALL_SECONDS = 8
PLAYER = "document.getElementById('recording-player')"


def click_timeline_at(page, fraction: float) -> None:
    timeline = page.locator("#evaluation-timeline")
    box = timeline.bounding_box()
    assert box is not None
    timeline.click(position={"x": box["width"] * fraction, "y": box["height"] / 2})


def score_and_submit(page, version, answers: dict[str, str]) -> None:
    """Answer the scorecard's questions (key: value) and submit; the page reloads."""
    for key, value in answers.items():
        pk = version.questions.get(key=key).pk
        page.check(f"input[name='q-{pk}'][value='{value}']")
    with page.expect_navigation():
        page.click("#evaluation-submit")


def open_own_calibration_evaluation(page, live_server, session: CalibrationSession) -> None:
    page.goto(f"{live_server.url}{reverse('admin:reviews_calibrationsession_change', args=[session.pk])}")
    page.locator("#calibration-own a").click()
    page.wait_for_url(re.compile(r"/admin/reviews/evaluation/\d+/change/$"))


def test_a_qa_lead_evaluates_a_call_calibrates_it_with_a_second_lead_and_the_report_shows_both(
    live_server, page, console_log, journey, qa_lead_a, qa_lead_b, queue_a
):
    # given: a call of queue A with a scorecard for the queue; lead B reviews queue A too
    version = scorecard_published(queue_a)
    assign_perm("recordings.review_queue", qa_lead_b, queue_a)
    call = RecordingFactory(queue=queue_a, audio=_wav(seconds=CALL_SECONDS))
    call.ended_at = call.started_at + datetime.timedelta(seconds=CALL_SECONDS)
    call.save(update_fields=["ended_at"])
    log_in(page, live_server, qa_lead_a.username)

    # when: the lead opens the call and chooses to evaluate it
    page.goto(f"{live_server.url}{reverse('admin:recordings_recording_change', args=[call.pk])}")
    journey.shot("the call's page")
    page.click("#evaluate-link")
    page.wait_for_url(re.compile(rf"/admin/reviews/evaluation/start/{call.pk}/$"))
    journey.shot("choose the scorecard")
    page.click("#evaluation-start")
    page.wait_for_url(re.compile(r"/admin/reviews/evaluation/\d+/change/$"))
    evaluation = Evaluation.objects.get(calibration=None)
    assert evaluation.scorecard_version == version

    # and: plays it
    page.evaluate(f"() => {PLAYER}.play()")
    page.wait_for_function(f"() => {PLAYER}.error === null && {PLAYER}.currentTime > 0.3")
    page.evaluate(f"() => {PLAYER}.pause()")
    journey.shot("playing the call")

    # and: drops two comments by clicking the timeline at a quarter and at three quarters
    for fraction, body in ((0.25, "Greeting was warm."), (0.75, "Long silence before the answer.")):
        click_timeline_at(page, fraction)
        expected = int(CALL_SECONDS * fraction)
        assert page.locator("#comment-position").inner_text() == f"00:{expected:02d}"
        page.fill("#comment-body", body)
        journey.shot(f"comment at 00:{expected:02d}")
        with page.expect_navigation():
            page.click("#comment-add")

    # then: both are saved at their points, in order
    positions = list(evaluation.comments.values_list("position_ms", flat=True))
    assert len(positions) == 2
    assert positions[0] == pytest.approx(2000, abs=250) and positions[1] == pytest.approx(6000, abs=250)
    assert page.locator(".evaluation-marker").count() == 2

    # when: the lead clicks the second comment's time
    page.locator("button.evaluation-seek").nth(1).click()

    # then: the player seeks there
    page.wait_for_function(f"() => {PLAYER}.currentTime >= {positions[1] / 1000 - 0.1}")
    page.evaluate(f"() => {PLAYER}.pause()")
    assert page.evaluate(f"() => {PLAYER}.currentTime") == pytest.approx(positions[1] / 1000, abs=1.0)
    journey.shot("sought to the second comment")

    # when: the lead scores the call and submits
    for key, value in (("identified", "yes"), ("tone", "4"), ("resolved", "2")):
        pk = version.questions.get(key=key).pk
        page.check(f"input[name='q-{pk}'][value='{value}']")
    page.fill("#answer-notes", "Resolved at first contact.")
    journey.shot("the scorecard filled in")
    with page.expect_navigation():
        page.click("#evaluation-submit")

    # then: submitted with the server's score
    journey.shot("submitted")
    assert "93.75 / 100" in page.locator("#evaluation-score").inner_text()
    evaluation.refresh_from_db()
    assert evaluation.status == EvaluationStatus.SUBMITTED
    assert str(evaluation.score) == "93.75"

    # when: lead A sets a calibration of the call with lead B
    page.goto(
        f"{live_server.url}{reverse('admin:reviews_calibrationsession_add')}?recording={call.reference}"
    )
    page.select_option("#id_scorecard_version", str(version.pk))
    for lead in (qa_lead_a, qa_lead_b):
        page.check(f"input[name='participants'][value='{lead.pk}']")
    journey.shot("a calibration with lead B")
    page.click("#calibration-create")
    page.wait_for_url(re.compile(r"/admin/reviews/calibrationsession/\d+/change/$"))
    session = CalibrationSession.objects.get()
    assert set(session.participants.all()) == {qa_lead_a, qa_lead_b}
    assert "Blind" in page.locator("#calibration-state").inner_text()
    journey.shot("the calibration, blind")

    # and: lead B scores it blind (yes, 2 of 5, partly: 56.25) and submits
    log_out(page)
    log_in(page, live_server, qa_lead_b.username)
    open_own_calibration_evaluation(page, live_server, session)
    journey.shot("lead B's calibration evaluation")
    score_and_submit(page, version, {"identified": "yes", "tone": "2", "resolved": "1"})
    assert "56.25 / 100" in page.locator("#evaluation-score").inner_text()
    journey.shot("lead B submitted")

    # then: lead B sees the session still blind: their own score, nobody else's
    page.goto(f"{live_server.url}{reverse('admin:reviews_calibrationsession_change', args=[session.pk])}")
    assert "Blind" in page.locator("#calibration-state").inner_text()
    assert "56.25" in page.locator("#calibration-own").inner_text()
    assert page.locator("#calibration-comparison").count() == 0
    assert "93.75" not in page.content()
    journey.shot("lead B sees it still blind")

    # when: lead A scores the calibration (93.75) and submits
    log_out(page)
    log_in(page, live_server, qa_lead_a.username)
    open_own_calibration_evaluation(page, live_server, session)
    score_and_submit(page, version, {"identified": "yes", "tone": "4", "resolved": "2"})
    assert "93.75 / 100" in page.locator("#evaluation-score").inner_text()
    journey.shot("lead A submitted the calibration")

    # then: the session is revealed, both side by side with the spread (population: 18.75)
    page.goto(f"{live_server.url}{reverse('admin:reviews_calibrationsession_change', args=[session.pk])}")
    assert "Revealed" in page.locator("#calibration-state").inner_text()
    header = page.locator("#calibration-comparison thead").text_content() or ""
    assert qa_lead_a.username in header and qa_lead_b.username in header
    overall = page.locator("#calibration-overall").inner_text()
    assert "93.75" in overall and "56.25" in overall and "18.75" in overall
    journey.shot("both side by side with the spread")

    # and: lead A, who created it, records the agreed score
    page.fill("#id_agreed_score", "80")
    page.fill("#id_note", "Tone was fair; resolved in full.")
    with page.expect_navigation():
        page.click("#calibration-agree")
    assert "80.00" in page.locator("#calibration-agreed").inner_text()
    journey.shot("the agreed score")

    # then: the report shows lead A's evaluation in queue A's numbers (the calibration's two
    # scores left out) and the revealed session in its calibrations
    page.goto(f"{live_server.url}{reverse('admin:reviews_report')}")
    totals = page.locator("#report-totals tbody tr").filter(has_text="Queue A")
    assert totals.locator("td").all_inner_texts()[:2] == ["1", "93.75"]
    calibrations = page.locator("#report-calibrations tbody tr").filter(has_text="Queue A")
    assert calibrations.locator("td").all_inner_texts() == ["1", "18.75", "1", "80.00", "still blind: 0"]
    journey.shot("the report shows both")
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the evaluation pages logged errors:\n{errors}"
