"""Play events only on play (issue 17, point 7): the recording's page loads no audio, and a
playback's event carries the time ranges the player reports it played."""

from __future__ import annotations

import html
import json
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.models import PlaybackSession, Recording, SensitiveSegment
from recordings.playback.sessions import heard_merge, playbacks_seal_idle
from tests.factories import RecordingFactory, _wav

pytestmark = pytest.mark.django_db

AUDIO = _wav(seconds=20)


@pytest.fixture
def recording_a(queue_a):
    return RecordingFactory(queue=queue_a, audio=AUDIO)


def change_url(recording: Recording) -> str:
    return reverse("admin:recordings_recording_change", args=[recording.pk])


def heard_url(recording: Recording) -> str:
    return reverse("recording-heard", args=[recording.pk])


def player(client, recording: Recording, url: str | None = None) -> dict:
    """The player's attributes as the page renders them."""
    page = client.get(url or change_url(recording)).content.decode()
    tag = re.search(r"<audio[^>]*>", page).group(0)
    return {name: html.unescape(value) for name, value in re.findall(r'([\w-]+)="([^"]*)"', tag)}


def listen(client, attributes: dict, *ranges: str) -> None:
    for header in ranges:
        b"".join(client.get(attributes["src"], HTTP_RANGE=header).streaming_content)


def report(client, recording: Recording, attributes: dict, heard) -> int:
    body = {"playback": attributes["data-playback"], "heard": json.dumps(heard)}
    return client.post(heard_url(recording), body).status_code


def seal() -> int:
    return playbacks_seal_idle(now=timezone.now() + timedelta(minutes=10))


def test_opening_the_page_loads_no_audio_and_writes_no_play_event(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)

    attributes = player(client, recording_a)
    seal()

    # The browser fetches nothing before play is pressed: no metadata request, no playback.
    assert attributes["preload"] == "none"
    assert attributes["data-heard-url"] == heard_url(recording_a)
    assert parse_qs(urlsplit(attributes["src"]).query)["playback"] == [attributes["data-playback"]]
    assert not PlaybackSession.objects.exists()
    assert not AccessEvent.objects.filter(action="play").exists()


def test_the_unredacted_player_loads_no_audio_either(client, dpo, recording_a):
    SensitiveSegment.objects.create(
        recording=recording_a, start_seconds=1, end_seconds=2, kind="payment_card"
    )
    client.force_login(dpo)
    page = client.post(
        reverse("admin:recordings_recording_unredacted", args=[recording_a.pk]),
        {"reason": "Claim CLM-1234 needs the card digits checked."},
    ).content.decode()

    tag = re.search(r"<audio[^>]*>", page).group(0)
    assert 'preload="none"' in tag and f'data-heard-url="{heard_url(recording_a)}"' in tag
    assert not AccessEvent.objects.filter(action__in=["play", "unredacted"]).exists()


def test_a_playback_event_carries_the_time_ranges_heard(client, qa_lead_a, recording_a):
    # given: the QA lead pressed play; the browser fetched the whole file at once
    client.force_login(qa_lead_a)
    attributes = player(client, recording_a)
    listen(client, attributes, "bytes=0-")

    # when: the player reports it played 0-3.5 s, then (after a seek) 10-12 s, then 12.2-13 s
    assert report(client, recording_a, attributes, [[0, 3.5]]) == 204
    assert report(client, recording_a, attributes, [[0, 3.5], [10, 12], [12.2, 13.04]]) == 204

    # then: one event, with the bytes served and the seconds heard (merged)
    assert seal() == 1
    event = AccessEvent.objects.get(action="play")
    assert event.detail["ranges"] == [[0, len(AUDIO) - 1]]
    assert event.detail["heard_seconds"] == [[0, 3.5], [10, 13.0]]


def test_a_report_keeps_a_long_listen_one_playback(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)
    attributes = player(client, recording_a)
    listen(client, attributes, "bytes=0-")
    PlaybackSession.objects.update(last_request_at=timezone.now() - timedelta(minutes=5))

    # when: the player, still playing, reports
    report(client, recording_a, attributes, [[0, 9]])

    # then: the playback is not idle: nothing is sealed yet
    assert playbacks_seal_idle(now=timezone.now()) == 0


def test_a_report_alone_is_not_a_playback(client, qa_lead_a, recording_a):
    # given: a page opened, nothing played
    client.force_login(qa_lead_a)
    attributes = player(client, recording_a)

    # when: a report arrives anyway (forged, or the audio never came)
    assert report(client, recording_a, attributes, [[0, 5]]) == 204

    # then: no playback, no event
    assert not PlaybackSession.objects.exists()
    assert seal() == 0


def test_another_users_token_adds_nothing_to_their_playback(client, qa_lead_a, dpo, recording_a):
    # given: the DPO is listening
    client.force_login(dpo)
    attributes = player(client, recording_a)
    listen(client, attributes, "bytes=0-99")

    # when: the QA lead posts a report with the DPO's token
    client.force_login(qa_lead_a)
    assert report(client, recording_a, attributes, [[0, 20]]) == 204

    # then
    assert PlaybackSession.objects.get().heard == []


@pytest.mark.parametrize(
    "heard",
    [
        "not json",
        "",
        json.dumps({"from": 0}),
        json.dumps([[0]]),
        json.dumps([[5, 1]]),
        json.dumps([[-1, 2]]),
        json.dumps([[0, 10_000]]),
        json.dumps([["0", "1"]]),
        json.dumps([[True, 1]]),
        "[[NaN, 1]]",
        "[[0, Infinity]]",
        json.dumps([[0, 1]] * 201),
        "[" * 5000 + "]" * 5000,
        "[" * 20000,
        json.dumps([[0, 1e308]]),
    ],
)
def test_hostile_reports_are_refused_never_a_500(client, qa_lead_a, recording_a, heard):
    client.force_login(qa_lead_a)
    attributes = player(client, recording_a)
    listen(client, attributes, "bytes=0-99")

    response = client.post(heard_url(recording_a), {"playback": attributes["data-playback"], "heard": heard})

    assert response.status_code == 400
    assert PlaybackSession.objects.get().heard == []


@pytest.mark.parametrize("persona", ["qa_lead_b", "analyst", "stranger"])
def test_a_report_for_a_recording_one_may_not_play_is_not_found(request, client, recording_a, persona):
    client.force_login(request.getfixturevalue(persona))
    response = client.post(heard_url(recording_a), {"playback": "x", "heard": "[[0, 1]]"})
    assert response.status_code == 404


def test_the_report_endpoint_takes_posts_from_logged_in_staff_only(client, qa_lead_a, recording_a):
    assert client.post(heard_url(recording_a), {"heard": "[]"}).status_code == 302  # to the login
    client.force_login(qa_lead_a)
    assert client.get(heard_url(recording_a)).status_code == 405


def test_the_report_needs_the_csrf_token(qa_lead_a, recording_a):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(qa_lead_a)
    assert client.post(heard_url(recording_a), {"heard": "[]"}).status_code == 403


def test_heard_merge_joins_near_ranges_and_bounds_the_row():
    assert heard_merge([[0, 3]], [[3.2, 5], [10, 11]]) == [[0, 5], [10, 11]]
    many = heard_merge([], [[i * 2.0, i * 2.0 + 1] for i in range(300)])
    assert many == [[0.0, 599.0]]
