"""/shares/<token>/audio: the recipient hears the shared call, muted where it is sensitive, and
nothing else; every fetch is an access event."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from recordings.models import AccessEvent, Consent, Purpose, Recipient, SensitiveSegment
from recordings.services import consent_withdraw
from recordings.sharing import share_create, share_revoke
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


def test_the_recipient_hears_the_call_with_its_sensitive_second_muted(client, shared):
    _, token = shared

    served = body(client.get(f"/shares/{token}/audio"))

    assert len(served) == len(AUDIO)
    assert served[: HEADER + SECOND] == AUDIO[: HEADER + SECOND]
    assert served[HEADER + SECOND : HEADER + 2 * SECOND] == bytes(SECOND)
    assert served[HEADER + 2 * SECOND :] == AUDIO[HEADER + 2 * SECOND :]


def test_a_range_inside_the_muted_second_is_silent(client, shared):
    _, token = shared
    start = HEADER + SECOND + 1000

    response = client.get(f"/shares/{token}/audio", HTTP_RANGE=f"bytes={start}-{start + 99}")

    assert response.status_code == 206
    assert body(response) == bytes(100)


def test_every_fetch_is_an_access_event_naming_the_recipient_and_range(client, shared):
    share, token = shared

    body(client.get(f"/shares/{token}/audio", HTTP_RANGE="bytes=0-99"))

    event = AccessEvent.objects.get(action="share_fetch")
    assert event.object_id == share.recording_id
    assert event.detail["recipient"] == share.recipient_id
    assert "0-99" in event.detail["range"]
    share.refresh_from_db()
    assert share.fetch_count == 1


def test_an_unknown_token_opens_nothing(client, shared):
    assert client.get("/shares/not-a-token/audio").status_code == 404


def test_a_revoked_or_expired_share_is_gone(client, shared, dpo):
    share, token = shared

    share_revoke(share=share, reason="done", actor=dpo)

    assert client.get(f"/shares/{token}/audio").status_code == 410


def test_withdrawing_the_consent_closes_the_link_at_once(client, shared):
    share, token = shared

    consent_withdraw(consent=Consent.objects.get(recording=share.recording), via="phone")

    assert client.get(f"/shares/{token}/audio").status_code == 410
