"""Opening a recording's page plays nothing and logs no playback; pressing play logs one, with
the time ranges heard (issue 17, point 7). In Chromium, as a QA lead and a DPO use it."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from recordings.models import PlaybackSession
from recordings.playback.sessions import playbacks_seal_idle
from tests.factories import RecordingFactory, _wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # UserFactory's, for throwaway test accounts
CALL_AUDIO = _wav(seconds=6)
PLAYER = "document.getElementById('recording-player')"
# Kept by CI as artefacts (issue 17: each journey's screenshots under var/).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "e2e-screenshots"


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def seal() -> int:
    return playbacks_seal_idle(now=timezone.now() + timedelta(minutes=10))


@pytest.mark.parametrize("persona", ["qa_lead_a", "dpo"])
def test_opening_the_page_logs_nothing_and_pressing_play_logs_what_was_heard(
    request, live_server, page, console_log, queue_a, persona
):
    user = request.getfixturevalue(persona)
    call = RecordingFactory(queue=queue_a, audio=CALL_AUDIO)
    audio_requests: list[str] = []
    page.on("request", lambda r: audio_requests.append(r.url) if "/audio" in r.url else None)

    # given: logged in
    log_in(page, live_server, user.username)

    # when: they open the recording's page and stay a moment
    page.goto(f"{live_server.url}{reverse('admin:recordings_recording_change', args=[call.pk])}")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)

    # then: no audio was asked for, no playback exists, no play event is written
    assert audio_requests == []
    assert page.evaluate(f"() => {PLAYER}.readyState") == 0
    assert not PlaybackSession.objects.exists()
    assert seal() == 0
    assert not AccessEvent.objects.filter(action=AccessAction.PLAY).exists()
    page.screenshot(path=str(SCREENSHOTS / f"play-events-{persona}-page-opened.png"), full_page=True)

    # when: they press play, listen a little over a second, and pause
    page.evaluate(f"() => {PLAYER}.play()")  # Playwright's evaluate counts as a user gesture
    page.wait_for_function(f"() => {PLAYER}.currentTime > 1.2")
    with page.expect_response(lambda r: "/heard" in r.url) as reported:
        page.evaluate(f"() => {PLAYER}.pause()")
    assert reported.value.status == 204
    heard_until = page.evaluate(f"() => {PLAYER}.currentTime")
    page.screenshot(path=str(SCREENSHOTS / f"play-events-{persona}-played.png"), full_page=True)

    # then: once sealed, one play event with the bytes served and the seconds heard
    assert audio_requests, "pressing play fetched the audio"
    assert seal() == 1
    [event] = AccessEvent.objects.filter(action=AccessAction.PLAY)
    assert (event.actor, event.object_id) == (user, call.pk)
    assert event.detail["ranges"] and event.detail["requests"] >= 1
    [[start, end]] = event.detail["heard_seconds"]
    assert start == pytest.approx(0, abs=0.2)
    assert 1.2 <= end <= heard_until + 0.2
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the pages logged errors:\n{errors}"
