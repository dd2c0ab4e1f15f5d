"""A QA lead logs in, lists the calls they may review, plays one in the admin's player and seeks
in it; a call outside their grant is not found, by its page or by its audio address. Their
listening becomes one access event."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from recordings.models import Consent, Purpose
from recordings.playback.sessions import playbacks_seal_idle
from recordings.services import consent_withdraw
from tests.factories import RecordingFactory, _wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # UserFactory's, for throwaway test accounts
CALL_AUDIO = _wav(seconds=6)  # 96 kB: two segments of the streaming encryption
PLAYER = "document.getElementById('recording-player')"


@pytest.fixture
def calls(queue_a, queue_b) -> dict:
    withdrawn = RecordingFactory(queue=queue_a)
    consent_withdraw(consent=Consent.objects.get(recording=withdrawn), via=Consent.Channel.PHONE)
    return {
        "to_play": RecordingFactory(queue=queue_a, audio=CALL_AUDIO),
        "also_permitted": RecordingFactory(queue=queue_a),
        "withdrawn": withdrawn,
        "forbidden": RecordingFactory(queue=queue_b),
    }


def log_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def player_state(page) -> dict:
    return page.evaluate(
        f"""() => {{
            const a = {PLAYER};
            return {{error: a.error && a.error.code, readyState: a.readyState, currentTime: a.currentTime,
                     duration: a.duration, ended: a.ended}};
        }}"""
    )


def test_qa_lead_plays_and_seeks_a_permitted_call_and_cannot_reach_a_forbidden_one(
    live_server, page, console_log, qa_lead_a, calls
):
    to_play, forbidden = calls["to_play"], calls["forbidden"]

    # given: QA lead A logged in to the back office
    log_in(page, live_server, qa_lead_a.username)

    # when: they open the recordings list
    page.click(f"#content-main a[href='{reverse('admin:recordings_recording_changelist')}']")
    page.wait_for_url(re.compile(r"/admin/recordings/recording/$"))

    # then: it lists queue A's lawful calls, not the withdrawn one, not queue B's
    references = page.locator("#result_list tbody th.field-reference")
    assert set(references.all_inner_texts()) == {to_play.reference, calls["also_permitted"].reference}

    # when: they open one and play it
    page.get_by_role("link", name=to_play.reference, exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/recordings/recording/{to_play.pk}/change/$"))
    assert page.locator("#recording-player").is_visible()
    page.evaluate(f"() => {PLAYER}.play()")  # Playwright's evaluate counts as a user gesture

    # then: the audio decodes and time runs
    page.wait_for_function(
        f"() => {PLAYER}.error === null && {PLAYER}.readyState >= 2 && {PLAYER}.currentTime > 0.3"
    )
    started = player_state(page)
    assert started["duration"] == pytest.approx(6, abs=0.05)

    # when: they seek to half a second before the end (served from the player's buffer or by a
    # new Range request)
    page.evaluate(
        f"""() => {{
            const a = {PLAYER};
            a.addEventListener("seeked", () => {{ window.soughtTo = a.currentTime; }}, {{once: true}});
            a.currentTime = a.duration - 0.5;
        }}"""
    )

    # then: the player lands there and plays on to the end, without an error
    page.wait_for_function("() => window.soughtTo !== undefined")
    page.wait_for_function(f"() => {PLAYER}.ended")
    sought_to = page.evaluate("() => window.soughtTo")
    assert sought_to == pytest.approx(5.5, abs=0.1)
    assert sought_to > started["currentTime"]
    ended = player_state(page)
    assert ended["error"] is None
    assert ended["readyState"] >= 2
    assert ended["currentTime"] == pytest.approx(ended["duration"], abs=0.05)
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the QA lead's pages logged errors:\n{errors}"

    # when: they type the address of a call of queue B
    change_page = page.goto(
        f"{live_server.url}{reverse('admin:recordings_recording_change', args=[forbidden.pk])}"
    )

    # then: it does not exist for them
    assert change_page.status == 404
    assert forbidden.reference not in page.content()

    # when: they type its audio address
    audio = page.goto(f"{live_server.url}{reverse('recording-audio', args=[forbidden.pk])}")

    # then: nor does its audio
    assert audio.status == 404

    # when: the playback is sealed, once the player has long been idle
    sealed = playbacks_seal_idle(now=timezone.now() + timedelta(minutes=10))

    # then: the whole listening, seek included, is one access event with the bytes it asked for
    assert sealed == 1
    [event] = AccessEvent.objects.filter(action=AccessAction.PLAY)
    assert (event.actor, event.object_id, event.purpose) == (
        qa_lead_a,
        to_play.pk,
        Purpose.QUALITY_ASSURANCE,
    )
    ranges = event.detail["ranges"]
    assert ranges, event.detail
    assert all(0 <= first <= last < len(CALL_AUDIO) for first, last in ranges)
    assert event.detail["requests"] >= 1
    assert max(last for _, last in ranges) == len(CALL_AUDIO) - 1  # the end it sought was served
