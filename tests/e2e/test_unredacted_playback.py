"""The DPO plays a call with a sensitive segment: muted in the page's player (the browser decodes
the muted WAV to the end), then, with a reason, unredacted; the reason is in the access log."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from compliance_site.audit.models import AccessAction, AccessEvent
from recordings.models import SensitiveSegment
from tests.e2e.test_qa_lead_playback import log_in
from tests.factories import RecordingFactory, _wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CALL_AUDIO = _wav(seconds=6)


def played_to_the_end(page, player: str) -> dict:
    # The page may still be loading after a form's submit: wait for its player first.
    page.wait_for_selector(f"#{player}", state="attached")
    page.evaluate(f"() => document.getElementById('{player}').play()")
    page.wait_for_function(f"() => document.getElementById('{player}').ended", timeout=15_000)
    return page.evaluate(
        f"() => {{ const a = document.getElementById('{player}'); return {{error: a.error && a.error.code, "
        "duration: a.duration}; }"
    )


def test_dpo_hears_the_segment_muted_then_unredacted_with_a_reason(
    live_server, page, console_log, dpo, queue_a
):
    recording = RecordingFactory(queue=queue_a, audio=CALL_AUDIO)
    SensitiveSegment.objects.create(
        recording=recording, start_seconds=Decimal("2"), end_seconds=Decimal("3.5"), kind="payment_card"
    )
    log_in(page, live_server, dpo.username)

    # the page's player plays the muted audio, whole
    page.goto(f"{live_server.url}{reverse('admin:recordings_recording_change', args=[recording.pk])}")
    assert page.locator("#sensitive-segments").inner_text().count("Payment card") == 1
    muted = played_to_the_end(page, "recording-player")
    assert muted["error"] is None and muted["duration"] == pytest.approx(6, abs=0.05)

    # "Play unredacted" asks for a reason, then gives a player that plays the original
    page.click("#play-unredacted")
    page.wait_for_url(re.compile(rf"/recordings/recording/{recording.pk}/unredacted/$"))
    page.fill("#id_reason", "Chargeback dispute CB-7731")
    page.click("input[type=submit][value='Play unredacted']")
    unredacted = played_to_the_end(page, "unredacted-player")
    assert unredacted["error"] is None

    events = AccessEvent.objects.filter(action=AccessAction.UNREDACTED, object_id=recording.pk)
    assert events.exists()
    assert {e.detail["reason"] for e in events} == {"Chargeback dispute CB-7731"}
    assert not console_log.errors, "\n".join(console_log.errors)
