"""Muted playback in every common call format: G.711 and float WAV muted in place to the sample,
and MP3, OGG/Opus, WebM/Opus, FLAC and M4A/AAC served from a muted rendition, rendered on a
worker and stored under the recording's key. Fixtures are generated in code by PyAV
(``audio_fixtures``): a tone whose loudness changes every second; what was served is decoded
again and measured per 100 ms window against the original, decoded the same way."""

from __future__ import annotations

import io
from decimal import Decimal
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessEvent
from recordings.audio import render
from recordings.intake.serializers import RecordingMetadataSerializer
from recordings.intake.services import recording_ingest
from recordings.models import MutedRendition, Recording, SensitiveSegment
from recordings.playback.audio import RENDITION_FAILED, RENDITION_PREPARING
from recordings.redaction.segments import sensitive_segment_mark
from recordings.renditions import (
    RENDER_TIMEOUT,
    muted_rendition_render,
    muted_rendition_request,
    renditions_finish,
    renditions_stale_delete,
)
from recordings.vault.keys import recording_aad, recording_key, rendition_aad
from recordings.vault.storage import ciphertext_open, recordings_storage
from recordings.vault.streaming_aead import StreamingAeadError
from retention.selectors import ErasureTarget
from retention.services import blobs_delete_pending, recordings_erase
from tests.factories import RecordingFactory
from tests.recordings.audio_fixtures import (
    FLOAT_WAV,
    FORMATS,
    SILENT_RMS,
    assert_silent_in_span_and_unchanged_elsewhere,
    decode,
    encode,
    g711_wav,
    rms,
    windows,
)
from tests.recordings.ingest_factories import call_metadata, reference_rows

pytestmark = pytest.mark.django_db

SEGMENT = (Decimal("3.000"), Decimal("5.000"))
ENCODED = {name: encode(fmt) for name, fmt in FORMATS.items()}


def audio_url(recording: Recording) -> str:
    return reverse("recording-audio", args=[recording.pk])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def recording_in(name: str, queue, *, segments=(SEGMENT,)) -> Recording:
    recording = RecordingFactory(queue=queue, audio=ENCODED[name], content_type=FORMATS[name].content_type)
    for start, end in segments:
        SensitiveSegment.objects.create(
            recording=recording, start_seconds=start, end_seconds=end, kind="payment_card"
        )
    return recording


def rendered(recording: Recording) -> MutedRendition:
    requested = muted_rendition_request(recording=recording)
    assert requested is not None
    rendition = muted_rendition_render(rendition_id=requested.pk)
    assert rendition is not None and rendition.status == MutedRendition.Status.READY, (
        rendition and rendition.error
    )
    return rendition


def assert_muted_in_span_and_unchanged_elsewhere(served: bytes, name: str) -> None:
    assert_silent_in_span_and_unchanged_elsewhere(
        ENCODED[name], served, SEGMENT, lossless=FORMATS[name].lossless, label=name
    )


# --- Compressed formats: the muted rendition ---------------------------------------------------


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_format_is_silent_in_its_segment_and_unchanged_elsewhere(client, qa_lead_a, queue_a, name):
    # given a call in this format with a segment, its rendition not yet made
    recording = recording_in(name, queue_a)
    client.force_login(qa_lead_a)
    refused = client.get(audio_url(recording))
    assert refused.status_code == 503
    assert refused.content.decode() == RENDITION_PREPARING
    # when the worker renders it
    rendition = rendered(recording)
    response = client.get(audio_url(recording))
    # then the muted rendition is what plays, silent in the segment, the rest as it was
    assert response.status_code == 200
    assert response["Content-Type"] == rendition.content_type
    served = body(response)
    assert served != ENCODED[name]
    assert len(served) == rendition.size_bytes == int(response["Content-Length"])
    assert_muted_in_span_and_unchanged_elsewhere(served, name)
    assert rendition.muted_seconds >= SEGMENT[1] - SEGMENT[0]


@pytest.mark.parametrize("name", ["m4a-aac", "webm-opus", "mp3"])
def test_ranges_over_a_rendition_join_to_the_whole(client, dpo, queue_a, name):
    recording = recording_in(name, queue_a)
    rendition = rendered(recording)
    client.force_login(dpo)
    whole = body(client.get(audio_url(recording)))
    size = len(whole)
    # given ranges of uneven sizes that cover the rendition, a suffix range last
    parts, start = [], 0
    for length in (1, 40, 9_000, 3, 20_000, 12_345):
        if start >= size // 2:
            break
        response = client.get(audio_url(recording), HTTP_RANGE=f"bytes={start}-{start + length - 1}")
        assert response.status_code == 206
        end = min(start + length, size) - 1
        assert response["Content-Range"] == f"bytes {start}-{end}/{size}"
        parts.append(body(response))
        start = end + 1
    assert start < size
    suffix = client.get(audio_url(recording), HTTP_RANGE=f"bytes=-{size - start}")
    parts.append(body(suffix))
    # then they join to exactly the whole rendition, and a range past its end is refused
    assert b"".join(parts) == whole
    assert size == rendition.size_bytes
    past = client.get(audio_url(recording), HTTP_RANGE=f"bytes={size}-")
    assert past.status_code == 416
    assert past["Content-Range"] == f"bytes */{size}"


def test_a_rendition_follows_its_segments_and_the_old_blob_goes(
    client, dpo, queue_a, django_capture_on_commit_callbacks
):
    recording = recording_in("ogg-opus", queue_a)
    old = rendered(recording)
    storage = recordings_storage()
    assert storage.exists(old.storage_ref)
    # when a DPO marks another segment
    with django_capture_on_commit_callbacks() as callbacks:
        sensitive_segment_mark(
            recording=recording, start_seconds="7", end_seconds="8", kind="other", actor=dpo
        )
    # then the old rendition is stale, a new one pending (its render and the deletion enqueued)
    old.refresh_from_db()
    assert old.status == MutedRendition.Status.STALE
    new = MutedRendition.objects.get(recording=recording, status=MutedRendition.Status.PENDING)
    assert len(callbacks) == 3  # and the redaction at rest of its payment segment, not done yet
    client.force_login(dpo)
    assert client.get(audio_url(recording)).status_code == 503  # never the old muting, never the original
    # and once the stale one is deleted and the new one rendered, the new segments are silent
    assert renditions_stale_delete() == 0
    assert not storage.exists(old.storage_ref)
    assert not MutedRendition.objects.filter(pk=old.pk).exists()
    muted_rendition_render(rendition_id=new.pk)
    served, rate = decode(body(client.get(audio_url(recording))))
    assert all(rms(w) < SILENT_RMS for w in windows(served, rate)[71:79])


def test_until_the_rendition_is_ready_no_audio_is_served(client, qa_lead_a, queue_a):
    recording = recording_in("mp3", queue_a)
    rendition = muted_rendition_request(recording=recording)
    client.force_login(qa_lead_a)
    for status, message in [
        (MutedRendition.Status.PENDING, RENDITION_PREPARING),
        (MutedRendition.Status.RUNNING, RENDITION_PREPARING),
        (MutedRendition.Status.FAILED, RENDITION_FAILED),
    ]:
        MutedRendition.objects.filter(pk=rendition.pk).update(status=status)
        response = client.get(audio_url(recording), HTTP_RANGE="bytes=0-99")
        assert response.status_code == 503
        assert response.content.decode() == message
        assert response["Cache-Control"] == "no-store, private"
        assert ("Retry-After" in response) == (message == RENDITION_PREPARING)
    assert not AccessEvent.objects.filter(action__in=["play", "unredacted"]).exists()
    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()
    assert "<audio" not in page and RENDITION_FAILED in page


def test_the_rendition_decrypts_only_under_the_recording_key_with_its_own_associated_data(queue_a):
    recording = recording_in("flac", queue_a)
    other = recording_in("flac", queue_a)
    rendition = rendered(recording)
    key = recording_key(recording)
    with ciphertext_open(
        name=rendition.storage_ref,
        key=key,
        associated_data=rendition_aad(recording.pk, rendition.fingerprint),
    ) as reader:
        assert reader.plaintext_size == rendition.size_bytes
    # neither as the recording's original audio, nor under another recording's key
    for wrong_key, wrong_aad in [
        (key, recording_aad(recording.pk)),
        (key, rendition_aad(recording.pk, "0" * 64)),
        (recording_key(other), rendition_aad(recording.pk, rendition.fingerprint)),
    ]:
        with (
            pytest.raises(StreamingAeadError),
            ciphertext_open(name=rendition.storage_ref, key=wrong_key, associated_data=wrong_aad),
        ):
            pass


@pytest.mark.parametrize("persona", ["dpo", "qa_lead_a", "qa_lead_b", "auditor", "stranger"])
def test_no_persona_hears_unmuted_audio_of_a_compressed_call(client, request, queue_a, persona):
    recording = recording_in("m4a-aac", queue_a)
    rendered(recording)
    client.force_login(request.getfixturevalue(persona))
    response = client.get(audio_url(recording))
    if persona in ("dpo", "qa_lead_a"):
        assert response.status_code == 200
        assert_muted_in_span_and_unchanged_elsewhere(body(response), "m4a-aac")
    else:
        assert response.status_code in (403, 404)
    # asking for the unredacted audio without a valid token is refused, never served muted or whole
    forged = client.get(audio_url(recording), {"unredacted": "forged"})
    assert forged.status_code in (403, 404)


def test_a_qa_lead_gets_no_unmuted_byte_in_any_format_before_or_after_the_render(client, qa_lead_a, queue_a):
    client.force_login(qa_lead_a)
    for name in FORMATS:
        recording = recording_in(name, queue_a)
        for _ in range(2):
            response = client.get(audio_url(recording))
            if response.status_code == 503:
                rendered(recording)
                continue
            assert response.status_code == 200
            assert body(response) != ENCODED[name]


# --- G.711 and float WAV: muted in place, to the sample -------------------------------------------


def test_float_wav_is_muted_in_place_to_the_sample(client, qa_lead_a, queue_a):
    audio = encode(FLOAT_WAV)
    recording = RecordingFactory(queue=queue_a, audio=audio)
    SensitiveSegment.objects.create(
        recording=recording, start_seconds=SEGMENT[0], end_seconds=SEGMENT[1], kind="other"
    )
    client.force_login(qa_lead_a)

    served = body(client.get(audio_url(recording)))

    assert muted_rendition_request(recording=recording) is None  # no rendition: muted as it streams
    original, _ = decode(audio)
    muted, _ = decode(served)
    assert set(muted[24000:40000]) == {0}  # 3 s to 5 s at 8 kHz, every sample
    assert muted[:24000] == original[:24000] and muted[40000:] == original[40000:]


@pytest.mark.parametrize(("law", "silence"), [("mulaw", 0xFF), ("alaw", 0xD5)])
def test_g711_wav_is_muted_in_place_to_the_sample(client, qa_lead_a, queue_a, law, silence):
    audio = g711_wav(law, seconds=2)
    recording = RecordingFactory(queue=queue_a, audio=audio)
    SensitiveSegment.objects.create(
        recording=recording, start_seconds=Decimal("0.5001"), end_seconds=Decimal("1.25"), kind="payment_card"
    )
    data_offset = len(audio) - 16000
    first, stop = data_offset + 4000, data_offset + 10000  # 0.5001 s floored to sample 4000, 1.25 s = 10000
    expected = audio[:first] + bytes([silence]) * (stop - first) + audio[stop:]
    client.force_login(qa_lead_a)

    served = body(client.get(audio_url(recording)))
    ranged = body(client.get(audio_url(recording), HTTP_RANGE=f"bytes={first - 3}-{stop + 2}"))

    assert served == expected
    assert ranged == expected[first - 3 : stop + 3]
    assert muted_rendition_request(recording=recording) is None  # no rendition: muted as it streams
    samples, _ = decode(served)
    assert max(abs(s) for s in samples[4000:10000]) <= 8  # µ-law's 0xFF is 0, A-law's 0xD5 is ±8
    assert min(abs(s) for s in samples[:4000]) > 8


# --- Life cycle: erasure, beat, failures, races ------------------------------------------------


def test_the_erasure_takes_the_renditions_and_their_blobs(queue_a):
    recording = recording_in("webm-opus", queue_a)
    rendition = rendered(recording)
    recordings_erase(
        targets=[ErasureTarget.of(recording)],
        reason="erasure_request",
        rules={recording.pk: "DSR-1"},
        now=timezone.now(),
    )
    assert MutedRendition.objects.get(pk=rendition.pk).status == MutedRendition.Status.STALE
    blobs_delete_pending()
    assert not MutedRendition.objects.filter(recording=recording).exists()
    assert not recordings_storage().exists(rendition.storage_ref)


def test_audio_that_cannot_be_rendered_fails_with_its_reason(client, dpo, queue_a):
    recording = RecordingFactory(queue=queue_a, audio=b"ID3" + bytes(5000), content_type="audio/mpeg")
    SensitiveSegment.objects.create(recording=recording, start_seconds=1, end_seconds=2, kind="other")
    rendition = muted_rendition_render(rendition_id=muted_rendition_request(recording=recording).pk)
    assert rendition.status == MutedRendition.Status.FAILED
    assert rendition.error
    assert not rendition.storage_ref or not recordings_storage().exists(rendition.storage_ref)
    client.force_login(dpo)
    assert client.get(audio_url(recording)).status_code == 503


def test_a_redelivered_render_does_nothing_and_a_change_during_the_render_drops_its_blob(queue_a):
    recording = recording_in("flac", queue_a)
    rendition = rendered(recording)
    assert muted_rendition_render(rendition_id=rendition.pk) is None  # already done
    # given a render during which the segments change
    SensitiveSegment.objects.create(recording=recording, start_seconds=8, end_seconds=9, kind="other")
    racing = muted_rendition_request(recording=recording)

    original_render = render.render_muted

    def change_then_render(*args, **kwargs):
        SensitiveSegment.objects.create(recording=recording, start_seconds=1, end_seconds=2, kind="other")
        muted_rendition_request(recording=recording)
        return original_render(*args, **kwargs)

    with mock.patch.object(render, "render_muted", side_effect=change_then_render):
        done = muted_rendition_render(rendition_id=racing.pk)
    # then the rendition it wrote is stale, never ready, and its blob is deleted with it
    assert done.status == MutedRendition.Status.STALE
    assert recordings_storage().exists(done.storage_ref)
    renditions_stale_delete()
    assert not recordings_storage().exists(done.storage_ref)


def test_beat_hands_back_abandoned_renders_resends_lost_ones_and_requests_missing_ones(
    queue_a, django_capture_on_commit_callbacks
):
    abandoned = recording_in("mp3", queue_a)
    lost = recording_in("flac", queue_a)
    missing = recording_in("ogg-opus", queue_a)
    first = muted_rendition_request(recording=abandoned)
    MutedRendition.objects.filter(pk=first.pk).update(
        status="running", started_at=timezone.now() - RENDER_TIMEOUT * 2, attempts=1
    )
    second = muted_rendition_request(recording=lost)
    MutedRendition.objects.filter(pk=second.pk).update(created_at=timezone.now() - RENDER_TIMEOUT)
    with django_capture_on_commit_callbacks() as callbacks:
        result = renditions_finish(now=timezone.now())
    assert result == {"handed_back": 1, "resent": 1, "requested": 1, "refused": 0}
    assert MutedRendition.objects.get(pk=first.pk).status == MutedRendition.Status.PENDING
    assert MutedRendition.objects.filter(recording=missing, status="pending").exists()
    assert (
        len(callbacks) == 2
    )  # the lost one sent again, the missing one's render; the abandoned one next round


# --- Intake: WebM ----------------------------------------------------------------------------


def test_a_webm_call_is_accepted_and_its_rendition_requested_on_commit(django_capture_on_commit_callbacks):

    reference_rows()
    metadata = call_metadata(
        sensitive_segments=[{"start_seconds": 3, "end_seconds": 5, "kind": "payment_card"}]
    )
    serializer = RecordingMetadataSerializer(data=metadata)
    assert serializer.is_valid(), serializer.errors
    with django_capture_on_commit_callbacks() as callbacks:
        recording = recording_ingest(
            audio=io.BytesIO(ENCODED["webm-opus"]), metadata=serializer.validated_data
        )
    assert recording.content_type == "audio/webm"
    rendition = MutedRendition.objects.get(recording=recording)
    assert rendition.status == MutedRendition.Status.PENDING
    # the render, enqueued once the ingest commits (the audit log's own marker aside)
    renders = [c for c in callbacks if "_enqueue_render" in c.__qualname__]
    assert len(renders) == 1
    assert muted_rendition_render(rendition_id=rendition.pk).status == MutedRendition.Status.READY
