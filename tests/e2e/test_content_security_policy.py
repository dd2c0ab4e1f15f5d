"""The content security policy holds in a real browser: the DPO's dashboard (with its chart), the
recording page (player, transcript, sensitive segments), the requests list and an add form with
its JavaScript widgets raise no violation; so do the second-factor pages, walked through from
enrolment to the dashboard with CUSTOS_REQUIRE_2FA on."""

from __future__ import annotations

import datetime
import re
from base64 import b32decode
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp

from compliance_site.services import enrolment_code_issue
from dsr.models import DataSubjectRequest, RequestType
from dsr.services import request_create
from recordings.models import SensitiveSegment
from recordings.redaction.transcripts import transcript_store
from tests.e2e.test_qa_lead_playback import PASSWORD, log_in
from tests.factories import RecordingFactory, UserFactory, _wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Each violation, as the browser reports it to the page (init scripts run outside the policy).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || 'inline'} at ${where}`);
});
"""


def violations(page) -> list[str]:
    return page.evaluate("() => window.__cspViolations")


def visit(page, url: str) -> list[str]:
    response = page.goto(url)
    assert response is not None and response.ok, url
    assert "content-security-policy" in response.headers, url
    page.wait_for_load_state("load")
    return violations(page)


@pytest.fixture
def desk(dpo, queue_a):
    recording = RecordingFactory(queue=queue_a, audio=_wav(seconds=4))
    SensitiveSegment.objects.create(
        recording=recording, start_seconds=Decimal("1"), end_seconds=Decimal("2"), kind="payment_card"
    )
    transcript_store(recording, "Agent: Hello.\nCaller: My card is 4111 1111 1111 1111.\n", language="en")
    now = timezone.now()
    request_create(
        request_type=RequestType.ACCESS,
        channel=DataSubjectRequest.Channel.EMAIL,
        received_at=now - datetime.timedelta(days=40),
    )
    request_create(
        request_type=RequestType.ERASURE, channel=DataSubjectRequest.Channel.PHONE, received_at=now
    )
    return recording


def test_the_dpos_pages_raise_no_content_security_policy_violation(live_server, page, console_log, dpo, desk):
    page.add_init_script(RECORD_VIOLATIONS)
    log_in(page, live_server, dpo.username)
    seen: dict[str, list[str]] = {}

    # the dashboard with its chart
    seen["dashboard"] = visit(page, f"{live_server.url}/admin/")
    assert page.locator("#dsr-dashboard svg.dsr-chart").is_visible()

    # the recording page: the player plays, the transcript shows
    seen["recording"] = visit(
        page, f"{live_server.url}{reverse('admin:recordings_recording_change', args=[desk.pk])}"
    )
    assert page.locator("pre.transcript-text").is_visible()
    assert page.locator("pre.transcript-text").evaluate("e => getComputedStyle(e).whiteSpace") == "pre-wrap"
    page.evaluate("() => document.getElementById('recording-player').play()")
    page.wait_for_function("() => document.getElementById('recording-player').ended", timeout=15_000)
    assert page.evaluate("() => document.getElementById('recording-player').error") is None
    seen["recording, after playing"] = violations(page)

    # the requests list, with its coloured days left, and an add form with the admin's widgets
    seen["requests"] = visit(page, f"{live_server.url}{reverse('admin:dsr_datasubjectrequest_changelist')}")
    assert page.locator("strong.days-left-overdue").count() == 1
    seen["add recording"] = visit(page, f"{live_server.url}{reverse('admin:recordings_recording_add')}")
    seen["login attempts"] = visit(page, f"{live_server.url}{reverse('admin:axes_accessattempt_changelist')}")

    assert {name: found for name, found in seen.items() if found} == {}
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the DPO's pages logged errors:\n{errors}"


def test_enrolment_and_login_with_a_second_factor_in_the_browser(
    live_server, page, console_log, dpo, settings
):
    settings.CUSTOS_REQUIRE_2FA = True
    page.add_init_script(RECORD_VIOLATIONS)

    # given: the DPO logs in with the password and is led to enrolment, where the enrolment code
    # an administrator issued them opens the key
    code = enrolment_code_issue(user=dpo, actor=UserFactory(username="root.admin", is_superuser=True))
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", dpo.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/second-factor/enrol/"))
    assert page.locator("#second-factor-qr").count() == 0
    assert violations(page) == []
    page.fill("#id_enrolment_code", code)
    page.click("#enrolment-code-form [type=submit]")
    page.wait_for_selector("#second-factor-qr svg")
    assert page.locator("#second-factor-qr svg").is_visible()
    assert violations(page) == []

    # when: their "app" reads the key from the page and they confirm its code
    key = b32decode(page.locator("#second-factor-secret").inner_text().replace(" ", ""))
    page.fill("#id_token", f"{totp(key):06d}")
    page.click("#second-factor-enrol-form [type=submit]")

    # then: the recovery codes, once, then the dashboard
    codes = page.locator("#recovery-codes code").all_inner_texts()
    assert len(codes) == 10
    assert violations(page) == []
    page.click("#recovery-codes-continue")
    page.wait_for_url(re.compile(r"/admin/$"))
    assert page.locator("#dsr-dashboard").is_visible()

    # when: they log out and in again, with a recovery code this time
    page.click("#logout-form button")
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", dpo.username)
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/second-factor/"))
    # One field takes either code: nothing to tick first (issue 17, point 11).
    assert "10 left" in page.locator("#second-factor-help").inner_text()
    page.fill("#id_otp_token", codes[0])
    page.click("#second-factor-form [type=submit]")

    # then: in, told how many codes are left, with no violation on the way
    page.wait_for_url(re.compile(r"/admin/$"))
    assert "9 left" in page.locator("ul.messagelist").inner_text()
    assert violations(page) == []
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the pages logged errors:\n{errors}"
