"""The DPO re-attributes a call to another subject in Chromium: the page shows the subject by
reference, the re-attribution page previews what moves, and the call plays afterwards
(issue 17, point 1)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse

from compliance_site.audit.models import AccessAction, AccessEvent
from recordings.models import Recording
from tests.factories import DataSubjectFactory, RecordingFactory, _wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"  # UserFactory's, for throwaway test accounts
CALL_AUDIO = _wav(seconds=3)
PLAYER = "document.getElementById('recording-player')"
# Kept by CI as artefacts (issue 17: each journey's screenshots under var/).
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "e2e-screenshots"


def test_the_dpo_reattributes_a_call_by_reference_and_it_still_plays(
    live_server, page, console_log, dpo, queue_a
):
    call = RecordingFactory(queue=queue_a, audio=CALL_AUDIO)
    old_reference = call.subject.reference
    other = DataSubjectFactory()

    # given: the DPO on the call's page
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", dpo.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))
    page.goto(f"{live_server.url}{reverse('admin:recordings_recording_change', args=[call.pk])}")
    assert page.locator("#subject-link").inner_text() == old_reference
    assert page.locator("select[name=subject], input[name=subject]").count() == 0

    # when: they follow "Re-attribute", give the other subject's reference and a reason
    page.click("#reattribute-link")
    page.fill("#id_reference", other.reference)
    page.fill("#id_reason", "Ticket OPS-4711: the agent picked the wrong caller.")
    page.click("#reattribute-form [type=submit]")

    # then: a preview of what moves; nothing has changed yet
    assert page.locator("#reattribute-new-subject").inner_text() == other.reference
    page.screenshot(path=str(SCREENSHOTS / "reattribution-preview.png"), full_page=True)
    assert Recording.objects.get(pk=call.pk).subject_id == call.subject_id

    # when: they confirm
    page.click("#reattribute-confirm")

    # then: back on the call's page, attributed to the other subject, and it plays
    page.wait_for_url(re.compile(rf"/admin/recordings/recording/{call.pk}/change/$"))
    assert page.locator("#subject-link").inner_text() == other.reference
    page.screenshot(path=str(SCREENSHOTS / "reattribution-done.png"), full_page=True)
    page.evaluate(f"() => {PLAYER}.play()")
    page.wait_for_function(f"() => {PLAYER}.error === null && {PLAYER}.currentTime > 0.3")
    event = AccessEvent.objects.get(action=AccessAction.REATTRIBUTED)
    assert (event.detail["from"], event.detail["to"]) == (old_reference, other.reference)
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the pages logged errors:\n{errors}"
