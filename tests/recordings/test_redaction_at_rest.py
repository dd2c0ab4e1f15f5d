"""Redaction at rest: the stored audio itself loses its payment segments, in every common format,
under a new recording key; the old key and the old blob go; the rest of the call is unchanged.

Fixtures are generated in code by PyAV (``audio_fixtures``): a tone whose loudness changes every
second, and G.711 WAV written by hand. What is stored after the rewrite is decrypted with the live
key (and with Tink, for the format) and measured per 100 ms window against the original."""

from __future__ import annotations

import datetime
import hashlib
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from recordings.models import AtRestRedaction, MutedRendition, Recording, RecordingKey, SensitiveSegment
from recordings.redaction.transcripts import transcript_read, transcript_store
from recordings.redaction_at_rest import redaction_at_rest_request, redaction_at_rest_run
from recordings.redaction_at_rest_beat import redactions_at_rest_finish
from recordings.vault.keys import recording_aad, recording_key
from recordings.vault.storage import audio_open, recordings_storage
from recordings.vault.streaming_aead import StreamingAeadError
from recordings.vault.streaming_decrypt import decrypt_bytes
from retention.selectors import ErasureTarget
from retention.services import recordings_erase
from tests.factories import RecordingFactory
from tests.recordings.audio_fixtures import (
    FLOAT_WAV,
    FORMATS,
    MARGIN,
    SILENT_RMS,
    Format,
    assert_silent_in_span_and_unchanged_elsewhere,
    correlation,
    decode,
    encode,
    g711_wav,
    rms,
    windows,
)
from tests.recordings.tink_ground_truth import tink_streaming_primitive

pytestmark = pytest.mark.django_db

SEGMENT = (Decimal("3.000"), Decimal("5.000"))
PCM_WAV = Format("wav", "pcm_s16le", 8000, "audio/wav", "wav", lossless=True)
ALL = {**FORMATS, "pcm-wav": PCM_WAV, "float-wav": FLOAT_WAV}
ENCODED = {name: encode(fmt) for name, fmt in ALL.items()}


def stored_audio(recording: Recording) -> bytes:
    recording.refresh_from_db()
    with audio_open(name=recording.storage_ref, key=recording_key(recording), recording_id=recording.pk) as r:
        return b"".join(r.iter_range(0, None))


def with_segment(audio: bytes, content_type: str, *, kind: str = "payment_card", **kwargs) -> Recording:
    recording = RecordingFactory(audio=audio, content_type=content_type, **kwargs)
    SensitiveSegment.objects.create(
        recording=recording, start_seconds=SEGMENT[0], end_seconds=SEGMENT[1], kind=kind
    )
    return recording


def redacted(recording: Recording) -> AtRestRedaction:
    requested = redaction_at_rest_request(recording=recording)
    assert requested is not None
    redaction = redaction_at_rest_run(redaction_id=requested.pk)
    assert redaction is not None and redaction.status == AtRestRedaction.Status.DONE, (
        redaction and redaction.error
    )
    return redaction


def assert_silent_in_segment_and_unchanged_elsewhere(audio: bytes, name: str) -> None:
    assert_silent_in_span_and_unchanged_elsewhere(
        ENCODED[name], audio, SEGMENT, lossless=ALL[name].lossless, label=name
    )


def tink_decrypt(key: bytes, ciphertext: bytes, associated_data: bytes) -> bytes:
    primitive = tink_streaming_primitive(key)
    with primitive.new_decrypting_stream(io.BytesIO(ciphertext), associated_data) as stream:
        return stream.read()


def erase(recording: Recording) -> None:
    recordings_erase(
        targets=[ErasureTarget.of(recording)],
        reason="erasure_request",
        rules={recording.pk: "DSR-1"},
        now=timezone.now(),
    )


def blob(name: str) -> bytes:
    with recordings_storage().open(name, "rb") as handle:
        return handle.read()


@pytest.mark.parametrize("name", list(ALL))
def test_each_format_is_silent_at_rest_under_a_new_key_and_the_old_version_is_gone(name):
    # given a call in this format with a payment segment
    recording = with_segment(ENCODED[name], ALL[name].content_type)
    old_ref, old_checksum = recording.storage_ref, recording.checksum_sha256
    old_key = recording_key(recording)
    # when it is redacted at rest
    redaction = redacted(recording)
    recording.refresh_from_db()
    # then the stored audio, opened by Tink with the live key, is silent in the segment only
    new_key = recording_key(recording)
    assert new_key != old_key
    plaintext = tink_decrypt(new_key, blob(recording.storage_ref), recording_aad(recording.pk))
    assert plaintext == stored_audio(recording)
    assert_silent_in_segment_and_unchanged_elsewhere(plaintext, name)
    # and the row says what it now is
    assert recording.storage_ref != old_ref
    assert recording.checksum_sha256 == hashlib.sha256(plaintext).hexdigest() != old_checksum
    assert recording.size_bytes == len(plaintext)
    assert recording.history.filter(history_change_reason="redacted at rest").exists()
    # and the unredacted version is gone: its blob deleted, its key in no live row
    assert not recordings_storage().exists(old_ref)
    assert redaction.source_deleted_at is not None and bytes(redaction.previous_wrapped_key) == b""
    live_keys = [recording_key(r) for r in Recording.objects.exclude(status=Recording.Status.ERASED)]
    assert old_key not in live_keys
    # and evidence: the segment is marked, the rule and an access event name it
    segment = recording.sensitive_segments.get()
    assert segment.redacted_at_rest_id == redaction.pk
    assert redaction.segments[0]["kind"] == "payment_card" and "payment card" in redaction.rule
    assert Decimal(redaction.muted_seconds) >= Decimal("2.000")
    event = AccessEvent.objects.get(action=AccessAction.REDACTED_AT_REST, object_id=recording.pk)
    assert event.detail["segments"] == 1 and event.detail["kinds"] == ["payment_card"]


def test_the_old_ciphertext_decrypts_under_no_live_key_even_if_a_copy_was_kept():
    # given a copy of the unredacted blob taken before the rewrite (a backup of the storage)
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    copy = blob(recording.storage_ref)
    redacted(recording)
    # then no live recording key opens it
    for key_row in RecordingKey.objects.filter(destroyed_at__isnull=True).select_related("recording"):
        with pytest.raises(StreamingAeadError):
            key = recording_key(key_row.recording)
            decrypt_bytes(copy, key=key, associated_data=recording_aad(recording.pk))


def test_a_wav_is_silenced_to_the_sample_and_keeps_its_size():
    audio = g711_wav("mulaw", seconds=10)
    recording = with_segment(audio, "audio/wav")
    redacted(recording)
    after = stored_audio(recording)
    assert len(after) == len(audio)
    data = audio.index(b"data") + 8
    first, stop = data + 3 * 8000, data + 5 * 8000
    assert after[first:stop] == b"\xff" * (stop - first)  # µ-law's silence
    assert after[:first] == audio[:first] and after[stop:] == audio[stop:]


def test_playback_serves_the_stored_audio_without_a_rendition_once_redacted(client, qa_lead_a, queue_a):
    recording = with_segment(ENCODED["mp3"], "audio/mpeg", queue=queue_a)
    redacted(recording)
    client.force_login(qa_lead_a)
    response = client.get(reverse("recording-audio", args=[recording.pk]))
    assert response.status_code == 200  # no 503 "being prepared": nothing is left to mute
    assert b"".join(response.streaming_content) == stored_audio(recording)
    assert not MutedRendition.objects.filter(recording=recording).exclude(status="stale").exists()


def test_kinds_outside_the_policy_stay_in_the_stored_audio(settings):
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav", kind="address")
    assert redaction_at_rest_request(recording=recording) is None
    settings.CUSTOS_REDACT_AT_REST_KINDS = ("payment_card", "address")
    assert redaction_at_rest_request(recording=recording) is not None


def test_the_transcript_moves_to_the_new_key_and_stays_readable():
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    transcript_store(recording, "The caller asked about the invoice.")
    redacted(recording)
    recording.refresh_from_db()
    assert transcript_read(recording.transcript) == "The caller asked about the invoice."


def test_a_kept_unredacted_version_lasts_its_window_then_goes(settings):
    settings.CUSTOS_UNREDACTED_KEEP_HOURS = 24
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    old_ref = recording.storage_ref
    requested = redaction_at_rest_request(recording=recording)
    redaction = redaction_at_rest_run(redaction_id=requested.pk)
    assert redaction.status == AtRestRedaction.Status.SWAPPED
    assert recordings_storage().exists(old_ref) and bytes(redaction.previous_wrapped_key)
    # before the window ends beat leaves it; after, the key goes first, then the blob
    redactions_at_rest_finish(now=timezone.now() + datetime.timedelta(hours=23))
    assert recordings_storage().exists(old_ref)
    redactions_at_rest_finish(now=timezone.now() + datetime.timedelta(hours=25))
    redaction.refresh_from_db()
    assert redaction.status == AtRestRedaction.Status.DONE and bytes(redaction.previous_wrapped_key) == b""
    assert not recordings_storage().exists(old_ref)


def test_erasing_the_recording_drops_a_kept_unredacted_key(settings):
    settings.CUSTOS_UNREDACTED_KEEP_HOURS = 24
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    requested = redaction_at_rest_request(recording=recording)
    redaction_at_rest_run(redaction_id=requested.pk)
    erase(recording)
    redaction = AtRestRedaction.objects.get(pk=requested.pk)
    assert bytes(redaction.previous_wrapped_key) == b""


def test_a_rewrite_whose_recording_was_erased_meanwhile_is_cancelled_and_its_blob_deleted(monkeypatch):
    from recordings import redaction_at_rest

    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    requested = redaction_at_rest_request(recording=recording)
    rewrite = redaction_at_rest._rewrite
    written = []

    def rewrite_then_erase(claim):
        result = rewrite(claim)
        written.append(result.name)
        erase(recording)
        return result

    monkeypatch.setattr(redaction_at_rest, "_rewrite", rewrite_then_erase)
    redaction = redaction_at_rest_run(redaction_id=requested.pk)
    assert redaction.status == AtRestRedaction.Status.CANCELLED
    assert not recordings_storage().exists(written[0])
    # its blob was written down before it was deleted: had the worker died between, beat would
    assert redaction.discarded_refs == [written[0]]
    assert redactions_at_rest_finish(now=timezone.now())["discarded"] == 1
    assert AtRestRedaction.objects.get(pk=redaction.pk).discarded_refs == []


def test_beat_hands_back_an_abandoned_rewrite_and_deletes_its_half_written_blob():
    from recordings import redaction_at_rest

    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    requested = redaction_at_rest_request(recording=recording)
    claim = redaction_at_rest._claim(requested.pk)
    rewritten = redaction_at_rest._rewrite(claim)  # the worker dies here, before its swap
    counts = redactions_at_rest_finish(now=timezone.now() + datetime.timedelta(hours=1))
    assert counts["handed_back"] == 1
    assert not recordings_storage().exists(rewritten.name)
    redaction = AtRestRedaction.objects.get(pk=requested.pk)
    assert redaction.status == AtRestRedaction.Status.PENDING and bytes(redaction.target_wrapped_key) == b""
    assert stored_audio(recording) == ENCODED["pcm-wav"]  # the recording never changed
    assert redaction_at_rest_run(redaction_id=requested.pk).status == AtRestRedaction.Status.DONE


def test_beat_requests_the_recordings_stored_before_the_policy():
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    counts = redactions_at_rest_finish(now=timezone.now())
    assert counts["requested"] == 1
    assert recording.at_rest_redactions.get().status == AtRestRedaction.Status.PENDING
    assert redactions_at_rest_finish(now=timezone.now())["requested"] == 0


def test_audio_that_cannot_be_reencoded_fails_with_its_reason_and_is_left_as_it_was():
    recording = with_segment(b"\x00not audio at all" * 100, "audio/mpeg")
    requested = redaction_at_rest_request(recording=recording)
    redaction = redaction_at_rest_run(redaction_id=requested.pk)
    assert redaction.status == AtRestRedaction.Status.FAILED and redaction.error
    assert stored_audio(recording) == b"\x00not audio at all" * 100
    assert redactions_at_rest_finish(now=timezone.now())["requested"] == 0  # not retried each round


def test_a_segment_marked_later_is_redacted_in_a_second_rewrite(django_capture_on_commit_callbacks, dpo):
    from recordings.redaction.segments import sensitive_segment_mark

    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    first = redacted(recording)
    with django_capture_on_commit_callbacks() as callbacks:
        sensitive_segment_mark(
            recording=recording, start_seconds=7, end_seconds=8, kind="payment_card", actor=dpo
        )
    second = recording.at_rest_redactions.exclude(pk=first.pk).get()
    assert second.status == AtRestRedaction.Status.PENDING and callbacks
    assert redaction_at_rest_run(redaction_id=second.pk).status == AtRestRedaction.Status.DONE
    after = stored_audio(recording)
    data = after.index(b"data") + 8
    assert after[data + 7 * 16000 : data + 8 * 16000] == bytes(16000)  # 8 kHz, 16-bit


def test_a_grown_segment_is_no_longer_counted_as_redacted():
    from recordings.redaction.detection import Finding
    from recordings.redaction.segments import sensitive_segments_detected_record

    recording = RecordingFactory(audio=ENCODED["pcm-wav"], content_type="audio/wav")
    sensitive_segments_detected_record(
        recording=recording, findings=[Finding("payment_card", Decimal("3.5"), Decimal("4"))]
    )
    redacted(recording)
    sensitive_segments_detected_record(
        recording=recording, findings=[Finding("payment_card", Decimal("3.9"), Decimal("6"))]
    )
    assert recording.sensitive_segments.get().redacted_at_rest_id is None
    assert redaction_at_rest_request(recording=recording) is not None


# --- Evidence: the recording page and the subject's access package ------------------------------


def test_the_recording_page_says_what_was_silenced_at_rest_when_and_by_which_rule(client, qa_lead_a, queue_a):
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav", queue=queue_a)
    redaction = redacted(recording)
    client.force_login(qa_lead_a)
    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk])).content.decode()
    assert 'id="redactions-at-rest"' in page
    assert "Payment card 3.000\u20135.000 s" in page
    assert redaction.rule in page
    assert "silenced at rest" in page and "destroyed" in page


@pytest.mark.parametrize(
    ("language", "sentence"),
    [
        ("en", "Parts of these calls were removed from the stored recording"),
        ("de", "Teile dieser Gespräche wurden aus der gespeicherten Aufzeichnung entfernt"),
    ],
)
def test_the_access_package_tells_the_subject_parts_were_removed_for_payment_security(
    dpo, language, sentence
):
    import json
    import zipfile

    from dsr.packages import package_build, package_open
    from dsr.services import request_create

    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    redacted(recording)
    request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=recording.subject
    )
    request.language = language
    request.save(update_fields=["language"])
    package = package_build(dsr=request, actor=dpo)
    archive = zipfile.ZipFile(io.BytesIO(b"".join(package_open(package=package))))
    manifest = json.loads(archive.read("manifest.json"))
    [item] = manifest["recordings"]
    assert [(s["kind"], s["start_seconds"], s["end_seconds"]) for s in item["removed_from_audio"]] == [
        ("payment_card", "3.000", "5.000")
    ]
    summary = archive.read("summary.html").decode()
    assert sentence in summary and f"{recording.reference}: 3.000\u20135.000 s" in summary


def test_a_kept_unredacted_key_follows_a_reattribution_and_a_rewrite_in_flight_starts_again(settings, dpo):
    from recordings import redaction_at_rest
    from recordings.reattribution import recording_reattribute
    from recordings.vault.keys import subject_key, wrapped_recording_key_open
    from tests.factories import DataSubjectFactory

    settings.CUSTOS_UNREDACTED_KEEP_HOURS = 24
    kept = with_segment(ENCODED["pcm-wav"], "audio/wav")
    redaction = redaction_at_rest_run(redaction_id=redaction_at_rest_request(recording=kept).pk)
    assert redaction.status == AtRestRedaction.Status.SWAPPED
    other = DataSubjectFactory()
    recording_reattribute(recording=kept, new_subject=other, reason="the caller was misidentified", actor=dpo)
    redaction.refresh_from_db()
    wrapped_recording_key_open(bytes(redaction.previous_wrapped_key), kept, subject_key(other))  # opens

    # a rewrite whose recording is re-attributed before its swap is cancelled and asked for again
    moving = with_segment(ENCODED["pcm-wav"], "audio/wav")
    requested = redaction_at_rest_request(recording=moving)
    rewrite = redaction_at_rest._rewrite

    def rewrite_then_reattribute(claim):
        result = rewrite(claim)
        recording_reattribute(
            recording=moving, new_subject=other, reason="the caller was misidentified", actor=dpo
        )
        return result

    settings.CUSTOS_UNREDACTED_KEEP_HOURS = 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(redaction_at_rest, "_rewrite", rewrite_then_reattribute)
        assert redaction_at_rest_run(redaction_id=requested.pk).status == AtRestRedaction.Status.CANCELLED
    again = moving.at_rest_redactions.get(status=AtRestRedaction.Status.PENDING)
    assert redaction_at_rest_run(redaction_id=again.pk).status == AtRestRedaction.Status.DONE
    assert stored_audio(moving) != ENCODED["pcm-wav"]


# --- From transcript to silent audio ---------------------------------------------------------------

CARD_AND_CODE = """WEBVTT

1
00:00:10.000 --> 00:00:17.000
<v Caller>The number is <00:00:12.000>4111 <00:00:12.600>1111 <00:00:13.200>1111 <00:00:13.800>1111 \
<00:00:14.400>and <00:00:14.800>the <00:00:15.000>code <00:00:15.300>is <00:00:15.600>737 \
<00:00:16.200>thanks.
"""


@pytest.mark.parametrize("name", ["pcm-wav", "mp3"])
def test_a_transcript_with_a_card_and_its_code_ends_as_silent_audio_at_rest(
    django_capture_on_commit_callbacks, name
):
    from recordings.intake.serializers import RecordingMetadataSerializer
    from recordings.intake.services import recording_ingest
    from tests.recordings.ingest_factories import call_metadata, reference_rows

    # given a 20-second call ingested with a transcript whose words time a card number and its code
    reference_rows()
    audio = encode(ALL[name], seconds=20)
    serializer = RecordingMetadataSerializer(data=call_metadata(transcript={"text": CARD_AND_CODE}))
    assert serializer.is_valid(), serializer.errors
    with django_capture_on_commit_callbacks() as callbacks:
        recording = recording_ingest(audio=io.BytesIO(audio), metadata=serializer.validated_data)
    # then the detector marked both spans (padded by the margin) and a rewrite was enqueued
    spans = list(recording.sensitive_segments.values_list("start_seconds", "end_seconds", "source"))
    assert spans == [
        (Decimal("11.500"), Decimal("14.900"), "transcript"),
        (Decimal("15.100"), Decimal("16.700"), "transcript"),
    ]
    assert any("_enqueue" in callback.__qualname__ for callback in callbacks)
    # when the worker runs it
    redaction = recording.at_rest_redactions.get()
    assert redaction_at_rest_run(redaction_id=redaction.pk).status == AtRestRedaction.Status.DONE
    # then the stored audio is silent where the card and the code were said, and only there
    stored, rate = decode(stored_audio(recording))
    original, _ = decode(audio)
    for index, (old, new) in enumerate(zip(windows(original, rate), windows(stored, rate), strict=False)):
        first, stop = index / 10, (index + 1) / 10
        inside = any(first >= float(s) and stop <= float(e) for s, e, _ in spans)
        outside = all(stop <= float(s) - MARGIN or first >= float(e) + MARGIN for s, e, _ in spans)
        if inside:
            assert rms(new) < SILENT_RMS, f"{first:.1f} s is not silent"
        elif outside:
            assert correlation(old, new) > 0.95, f"{first:.1f} s changed"


def test_a_segment_that_grows_during_the_rewrite_is_left_for_the_next_one(monkeypatch):
    from recordings import redaction_at_rest
    from recordings.redaction.detection import Finding
    from recordings.redaction.segments import sensitive_segments_detected_record

    recording = RecordingFactory(audio=ENCODED["pcm-wav"], content_type="audio/wav")
    sensitive_segments_detected_record(
        recording=recording, findings=[Finding("payment_card", Decimal("3.5"), Decimal("4"))]
    )
    requested = recording.at_rest_redactions.get()
    rewrite = redaction_at_rest._rewrite

    def rewrite_then_grow(claim):
        result = rewrite(claim)
        sensitive_segments_detected_record(
            recording=recording, findings=[Finding("payment_card", Decimal("3.9"), Decimal("6"))]
        )
        return result

    monkeypatch.setattr(redaction_at_rest, "_rewrite", rewrite_then_grow)
    assert redaction_at_rest_run(redaction_id=requested.pk).status == AtRestRedaction.Status.DONE
    segment = recording.sensitive_segments.get()
    assert segment.redacted_at_rest_id is None  # its new part is not silent yet
    assert recording.at_rest_redactions.filter(status=AtRestRedaction.Status.PENDING).exists()


def test_a_transcript_stored_before_the_policy_loses_its_card_number_with_the_rewrite(settings):
    settings.CUSTOS_REDACT_AT_REST_KINDS = ()
    recording = with_segment(ENCODED["pcm-wav"], "audio/wav")
    transcript_store(recording, CARD_AND_CODE)
    recording.refresh_from_db()
    assert "4111" in transcript_read(recording.transcript)
    settings.CUSTOS_REDACT_AT_REST_KINDS = ("payment_card",)
    redacted(recording)
    recording.refresh_from_db()
    text = transcript_read(recording.transcript)
    assert "4111" not in text and "737" not in text and "[card number]" in text
    assert "<00:00:12.000>" in text  # its timings kept


def test_the_rendition_beat_does_not_keep_picking_recordings_whose_segments_are_all_silenced_at_rest():
    from recordings.renditions import renditions_finish

    # given an MP3 whose only segment was silenced at rest (nothing left to mute when played), and
    # a later MP3 with a segment outside the policy and no rendition yet
    silenced = with_segment(ENCODED["mp3"], "audio/mpeg")
    redacted(silenced)
    waiting = with_segment(ENCODED["mp3"], "audio/mpeg", kind="address")
    # when beat looks for missing renditions one at a time
    counts = renditions_finish(now=timezone.now(), batch_size=1)
    # then it asks for the one that needs it, not the silenced one again
    assert counts["requested"] == 1
    assert MutedRendition.objects.filter(recording=waiting).exclude(status="stale").exists()
