"""/recordings/<id>/audio: decrypted, seekable, logged, and only for those allowed to play."""

from __future__ import annotations

import pytest
from django.urls import reverse

from recordings.models import AccessEvent, Recording
from recordings.services import recording_key_destroy
from tests.factories import RecordingFactory, _wav

pytestmark = pytest.mark.django_db

BIG_AUDIO = _wav(seconds=20)  # 320 kB: several 64 KiB segments


@pytest.fixture
def recording_a(queue_a):
    return RecordingFactory(queue=queue_a, audio=BIG_AUDIO)


def audio_url(recording: Recording) -> str:
    return reverse("recording-audio", args=[recording.pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_full_playback_is_the_original_audio(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)

    response = client.get(audio_url(recording_a))

    assert response.status_code == 200
    assert body(response) == BIG_AUDIO
    assert response["Accept-Ranges"] == "bytes"
    assert response["Cache-Control"] == "no-store, private"
    assert response["Content-Type"] == "audio/wav"


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=65000-140000", 65000, 140000),  # across segment boundaries
        ("bytes=300000-", 300000, len(BIG_AUDIO) - 1),
        ("bytes=-500", len(BIG_AUDIO) - 500, len(BIG_AUDIO) - 1),
    ],
)
def test_range_requests_answer_206_with_the_exact_bytes(client, qa_lead_a, recording_a, header, start, end):
    client.force_login(qa_lead_a)

    response = client.get(audio_url(recording_a), HTTP_RANGE=header)

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(BIG_AUDIO)}"
    assert int(response["Content-Length"]) == end - start + 1
    assert body(response) == BIG_AUDIO[start : end + 1]


def test_range_past_the_end_is_416(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)

    response = client.get(audio_url(recording_a), HTTP_RANGE=f"bytes={len(BIG_AUDIO)}-")

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(BIG_AUDIO)}"


def test_each_playback_request_is_one_access_event_with_its_range(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)

    body(client.get(audio_url(recording_a), HTTP_RANGE="bytes=1000-2000"))

    event = AccessEvent.objects.get(action="play")
    assert (event.object_id, event.actor, event.purpose) == (recording_a.pk, qa_lead_a, "quality_assurance")
    assert event.detail["range"] == [1000, 2000]


@pytest.mark.parametrize("persona", ["qa_lead_b", "analyst", "stranger", "auditor"])
def test_who_may_not_play_gets_404(client, request, persona, recording_a):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(audio_url(recording_a)).status_code == 404
    assert not AccessEvent.objects.filter(action="play").exists()


def test_anonymous_is_sent_to_login(client, recording_a):
    response = client.get(audio_url(recording_a))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_restricted_recording_is_not_played_even_for_the_dpo(client, dpo, queue_a):
    restricted = RecordingFactory(queue=queue_a, status=Recording.Status.RESTRICTED)
    client.force_login(dpo)

    assert client.get(audio_url(restricted)).status_code == 404


def test_dpo_plays_any_active_recording(client, dpo, recording_a):
    client.force_login(dpo)

    assert body(client.get(audio_url(recording_a))) == BIG_AUDIO


def test_shredded_recording_is_gone(client, dpo, recording_a):
    recording_key_destroy(recording=recording_a, reason="test")
    client.force_login(dpo)

    assert client.get(audio_url(recording_a)).status_code == 404


def test_admin_page_has_the_player_for_those_who_may_play(client, qa_lead_a, auditor, recording_a):
    client.force_login(qa_lead_a)
    page = client.get(reverse("admin:recordings_recording_change", args=[recording_a.pk])).content.decode()
    assert f'src="{audio_url(recording_a)}"' in page

    client.force_login(auditor)
    page = client.get(reverse("admin:recordings_recording_change", args=[recording_a.pk])).content.decode()
    assert "<audio" not in page
