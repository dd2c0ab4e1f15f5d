"""A QA lead evaluates a call in the browser: opens it, plays it, drops two comments by clicking
the timeline at two points, seeks by clicking a comment, scores it and submits; screenshots of
each step (``journey.shot``)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse

from reviews.models import Evaluation, EvaluationStatus
from tests.e2e.desk import log_in
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


def test_a_qa_lead_plays_comments_on_the_timeline_scores_and_submits(
    live_server, page, console_log, journey, qa_lead_a, queue_a
):
    # given: a call of queue A with a scorecard for the queue
    version = scorecard_published(queue_a)
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
    evaluation = Evaluation.objects.get()
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
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the evaluation pages logged errors:\n{errors}"
