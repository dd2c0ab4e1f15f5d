"""A recipient opens a share link in a real browser: the token in the link's fragment reaches the
server in a POST only, never in a URL or a header, the recording plays from its token-free URL,
and the page raises no content-security-policy violation."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import Purpose, Recipient
from recordings.sharing.services import share_create
from tests.e2e.test_content_security_policy import RECORD_VIOLATIONS, violations
from tests.factories import PurposeFactory, RecordingFactory, _wav

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shared(dpo, queue_a):
    sharing = PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")
    recording = RecordingFactory(queue=queue_a, audio=_wav(seconds=2), purposes=[sharing])
    recipient = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    return share_create(
        recording=recording,
        recipient=recipient,
        ground="consent",
        expires_at=timezone.now() + datetime.timedelta(days=1),
        actor=dpo,
    )


def test_the_recipient_plays_the_call_and_the_token_travels_in_a_post_only(
    live_server, page, console_log, shared
):
    # given: every request the browser sends, as the server and any proxy would see it
    share, token = shared
    sent = []
    page.on("request", lambda request: sent.append(request))
    page.add_init_script(RECORD_VIOLATIONS)

    # when: the recipient follows the link from their mail
    page.goto(f"{live_server.url}/shares/open#{token}")
    page.wait_for_url(f"{live_server.url}/shares/s/{share.pk}/audio")
    page.wait_for_function("() => document.querySelector('video, audio') !== null")
    page.evaluate("() => document.querySelector('video, audio').play()")
    page.wait_for_function("() => document.querySelector('video, audio').ended", timeout=15_000)

    # then: it played, was logged, and no URL or header carried the token; the POST body did
    assert AccessEvent.objects.filter(action="share_fetch", object_id=share.recording_id).exists()
    assert sent, "the browser sent nothing"
    for request in sent:
        assert token not in request.url, request.url
        assert all(token not in value for value in request.all_headers().values()), request.url
    [post] = [request for request in sent if request.method == "POST"]
    assert token in (post.post_data or "")
    assert not console_log.errors, console_log.errors


def test_the_links_page_raises_no_content_security_policy_violation(live_server, page, console_log):
    page.add_init_script(RECORD_VIOLATIONS)

    response = page.goto(f"{live_server.url}/shares/open")

    assert response is not None and response.ok and "content-security-policy" in response.headers
    page.wait_for_load_state("load")
    assert violations(page) == []
    assert page.locator("#share-open input[name=token]").is_visible()
