"""/recordings/<id>/audio: decrypted, seekable, logged, and only for those allowed to play."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import PlaybackSession, Recording
from recordings.playback.sessions import MAX_RANGES, playbacks_seal_idle, ranges_merge
from recordings.vault.services import recording_keys_destroy
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


def player_url(client, recording: Recording) -> str:
    """The audio address the admin page gives its player (with its playback token)."""
    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()
    return html.unescape(re.search(r'<audio[^>]* src="([^"]+)"', page).group(1))


def seal(now=None) -> int:
    return playbacks_seal_idle(now=now or timezone.now() + timedelta(minutes=10))


def test_one_playback_is_one_access_event_with_every_range_it_asked_for(client, qa_lead_a, recording_a):
    # given: the QA lead opens the recording's page
    client.force_login(qa_lead_a)
    url = player_url(client, recording_a)

    # when: the player asks for the start, the end, then seeks back into the middle
    for header in ("bytes=0-", "bytes=-500", "bytes=100000-200000", "bytes=150000-"):
        body(client.get(url, HTTP_RANGE=header))

    # then: nothing is sealed while the player may still ask for more
    assert seal(now=timezone.now()) == 0
    assert PlaybackSession.objects.get().requests == 4
    # and once it has been idle, the playback is one event with its merged ranges
    assert seal() == 1
    event = AccessEvent.objects.get(action="play")
    assert (event.object_id, event.actor, event.purpose) == (recording_a.pk, qa_lead_a, "quality_assurance")
    assert event.detail["ranges"] == [[0, len(BIG_AUDIO) - 1]]
    assert event.detail["requests"] == 4
    assert PlaybackSession.objects.get().event == event
    assert seal() == 0  # sealed once


def test_separate_ranges_stay_separate_and_each_page_view_is_its_own_playback(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)
    first, second = player_url(client, recording_a), player_url(client, recording_a)

    body(client.get(first, HTTP_RANGE="bytes=0-99"))
    body(client.get(first, HTTP_RANGE="bytes=1000-1999"))
    body(client.get(second, HTTP_RANGE="bytes=5000-5999"))
    seal()

    events = AccessEvent.objects.filter(action="play").order_by("sequence")
    assert sorted(e.detail["ranges"] for e in events) == [[[0, 99], [1000, 1999]], [[5000, 5999]]]


def test_a_request_after_the_playback_was_sealed_starts_a_new_one(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)
    url = player_url(client, recording_a)
    body(client.get(url, HTTP_RANGE="bytes=0-99"))
    seal()

    body(client.get(url, HTTP_RANGE="bytes=200-299"))
    seal()

    assert [e.detail["ranges"] for e in AccessEvent.objects.filter(action="play").order_by("sequence")] == [
        [[0, 99]],
        [[200, 299]],
    ]


def test_a_request_without_a_valid_token_is_logged_at_once(client, qa_lead_a, dpo, recording_a):
    # given: a token the DPO's page issued, replayed by someone else
    client.force_login(dpo)
    dpo_url = player_url(client, recording_a)
    client.force_login(qa_lead_a)

    # when
    body(client.get(audio_url(recording_a), HTTP_RANGE="bytes=1000-2000"))
    body(client.get(dpo_url, HTTP_RANGE="bytes=0-9"))
    body(client.get(audio_url(recording_a) + "?playback=forged", HTTP_RANGE="bytes=10-19"))

    # then: each is its own playback, logged without waiting, under the one who asked
    events = list(AccessEvent.objects.filter(action="play").order_by("sequence"))
    assert [e.detail["ranges"] for e in events] == [[[1000, 2000]], [[0, 9]], [[10, 19]]]
    assert {e.actor for e in events} == {qa_lead_a}
    assert not PlaybackSession.objects.exists()


def test_ranges_merge_joins_overlapping_and_adjacent_ranges():
    assert ranges_merge([[0, 9], [20, 29]], [10, 19]) == [[0, 29]]
    assert ranges_merge([[0, 9]], [11, 19]) == [[0, 9], [11, 19]]
    assert ranges_merge([[5, 50]], [10, 20]) == [[5, 50]]
    many: list[list[int]] = []
    for n in range(MAX_RANGES + 1):
        many = ranges_merge(many, [n * 10, n * 10 + 1])
    assert many == [[0, MAX_RANGES * 10 + 1]]


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
    recording_keys_destroy(recordings=[recording_a], reasons={recording_a.pk: "test"})
    client.force_login(dpo)

    assert client.get(audio_url(recording_a)).status_code == 404


def test_admin_page_has_the_player_for_those_who_may_play(client, qa_lead_a, auditor, recording_a):
    client.force_login(qa_lead_a)
    page = client.get(reverse("admin:recordings_recording_change", args=[recording_a.pk])).content.decode()
    assert f'src="{audio_url(recording_a)}?playback=' in page

    client.force_login(auditor)
    page = client.get(reverse("admin:recordings_recording_change", args=[recording_a.pk])).content.decode()
    assert "<audio" not in page
