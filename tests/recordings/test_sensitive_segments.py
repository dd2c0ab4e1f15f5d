"""Sensitive segments: marked at ingest or in the admin, muted on the server for everyone without
unredacted playback, heard unredacted only with a reason given each time.

Expected bytes are computed here independently of ``recordings.playback.muting``: each segment's seconds
become frames (start floored, end ceiled), the frames bytes of the data chunk, and those bytes
the format's silence (0x80 for 8-bit, 0x00 otherwise); every other byte is the original's.

An unredacted-playback token that is not valid for the request (forged, expired, another user's,
another recording's, or held by someone without ``play_unredacted``) is refused with 403: asking
for unredacted audio never quietly falls back to the muted audio, nor to the original.
"""

from __future__ import annotations

import html
import io
import json
import math
import re
import struct
import time
import wave
from decimal import Decimal
from fractions import Fraction
from io import StringIO
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.core import signing
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import RequestFactory
from django.urls import resolve, reverse
from guardian.shortcuts import assign_perm
from rest_framework.test import APIClient

from compliance_site.audit.models import AccessEvent
from compliance_site.roles import DPO
from recordings.models import Recording, SensitiveSegment
from recordings.playback.audio import RENDITION_PREPARING, audio_response
from recordings.playback.muting import MutingUnsupported, mute, muted_byte_ranges, wav_layout
from recordings.playback.unredacted import REFUSED_MESSAGE, unredacted_token
from recordings.vault.keys import recording_key
from recordings.vault.streaming_aead import SEGMENT_SIZE
from tests.factories import RecordingFactory, UserFactory
from tests.recordings.ingest_factories import (
    MP3,
    WAV,
    assert_nothing_written,
    call_metadata,
    reference_rows,
)

pytestmark = pytest.mark.django_db

# The streaming AEAD's plaintext segment boundaries: 65480 bytes in the first, 65520 after.
FIRST_BOUNDARY = SEGMENT_SIZE - 40 - 16
SECOND_BOUNDARY = FIRST_BOUNDARY + SEGMENT_SIZE - 16


# --- Audio and the expected bytes, computed without recordings.playback.muting -------------------------


def pcm_wav(*, seconds: float, rate: int = 8000, channels: int = 1, width: int = 2) -> bytes:
    """A PCM WAV (written by the standard library) whose every frame is audible: no sample is
    silence, and neighbouring samples differ."""
    frames = int(seconds * rate)
    samples = bytearray()
    for i in range(frames):
        for channel in range(channels):
            if width == 1:
                samples.append(1 + (i * 7 + channel * 3) % 120)  # never 0x80
            else:
                value = 1000 + (i * 13 + channel * 5) % 9000  # never 0
                samples += value.to_bytes(4, "little", signed=True)[:width]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(width)
        out.setframerate(rate)
        out.writeframes(bytes(samples))
    return buffer.getvalue()


def expected_muted(
    audio: bytes, segments, *, rate: int, channels: int, width: int, data_offset: int = 44
) -> bytes:
    frame = channels * width
    silence = 0x80 if width == 1 else 0x00
    muted = bytearray(audio)
    for start, end in segments:
        first = data_offset + math.floor(Fraction(str(start)) * rate) * frame
        stop = min(data_offset + math.ceil(Fraction(str(end)) * rate) * frame, len(audio))
        muted[first:stop] = bytes([silence]) * (stop - first)
    return bytes(muted)


def samples_of(audio: bytes) -> tuple[list[tuple[int, ...]], int]:
    """Every frame's samples, decoded by the standard library, and the rate."""
    with wave.open(io.BytesIO(audio)) as wav:
        width, channels, rate = wav.getsampwidth(), wav.getnchannels(), wav.getframerate()
        raw = wav.readframes(wav.getnframes())
    frames = []
    for offset in range(0, len(raw), width * channels):
        frame = []
        for channel in range(channels):
            sample = raw[offset + channel * width : offset + (channel + 1) * width]
            frame.append(sample[0] if width == 1 else int.from_bytes(sample, "little", signed=True))
        frames.append(tuple(frame))
    return frames, rate


def mark(recording: Recording, *segments: tuple[str, str], kind: str = "payment_card") -> None:
    for start, end in segments:
        SensitiveSegment.objects.create(
            recording=recording, start_seconds=Decimal(start), end_seconds=Decimal(end), kind=kind
        )


def audio_url(recording: Recording) -> str:
    return reverse("recording-audio", args=[recording.pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def change_page(client, recording: Recording) -> str:
    return client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()


# --- Muted in the bytes served ----------------------------------------------------------------

FORMATS = {
    "8-bit mono": {"channels": 1, "width": 1},
    "16-bit mono": {"channels": 1, "width": 2},
    "16-bit stereo": {"channels": 2, "width": 2},
    "24-bit stereo": {"channels": 2, "width": 3},
}


@pytest.mark.parametrize("layout", FORMATS.values(), ids=FORMATS.keys())
def test_the_segments_are_silent_in_the_audio_a_qa_lead_gets(client, qa_lead_a, queue_a, layout):
    # given: a call with a card number at 0.5-0.75 s and an address at 1.2001-1.3 s (not on a
    # frame boundary: the muted range widens to whole frames)
    audio = pcm_wav(seconds=2, **layout)
    recording = RecordingFactory(queue=queue_a, audio=audio)
    segments = [("0.5", "0.75"), ("1.2001", "1.3")]
    mark(recording, *segments)
    client.force_login(qa_lead_a)

    # when
    served = body(client.get(audio_url(recording)))

    # then: exactly the segments' frames are silence, every other byte is the original's
    assert served == expected_muted(audio, segments, rate=8000, **layout)
    assert len(served) == len(audio) and served[:44] == audio[:44]
    frames, rate = samples_of(served)
    original, _ = samples_of(audio)
    silence = (128 if layout["width"] == 1 else 0,) * layout["channels"]
    muted = set(range(int(0.5 * rate), int(0.75 * rate))) | set(
        range(math.floor(1.2001 * rate), int(1.3 * rate))
    )
    assert all(frames[i] == silence for i in muted)
    assert all(frames[i] == original[i] != silence for i in range(len(frames)) if i not in muted)


CALL = pcm_wav(seconds=20)  # 16-bit mono at 8 kHz: 320 kB, five segments of the streaming AEAD
# Straddling the first and the second plaintext segment boundaries, and one more in between.
CALL_SEGMENTS = [("4.0", "4.2"), ("6", "6.001"), ("8.1", "8.3")]
CALL_MUTED = expected_muted(CALL, CALL_SEGMENTS, rate=8000, channels=1, width=2)


@pytest.fixture
def call_with_segments(queue_a) -> Recording:
    recording = RecordingFactory(queue=queue_a, audio=CALL)
    mark(recording, *CALL_SEGMENTS)
    return recording


def test_a_segment_across_a_boundary_of_the_streaming_encryption_is_muted_on_both_sides(
    client, qa_lead_a, call_with_segments
):
    # the test's premise: both boundaries fall inside a muted range
    for boundary in (FIRST_BOUNDARY, SECOND_BOUNDARY):
        assert CALL_MUTED[boundary - 10 : boundary + 10] == bytes(20)
        assert CALL[boundary - 10 : boundary + 10] != bytes(20)
    client.force_login(qa_lead_a)

    assert body(client.get(audio_url(call_with_segments))) == CALL_MUTED


def first_muted_byte(seconds: str) -> int:
    return 44 + math.floor(Fraction(seconds) * 8000) * 2


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={first_muted_byte('4.1')}-",  # starts inside a muted range (and a segment boundary)
        f"bytes=1000-{first_muted_byte('4.1') + 1}",  # ends inside one, mid-sample
        f"bytes={first_muted_byte('4.05') + 1}-{first_muted_byte('4.15')}",  # inside one, both ends odd
        f"bytes={FIRST_BOUNDARY}-{SECOND_BOUNDARY}",  # from one AEAD boundary to the next
        f"bytes={first_muted_byte('8.2')}-{first_muted_byte('8.2') + 1}",  # one muted sample
        "bytes=100000-120000",  # between segments: untouched
        "bytes=-200000",  # a suffix range over two segments
    ],
)
def test_range_requests_serve_the_muted_bytes_of_their_range(client, qa_lead_a, call_with_segments, header):
    client.force_login(qa_lead_a)

    response = client.get(audio_url(call_with_segments), HTTP_RANGE=header)

    assert response.status_code == 206
    start, end = map(int, re.match(r"bytes (\d+)-(\d+)/", response["Content-Range"]).groups())
    assert body(response) == CALL_MUTED[start : end + 1]
    assert int(response["Content-Length"]) == end - start + 1


def test_muting_is_the_same_however_the_stream_is_chunked():
    audio = pcm_wav(seconds=3, channels=2, width=2)
    segments = [
        (Decimal("0.25"), Decimal("0.5")),
        (Decimal("0.4"), Decimal("1")),
        (Decimal("2.9"), Decimal("9")),
    ]
    layout = wav_layout(lambda offset, length: audio[offset : offset + length], len(audio))
    ranges = muted_byte_ranges(layout, segments)
    expected = expected_muted(audio, [(str(s), str(e)) for s, e in segments], rate=8000, channels=2, width=2)
    # overlapping segments are joined; the one past the end stops at the data's end
    assert ranges == [(44 + 2000 * 4, 44 + 8000 * 4), (44 + 23200 * 4, len(audio))]
    for chunk_size in (97, 4096, 65520, len(audio)):  # 97: chunks end mid-sample, mid-frame
        for start in (0, 7, 44 + 2000 * 4 + 1):
            chunks = (audio[i : i + chunk_size] for i in range(start, len(audio), chunk_size))
            assert b"".join(mute(chunks, start, ranges, layout.silence)) == expected[start:]


def wav_with_chunks(fmt: bytes, frames: bytes, *, before_data: bytes = b"") -> bytes:
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + before_data
    chunks += b"data" + struct.pack("<I", len(frames)) + frames
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def test_the_data_chunk_is_found_after_other_chunks_and_extensible_pcm_is_pcm():
    frames = bytes(range(1, 201)) * 4  # 800 bytes: 400 frames of 16-bit mono
    pcm = struct.pack("<HHIIHH", 1, 1, 100, 200, 2, 16)
    listed = wav_with_chunks(pcm, frames, before_data=b"LIST" + struct.pack("<I", 5) + b"INFOx\x00")
    layout = wav_layout(lambda offset, length: listed[offset : offset + length], len(listed))
    assert (layout.data_offset, layout.data_size, layout.frame_bytes) == (len(listed) - 800, 800, 2)
    assert listed[layout.data_offset : layout.data_offset + 4] == frames[:4]

    guid = b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    extensible = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 100, 600, 6, 24, 22, 24, 3) + guid
    audio = wav_with_chunks(extensible, frames)
    layout = wav_layout(lambda offset, length: audio[offset : offset + length], len(audio))
    assert (layout.channels, layout.bits_per_sample, layout.silence, layout.data_size) == (2, 24, 0, 798)


@pytest.mark.parametrize(
    "fmt",
    [
        struct.pack("<HHIIHH", 3, 1, 100, 200, 2, 16),  # 16-bit float does not exist
        struct.pack("<HHIIHH", 0x11, 1, 100, 100, 1, 4),  # IMA ADPCM
        struct.pack("<HHIIHH", 1, 1, 100, 200, 2, 12),  # 12-bit
        struct.pack("<HHIIHH", 1, 2, 100, 400, 2, 16),  # block alignment of one channel
    ],
    ids=["float", "adpcm", "12-bit", "bad-block-align"],
)
def test_anything_but_pcm_float_or_g711_cannot_be_muted_in_place(fmt):
    audio = wav_with_chunks(fmt, bytes(400))
    with pytest.raises(MutingUnsupported):
        wav_layout(lambda offset, length: audio[offset : offset + length], len(audio))


def test_the_dpo_hears_the_segments_muted_too_without_a_reason(client, dpo, call_with_segments):
    client.force_login(dpo)

    assert body(client.get(audio_url(call_with_segments))) == CALL_MUTED


def test_audio_response_serves_redacted_or_whole_for_any_caller(call_with_segments):
    # what a share view will do: its own access decision, then the one audio response
    request = RequestFactory().get("/share/x/audio", HTTP_RANGE=f"bytes={FIRST_BOUNDARY - 100}-")
    key = recording_key(call_with_segments)

    redacted = audio_response(request, call_with_segments, key, redacted=True)
    whole = audio_response(request, call_with_segments, key, redacted=False)

    assert redacted.status_code == whole.status_code == 206
    assert body(redacted) == CALL_MUTED[FIRST_BOUNDARY - 100 :]
    assert body(whole) == CALL[FIRST_BOUNDARY - 100 :]
    assert not AccessEvent.objects.exists()  # logging is the view's business


# --- Fail closed until the muted rendition is ready (tests/recordings/test_formats.py) -----------


@pytest.fixture
def mp3_with_segment(queue_a) -> Recording:
    recording = RecordingFactory(queue=queue_a, audio=MP3, content_type="audio/mpeg")
    mark(recording, ("0.2", "0.4"))
    return recording


@pytest.mark.parametrize("persona", ["qa_lead_a", "dpo"])
def test_an_mp3_with_segments_is_refused_not_played_whole(client, request, persona, mp3_with_segment):
    client.force_login(request.getfixturevalue(persona))

    response = client.get(audio_url(mp3_with_segment), HTTP_RANGE="bytes=0-99")

    assert response.status_code == 503
    assert response.content.decode() == RENDITION_PREPARING
    assert not AccessEvent.objects.filter(action__in=["play", "unredacted"]).exists()
    page = change_page(client, mp3_with_segment)
    assert "<audio" not in page
    assert html.escape(RENDITION_PREPARING) in page


def test_an_mp3_without_segments_plays_and_a_compressed_wav_waits_for_its_rendition(
    client, qa_lead_a, queue_a
):
    mp3 = RecordingFactory(queue=queue_a, audio=MP3, content_type="audio/mpeg")
    adpcm_wav = RecordingFactory(
        queue=queue_a, audio=wav_with_chunks(struct.pack("<HHIIHH", 0x11, 1, 100, 100, 1, 4), bytes(400))
    )
    mark(adpcm_wav, ("0.1", "0.2"))
    client.force_login(qa_lead_a)

    assert body(client.get(audio_url(mp3))) == MP3
    assert client.get(audio_url(adpcm_wav)).status_code == 503
    assert "<audio" not in change_page(client, adpcm_wav)


# --- Unredacted playback: the permission, a reason each time, a valid token ---------------------


def unredacted_player_url(client, recording: Recording, reason: str = "Complaint CASE-2026-0412") -> str:
    page = reverse("admin:recordings_recording_unredacted", args=[recording.pk])
    response = client.post(page, {"reason": reason})
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    return html.unescape(
        re.search(r'<audio id="unredacted-player"[^>]* src="([^"]+)"', response.content.decode())[1]
    )


def test_the_dpo_gives_a_reason_hears_the_original_and_the_reason_is_logged(client, dpo, call_with_segments):
    client.force_login(dpo)
    # given: the recording's page offers the unredacted player, which asks for a reason
    assert 'id="play-unredacted"' in change_page(client, call_with_segments)
    form = client.get(reverse("admin:recordings_recording_unredacted", args=[call_with_segments.pk]))
    assert form.status_code == 200 and "<audio" not in form.content.decode()

    # when: they give one and play
    url = unredacted_player_url(client, call_with_segments)
    whole = body(client.get(url))
    seek = client.get(url, HTTP_RANGE=f"bytes={FIRST_BOUNDARY}-{FIRST_BOUNDARY + 9}")

    # then: the original audio, segments audible
    assert whole == CALL
    assert body(seek) == CALL[FIRST_BOUNDARY : FIRST_BOUNDARY + 10]
    # and each request is an unredacted event with the reason (and the playback is logged as ever)
    events = list(AccessEvent.objects.filter(action="unredacted").order_by("sequence"))
    assert [(e.actor, e.object_id) for e in events] == [(dpo, call_with_segments.pk)] * 2
    assert [e.detail["reason"] for e in events] == ["Complaint CASE-2026-0412"] * 2
    assert [e.detail["range"] for e in events] == [[0, len(CALL) - 1], [FIRST_BOUNDARY, FIRST_BOUNDARY + 9]]
    assert events[0].detail["grant"] == events[1].detail["grant"]
    assert parse_qs(urlsplit(url).query)["playback"]  # the player's requests are one playback


def test_a_reason_is_required(client, dpo, call_with_segments):
    client.force_login(dpo)
    page = reverse("admin:recordings_recording_unredacted", args=[call_with_segments.pk])

    response = client.post(page, {"reason": "  "})

    assert response.status_code == 200
    assert "<audio" not in response.content.decode()
    assert "This field is required." in response.content.decode()


def test_a_qa_lead_may_not_play_unredacted(client, qa_lead_a, dpo, call_with_segments):
    client.force_login(dpo)
    dpo_url = unredacted_player_url(client, call_with_segments)
    client.force_login(qa_lead_a)

    assert 'id="play-unredacted"' not in change_page(client, call_with_segments)
    page = reverse("admin:recordings_recording_unredacted", args=[call_with_segments.pk])
    assert client.get(page).status_code == 403
    assert client.post(page, {"reason": "I want to hear it all"}).status_code == 403
    # the DPO's player address is not theirs: refused, not served
    response = client.get(dpo_url)
    assert response.status_code == 403
    assert response.content.decode() == REFUSED_MESSAGE
    assert not AccessEvent.objects.filter(action__in=["play", "unredacted"]).exists()


def test_the_unredacted_page_is_not_found_for_a_recording_outside_the_grant(
    client, qa_lead_b, call_with_segments
):
    assign_perm("recordings.play_unredacted", qa_lead_b)  # even with the permission
    client.force_login(qa_lead_b)

    page = reverse("admin:recordings_recording_unredacted", args=[call_with_segments.pk])

    assert client.get(page).status_code == 404


@pytest.fixture
def second_dpo(roles):
    return UserFactory(username="dora.dpo", groups=[roles[DPO]])


def _forged(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def _token_issued_an_hour_ago(user, recording) -> str:
    real = time.time()
    original = signing.time.time
    signing.time.time = lambda: real - 3600
    try:
        return unredacted_token(user=user, recording=recording, reason="Claim L-22 review")
    finally:
        signing.time.time = original


@pytest.mark.parametrize(
    "case", ["forged", "expired", "other user's", "other recording's", "permission gone"]
)
def test_an_invalid_unredacted_token_is_refused_with_403(
    client, dpo, second_dpo, queue_a, call_with_segments, case
):
    other_recording = RecordingFactory(queue=queue_a, audio=CALL)
    token = {
        "forged": lambda: _forged(
            unredacted_token(user=dpo, recording=call_with_segments, reason="Claim L-22")
        ),
        "expired": lambda: _token_issued_an_hour_ago(dpo, call_with_segments),
        "other user's": lambda: unredacted_token(
            user=second_dpo, recording=call_with_segments, reason="Claim L-22"
        ),
        "other recording's": lambda: unredacted_token(
            user=dpo, recording=other_recording, reason="Claim L-22"
        ),
        "permission gone": lambda: unredacted_token(
            user=dpo, recording=call_with_segments, reason="Claim L-22"
        ),
    }[case]()
    if case == "permission gone":
        dpo.groups.clear()
        dpo.user_permissions.add(*_perms("play_recording", "view_recording", "view_all_recordings"))
    client.force_login(dpo)

    response = client.get(f"{audio_url(call_with_segments)}?unredacted={token}")

    assert response.status_code == 403
    assert response.content.decode() == REFUSED_MESSAGE
    assert not AccessEvent.objects.filter(action__in=["play", "unredacted"]).exists()


def _perms(*codenames: str):
    return Permission.objects.filter(content_type__app_label="recordings", codename__in=codenames)


def test_an_mp3_with_segments_plays_unredacted_with_a_reason(client, dpo, mp3_with_segment):
    client.force_login(dpo)
    assert 'id="play-unredacted"' in change_page(client, mp3_with_segment)

    assert body(client.get(unredacted_player_url(client, mp3_with_segment))) == MP3
    assert AccessEvent.objects.filter(action="unredacted", object_id=mp3_with_segment.pk).count() == 1


# --- Marking in the admin ---------------------------------------------------------------------


def segments_page(recording: Recording) -> str:
    return reverse("admin:recordings_recording_sensitive_segments", args=[recording.pk])


def test_a_qa_lead_marks_a_segment_which_is_muted_at_once_and_has_history(client, qa_lead_a, queue_a):
    audio = pcm_wav(seconds=3)
    recording = RecordingFactory(queue=queue_a, audio=audio)
    client.force_login(qa_lead_a)
    assert f'href="{segments_page(recording)}"' in change_page(client, recording)
    assert client.get(segments_page(recording)).status_code == 200

    # when
    response = client.post(
        segments_page(recording), {"kind": "bank_details", "start_seconds": "1.25", "end_seconds": "2"}
    )

    # then
    assert response.status_code == 302
    segment = SensitiveSegment.objects.get(recording=recording)
    assert (segment.kind, segment.source, segment.marked_by) == ("bank_details", "staff", qa_lead_a)
    assert (segment.start_seconds, segment.end_seconds) == (Decimal("1.25"), Decimal("2"))
    [history] = segment.history.all()
    assert (history.history_type, history.history_user) == ("+", qa_lead_a)
    page = client.get(segments_page(recording)).content.decode()
    assert "Bank details" in page and qa_lead_a.username in page
    # and the next playback has it muted
    expected = expected_muted(audio, [("1.25", "2")], rate=8000, channels=1, width=2)
    assert body(client.get(audio_url(recording))) == expected


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"kind": "health", "start_seconds": "30", "end_seconds": "250"}, "end_seconds", "after the call"),
        ({"kind": "health", "start_seconds": "241", "end_seconds": "242"}, "start_seconds", "after the call"),
        ({"kind": "health", "start_seconds": "30", "end_seconds": "30"}, "end_seconds", "must end after"),
        ({"kind": "nope", "start_seconds": "1", "end_seconds": "2"}, "kind", "valid choice"),
    ],
)
def test_a_segment_outside_the_call_or_backwards_is_refused(client, qa_lead_a, queue_a, data, field, message):
    recording = RecordingFactory(queue=queue_a)  # four minutes: 240 s
    client.force_login(qa_lead_a)

    response = client.post(segments_page(recording), data)

    assert response.status_code == 200
    assert message in str(response.context["form"].errors[field])
    assert not SensitiveSegment.objects.exists()


def test_marking_needs_the_permission_and_the_recording_in_reach(client, auditor, qa_lead_b, queue_a):
    recording = RecordingFactory(queue=queue_a)
    data = {"kind": "address", "start_seconds": "1", "end_seconds": "2"}

    client.force_login(auditor)  # sees every recording, marks nothing
    assert client.post(segments_page(recording), data).status_code == 403
    assert 'id="mark-sensitive"' not in change_page(client, recording)
    client.force_login(qa_lead_b)  # not their queue
    assert client.post(segments_page(recording), data).status_code == 404
    assert not SensitiveSegment.objects.exists()


# --- Ingest: the telephony system's segments --------------------------------------------------


@pytest.fixture
def api(db):
    cache.clear()
    out = StringIO()
    call_command("create_integration", "pbx-berlin", stdout=out, stderr=StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    yield client
    cache.clear()


def push(api, metadata, audio: bytes = WAV):
    file = io.BytesIO(audio)
    file.name = "call.wav"
    return api.post(
        "/api/v1/recordings/", {"audio": file, "metadata": json.dumps(metadata)}, format="multipart"
    )


def test_segments_arrive_with_the_call(api):
    reference_rows()
    segments = [
        {"start_seconds": 62.5, "end_seconds": "80", "kind": "payment_card"},
        {"start_seconds": "130.0004", "end_seconds": 141.2001, "kind": "address"},
    ]

    response = push(api, call_metadata(sensitive_segments=segments))

    assert response.status_code == 201, response.json()
    stored = SensitiveSegment.objects.filter(recording_id=response.json()["id"]).order_by("start_seconds")
    assert [(s.start_seconds, s.end_seconds, s.kind, s.source, s.marked_by) for s in stored] == [
        (Decimal("62.5"), Decimal("80"), "payment_card", "telephony", None),
        (Decimal("130.000"), Decimal("141.201"), "address", "telephony", None),  # rounded outward
    ]
    assert {row.history_user.username for s in stored for row in s.history.all()} == {"pbx-berlin"}


@pytest.mark.parametrize(
    ("segment", "field"),
    [
        ({"start_seconds": 200, "end_seconds": 241, "kind": "health"}, "end_seconds"),  # the call is 240 s
        ({"start_seconds": 240, "end_seconds": 250, "kind": "health"}, "start_seconds"),
        ({"start_seconds": 20, "end_seconds": 20, "kind": "health"}, "end_seconds"),
        ({"start_seconds": 20, "end_seconds": 10, "kind": "health"}, "end_seconds"),
        ({"start_seconds": -1, "end_seconds": 10, "kind": "health"}, "start_seconds"),
        ({"start_seconds": 1, "end_seconds": 10, "kind": "ssn"}, "kind"),
        ({"start_seconds": 1, "kind": "other"}, "end_seconds"),
    ],
)
def test_an_invalid_segment_refuses_the_call_naming_the_field_and_writes_nothing(api, segment, field):
    reference_rows()
    segments = [{"start_seconds": 1, "end_seconds": 2, "kind": "other"}, segment]

    response = push(api, call_metadata(sensitive_segments=segments))

    assert response.status_code == 400
    errors = response.json()["metadata"]["sensitive_segments"]
    assert list(errors) == ["1"] and list(errors["1"]) == [field], errors
    assert_nothing_written()
    assert not SensitiveSegment.objects.exists()


def test_an_mp3_with_segments_is_stored_and_then_refused_until_its_rendition_is_ready(api, client, qa_lead_a):
    rows = reference_rows()
    assign_perm("recordings.review_queue", qa_lead_a, rows["queue"])
    metadata = call_metadata(
        sensitive_segments=[{"start_seconds": 0.2, "end_seconds": 0.5, "kind": "health"}]
    )

    response = push(api, metadata, audio=MP3)

    assert response.status_code == 201, response.json()
    recording = Recording.objects.get(pk=response.json()["id"])
    assert recording.content_type == "audio/mpeg"
    assert recording.muted_renditions.get().status == "pending"
    client.force_login(qa_lead_a)
    assert client.get(audio_url(recording)).status_code == 503


def test_the_import_takes_segments_from_a_json_or_csv_manifest(tmp_path):
    reference_rows()
    (tmp_path / "a.wav").write_bytes(WAV)
    (tmp_path / "b.wav").write_bytes(WAV)
    (tmp_path / "calls.json").write_text(
        json.dumps(
            [
                {
                    "file": "a.wav",
                    **call_metadata(
                        reference="REC-A",
                        sensitive_segments=[{"start_seconds": 1, "end_seconds": 2, "kind": "other"}],
                    ),
                },
                {
                    "file": "b.wav",
                    **call_metadata(
                        reference="REC-B",
                        sensitive_segments=[{"start_seconds": 1, "end_seconds": 999, "kind": "other"}],
                    ),
                },
            ]
        )
    )
    out = StringIO()
    with pytest.raises(CommandError):
        call_command(
            "import_recordings", tmp_path, manifest=tmp_path / "calls.json", stdout=out, stderr=StringIO()
        )
    assert "sensitive_segments[0].end_seconds" in out.getvalue()
    assert list(
        SensitiveSegment.objects.values_list("recording__reference", "start_seconds", "end_seconds")
    ) == [("REC-A", Decimal("1"), Decimal("2"))]

    metadata = call_metadata(reference="REC-C")
    consent = metadata["consents"][0]
    (tmp_path / "calls.csv").write_text(
        "file,reference,subject_phone,queue,direction,started_at,ended_at,lawful_basis,purposes,"
        "consent_purposes,consent_decision,consent_method,consent_notice_version,consent_notice_language,"
        "consent_captured_at,consent_jurisdiction,sensitive_segments\n"
        f"a.wav,REC-C,+49 30 7654321,billing,inbound,{metadata['started_at']},{metadata['ended_at']},consent,"
        f"quality_assurance,quality_assurance,given,ivr_keypress,2026.1,en,{consent['captured_at']},DE,"
        "62.5-80:payment_card;130-141.2:address\n"
    )
    call_command(
        "import_recordings", tmp_path, manifest=tmp_path / "calls.csv", stdout=StringIO(), stderr=StringIO()
    )
    assert list(
        SensitiveSegment.objects.filter(recording__reference="REC-C").values_list(
            "start_seconds", "end_seconds", "kind"
        )
    ) == [(Decimal("62.5"), Decimal("80"), "payment_card"), (Decimal("130"), Decimal("141.2"), "address")]


# --- Roles ------------------------------------------------------------------------------------


def test_roles_hold_marking_and_only_the_dpo_unredacted_playback(dpo, qa_lead_a, auditor, analyst):
    assert dpo.has_perm("recordings.mark_sensitive") and dpo.has_perm("recordings.play_unredacted")
    assert qa_lead_a.has_perm("recordings.mark_sensitive")
    assert not qa_lead_a.has_perm("recordings.play_unredacted")
    for other in (auditor, analyst):
        assert not other.has_perm("recordings.mark_sensitive")
        assert not other.has_perm("recordings.play_unredacted")


def test_the_segments_are_listed_on_the_recording_page(client, qa_lead_a, call_with_segments):
    client.force_login(qa_lead_a)

    page = change_page(client, call_with_segments)

    assert 'id="recording-player"' in page
    assert "The sensitive segments below are muted on the server." in page
    assert page.count("Payment card") >= len(CALL_SEGMENTS)


def test_the_segment_pages_take_no_other_address_of_the_recording():
    # The admin's own routes take "<path:object_id>/...": ours must not swallow a longer address.
    assert resolve("/admin/recordings/recording/5/unredacted/").url_name == "recordings_recording_unredacted"
    assert resolve("/admin/recordings/recording/5/transcript/unredacted/").url_name != (
        "recordings_recording_unredacted"
    )
