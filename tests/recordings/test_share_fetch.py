"""A share link (/shares/open#<token>): the recipient hears the shared call, muted where it is
sensitive, and nothing else; every fetch is an access event."""

from __future__ import annotations

import datetime
import re
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core import signing
from django.test import Client
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import Consent, Purpose, Recipient, SensitiveSegment, Share
from recordings.services import consent_withdraw
from recordings.sharing.services import share_create, share_revoke, token_hash
from recordings.sharing.views import SHARE_PASS_SECONDS
from tests.factories import PurposeFactory, RecordingFactory, _wav

pytestmark = pytest.mark.django_db

AUDIO = _wav(seconds=3)  # 8 kHz, 16-bit mono: 16,000 bytes a second after a 44-byte header
HEADER = 44
SECOND = 16_000


@pytest.fixture
def shared(queue_a, dpo):
    sharing = PurposeFactory(code=Purpose.SHARING, name="Sharing with third parties")
    recording = RecordingFactory(queue=queue_a, audio=AUDIO, purposes=[sharing])
    SensitiveSegment.objects.create(
        recording=recording, start_seconds=Decimal("1.0"), end_seconds=Decimal("2.0"), kind="payment_card"
    )
    recipient = Recipient.objects.create(name="Dispute Lawyers LLP", role="third_party", country="DE")
    share, token = share_create(
        recording=recording,
        recipient=recipient,
        ground="consent",
        expires_at=timezone.now() + datetime.timedelta(days=3),
        actor=dpo,
    )
    return share, token


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def opened(client, token: str) -> str:
    """What the link's page does: POST the token from the fragment; the token-free audio URL."""
    response = client.post("/shares/open", {"token": token})
    assert response.status_code == 303, response.content
    return response["Location"]


def test_the_recipient_hears_the_call_with_its_sensitive_second_muted(client, shared):
    _, token = shared

    served = body(client.get(opened(client, token)))

    assert len(served) == len(AUDIO)
    assert served[: HEADER + SECOND] == AUDIO[: HEADER + SECOND]
    assert served[HEADER + SECOND : HEADER + 2 * SECOND] == bytes(SECOND)
    assert served[HEADER + 2 * SECOND :] == AUDIO[HEADER + 2 * SECOND :]


def test_a_range_inside_the_muted_second_is_silent(client, shared):
    _, token = shared
    start = HEADER + SECOND + 1000

    response = client.get(opened(client, token), HTTP_RANGE=f"bytes={start}-{start + 99}")

    assert response.status_code == 206
    assert body(response) == bytes(100)


def test_every_fetch_is_an_access_event_naming_the_recipient_and_range(client, shared):
    share, token = shared

    body(client.get(opened(client, token), HTTP_RANGE="bytes=0-99"))

    event = AccessEvent.objects.get(action="share_fetch")
    assert event.object_id == share.recording_id
    assert event.detail["recipient"] == share.recipient_id
    assert "0-99" in event.detail["range"]
    share.refresh_from_db()
    assert share.fetch_count == 1


def test_fetches_are_counted_in_place_without_a_history_row_each(client, shared):
    share, token = shared
    audio = opened(client, token)
    versions = share.history.count()

    for first in (0, 100, 200):
        body(client.get(audio, HTTP_RANGE=f"bytes={first}-{first + 99}"))

    share.refresh_from_db()
    assert share.fetch_count == 3
    # A player's many Range requests are access events, not versions of the share.
    assert share.history.count() == versions
    assert AccessEvent.objects.filter(action="share_fetch").count() == 3


def test_an_unknown_token_opens_nothing(client, shared):
    assert client.post("/shares/open", {"token": "not-a-token"}).status_code == 404
    assert client.get("/shares/not-a-token/audio").status_code == 404


def test_a_revoked_or_expired_share_is_gone(client, shared, dpo):
    share, token = shared
    audio = opened(client, token)

    share_revoke(share=share, reason="done", actor=dpo)

    assert client.get(audio).status_code == 410  # the pass it gave stops at once
    assert client.post("/shares/open", {"token": token}).status_code == 410
    assert client.get(f"/shares/{token}/audio").status_code == 410


def test_withdrawing_the_consent_closes_the_link_at_once(client, shared):
    share, token = shared
    audio = opened(client, token)

    consent_withdraw(consent=Consent.objects.get(recording=share.recording), via="phone")

    assert client.get(audio).status_code == 410
    assert client.post("/shares/open", {"token": token}).status_code == 410


# --- the token stays out of every URL a server logs (issue 14, item 4) ----------------------------


def test_the_link_carries_its_token_in_the_fragment_which_no_request_sends(client, shared, dpo):
    # given: the DPO creates a share in the admin
    share, _ = shared
    client.force_login(dpo)
    expires = timezone.localtime(timezone.now() + datetime.timedelta(days=2))

    # when
    page = client.post(
        "/admin/recordings/share/add/",
        {
            "recording": share.recording_id,
            "recipient": share.recipient_id,
            "ground": "consent",
            "ground_note": "",
            "expires_at_0": expires.strftime("%Y-%m-%d"),
            "expires_at_1": expires.strftime("%H:%M:%S"),
        },
        follow=True,
    )

    # then: the link is the page's URL, with the token after "#" only
    [link] = re.findall(r"http://testserver/shares/open#([A-Za-z0-9_-]+)", page.content.decode())
    assert len(link) == 43  # secrets.token_urlsafe(32)
    assert Share.objects.filter(token_hash=token_hash(link)).exists()


def test_the_links_page_moves_the_token_into_a_post_with_a_same_origin_script(client):
    response = client.get("/shares/open")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<form id="share-open" method="post" action="/shares/open">' in html
    assert 'src="/static/custos/share_open.js"' in html
    assert "<script>" not in html  # no inline script: the CSP allows same-origin files only
    script = (Path(settings.BASE_DIR) / "compliance_site/static/custos/share_open.js").read_text()
    assert "location.hash" in script and "replaceState" in script and "form.submit()" in script


def test_the_page_works_with_csrf_checks_on_as_a_browser_sees_it(shared):
    # given: a browser that first loads the page (which sets the CSRF cookie)
    _, token = shared
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/shares/open")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)

    # when: its script posts the token
    response = browser.post("/shares/open", {"token": token, "csrfmiddlewaretoken": csrf})

    # then
    assert response.status_code == 303
    assert browser.get(response["Location"], HTTP_RANGE="bytes=0-9").status_code == 206


def test_opening_gives_a_short_lived_pass_for_that_share_only_and_a_token_free_url(client, shared):
    share, token = shared

    response = client.post("/shares/open", {"token": f"https://custos.example/shares/open#{token}"})

    assert response.status_code == 303
    assert response["Location"] == f"/shares/s/{share.pk}/audio"
    [cookie] = response.cookies.values()
    assert cookie["path"] == f"/shares/s/{share.pk}/"
    assert cookie["max-age"] == SHARE_PASS_SECONDS == 3600
    assert cookie["httponly"] and cookie["samesite"] == "Lax"
    assert token not in cookie.value and token not in response["Location"]


def test_the_audio_url_needs_the_pass_of_its_own_share(client, shared, dpo):
    # given: a second share, opened in this browser
    share, _ = shared
    other, other_token = share_create(
        recording=share.recording,
        recipient=share.recipient,
        ground="consent",
        expires_at=timezone.now() + datetime.timedelta(days=1),
        actor=dpo,
    )
    opened(client, other_token)

    # then: its pass does not open the first share, nor does no pass at all
    response = client.get(f"/shares/s/{share.pk}/audio")
    assert response.status_code == 403
    assert "Open the link you received again" in response.content.decode()
    assert Client().get(f"/shares/s/{other.pk}/audio").status_code == 403
    assert client.get(f"/shares/s/{other.pk}/audio", HTTP_RANGE="bytes=0-9").status_code == 206


def test_a_forged_or_expired_pass_opens_nothing(client, shared, monkeypatch):
    _, token = shared
    audio = opened(client, token)
    name = next(iter(client.cookies))

    client.cookies[name] = client.cookies[name].value[:-2] + "xx"
    assert client.get(audio).status_code == 403

    opened(client, token)
    later = time.time() + SHARE_PASS_SECONDS + 1
    monkeypatch.setattr(signing.time, "time", lambda: later)
    assert client.get(audio).status_code == 403


def test_a_link_of_the_old_form_still_opens_with_range_and_muting(client, shared):
    _, token = shared
    start = HEADER + SECOND + 1000

    response = client.get(f"/shares/{token}/audio", HTTP_RANGE=f"bytes={start}-{start + 99}", follow=True)

    assert response.redirect_chain[0][1] == 302
    assert token not in response.redirect_chain[-1][0]
    assert response.status_code == 206
    assert body(response) == bytes(100)


@pytest.mark.parametrize("persona", ["dpo", "analyst", "qa_lead_a", "auditor", "stranger"])
def test_a_staff_session_is_no_pass_for_a_share(client, request, shared, persona):
    # The audio of a share is the recipient's, opened by the link; no role's session opens it,
    # and every share id answers alike, so none can be probed for.
    share, _ = shared
    client.force_login(request.getfixturevalue(persona))

    assert client.get(f"/shares/s/{share.pk}/audio").status_code == 403
    assert client.get(f"/shares/s/{share.pk + 1000}/audio").status_code == 403
