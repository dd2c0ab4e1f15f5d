"""Sensitive segments found in a transcript's word timings: card numbers with their security code,
IBANs, padded by the margin, merged, never duplicated; unreadable timings refused before anything
is written."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from recordings.models import SensitiveSegment, Transcript
from recordings.redaction.detection import DETECTOR_VERSION, MAX_WORD_LENGTH, find_in_transcript
from recordings.redaction.segments import sensitive_segment_mark, sensitive_segments_changed
from recordings.redaction.transcripts import transcript_store
from tests.factories import RecordingFactory
from tests.recordings.ingest_factories import WAV, call_metadata, reference_rows

pytestmark = pytest.mark.django_db

CARD, CVV = "payment_card", "payment_card"

# As the demo writes it: a cue per turn, a timestamp tag before every word but the first.
WEBVTT = """WEBVTT

1
00:00:10.000 --> 00:00:17.000
<v Caller>The number is <00:00:12.000>4111 <00:00:12.600>1111 <00:00:13.200>1111 <00:00:13.800>1111 \
<00:00:14.400>and <00:00:14.800>the <00:00:15.000>code <00:00:15.300>is <00:00:15.600>737 \
<00:00:16.200>thanks.

2
00:00:18.000 --> 00:00:20.000
<v Agent>Thank you, <00:00:19.000>noted.
"""


def transcribe(*words: tuple[str, float, float]) -> str:
    """Amazon Transcribe's output for ``words`` (a comma after each, as a punctuation item)."""
    items = []
    for text, start, end in words:
        items.append(
            {
                "type": "pronunciation",
                "start_time": f"{start:.3f}",
                "end_time": f"{end:.3f}",
                "alternatives": [{"confidence": "0.99", "content": text}],
            }
        )
        items.append({"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": ","}]})
    return json.dumps({"jobName": "call", "results": {"transcripts": [{"transcript": "…"}], "items": items}})


def spans(recording) -> list[tuple[str, Decimal, Decimal, str, str]]:
    return [
        (s.kind, s.start_seconds, s.end_seconds, s.source, s.detector_version)
        for s in recording.sensitive_segments.order_by("start_seconds")
    ]


def found(kind: str, start: str, end: str) -> tuple[str, Decimal, Decimal, str, str]:
    return (kind, Decimal(start), Decimal(end), SensitiveSegment.Source.TRANSCRIPT, DETECTOR_VERSION)


@pytest.fixture
def signals():
    sent: list[int] = []

    def receiver(sender, *, recording, **kwargs):
        sent.append(recording.pk)

    sensitive_segments_changed.connect(receiver, dispatch_uid="test-detection")
    yield sent
    sensitive_segments_changed.disconnect(dispatch_uid="test-detection")


def test_a_webvtt_card_number_and_its_security_code_are_segments_padded_by_the_margin(signals):
    recording = RecordingFactory()

    transcript_store(recording, WEBVTT)

    # The card from its first word's tag (12.0) to the next tag after its last (14.4), the code
    # from 15.6 to 16.2; each 0.5 s wider.
    assert spans(recording) == [found(CARD, "11.500", "14.900"), found(CVV, "15.100", "16.700")]
    assert signals == [recording.pk]
    # The card number has a segment to be muted by: no flag for the DPO.
    assert Transcript.objects.get().payment_data_flagged_at is None


def test_a_transcribe_json_with_spoken_digits_and_its_code(settings):
    settings.CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS = Decimal("0.25")
    recording = RecordingFactory()
    text = transcribe(
        ("my", 30.0, 30.2),
        ("card", 30.2, 30.5),
        ("is", 30.5, 30.6),
        ("5555", 31.0, 31.8),
        ("5555", 32.0, 32.8),
        ("5555", 33.0, 33.8),
        ("four", 34.0, 34.2),
        ("four", 34.2, 34.4),
        ("four", 34.4, 34.6),
        ("four", 34.6, 34.8),
        ("security", 35.5, 36.0),
        ("code", 36.0, 36.3),
        ("one", 36.5, 36.7),
        ("two", 36.7, 36.9),
        ("three", 36.9, 37.1),
    )

    transcript_store(recording, text)

    assert spans(recording) == [found(CARD, "30.750", "35.050"), found(CVV, "36.250", "37.350")]


def test_a_card_and_its_code_close_together_are_one_segment():
    recording = RecordingFactory()
    text = json.dumps(
        [{"word": "4111111111111111", "start": 5.0, "end": 7.0}, {"text": "123", "start": 7.2, "end": 7.6}]
    )

    transcript_store(recording, text)

    assert spans(recording) == [found(CARD, "4.500", "8.100")]


def test_a_number_failing_luhn_is_no_segment(signals):
    recording = RecordingFactory()

    transcript_store(recording, WEBVTT.replace("<00:00:13.800>1111", "<00:00:13.800>1112"))

    assert spans(recording) == []
    assert signals == []


def test_an_iban_is_bank_details_and_its_digits_no_card_number():
    recording = RecordingFactory()
    groups = ["DE89", "3704", "0044", "0532", "0130", "00"]
    words = [{"word": "IBAN", "start": 40.0, "end": 40.4}] + [
        {"word": group, "start": 41.0 + n, "end": 41.8 + n} for n, group in enumerate(groups)
    ]

    transcript_store(recording, json.dumps(words))

    assert spans(recording) == [found("bank_details", "40.500", "47.300")]


def test_an_iban_failing_mod_97_is_no_segment():
    words = [{"word": g, "start": n, "end": n + 0.5} for n, g in enumerate(["DE88", "3704", "0044", "0532"])]

    assert find_in_transcript(json.dumps(words)) == []


def test_a_second_run_adds_nothing_and_sends_nothing(signals):
    recording = RecordingFactory()
    transcript_store(recording, WEBVTT)
    signals.clear()

    transcript_store(recording, WEBVTT)

    assert len(spans(recording)) == 2
    assert signals == []
    assert SensitiveSegment.history.filter(recording_id=recording.pk).count() == 2


def test_a_wider_finding_grows_the_segment_found_before(signals):
    recording = RecordingFactory()
    transcript_store(recording, WEBVTT)
    signals.clear()

    # Another speech-to-text run placed the card a little earlier.
    transcript_store(recording, WEBVTT.replace("<00:00:12.000>4111", "<00:00:11.000>4111"))

    assert spans(recording) == [found(CARD, "10.500", "14.900"), found(CVV, "15.100", "16.700")]
    assert signals == [recording.pk]


def test_a_span_covered_by_a_segment_of_its_kind_is_left(dpo):
    recording = RecordingFactory()
    sensitive_segment_mark(recording=recording, start_seconds=10, end_seconds=20, kind=CARD, actor=dpo)

    transcript_store(recording, WEBVTT)

    assert [s[3] for s in spans(recording)] == [SensitiveSegment.Source.STAFF]


def test_a_span_at_the_calls_end_is_clamped_to_it():
    recording = RecordingFactory()  # 4 minutes
    words = [
        {"word": "4111111111111111", "start": 239.0, "end": 239.9},
        {"word": "x", "start": 250, "end": 251},
    ]

    transcript_store(recording, json.dumps(words))

    assert spans(recording) == [found(CARD, "238.500", "240.000")]


def test_plain_text_has_no_timings_and_marks_nothing():
    recording = RecordingFactory()

    transcript_store(recording, "Agent: the number is 4111 1111 1111 1111.")

    assert spans(recording) == []
    assert Transcript.objects.get().payment_data_flagged_at is not None


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"results": ', "cannot be read (at character 12)"),
        ("[" * 100_000, "cannot be read"),
        ('{"results": 3}', '"results": {"items"'),
        ("42 is not json but [", None),
        ('"a string"', None),
        ("[1]", "Word 0 is not an object"),
        ('[{"word": 4111, "start": 1, "end": 2}]', "Word 0 has no text"),
        ('[{"word": "a", "start": -1, "end": 2}]', "between 0 and"),
        ('[{"word": "a", "start": NaN, "end": 2}]', "finite"),
        ('[{"word": "a", "start": 1e400, "end": 2}]', "finite"),
        ('[{"word": "a", "start": true, "end": 2}]', "a number of seconds"),
        ('[{"word": "a", "start": "1e5", "end": 2}]', "a number of seconds"),
        ('[{"word": "a", "start": 3, "end": 2}]', "ends before it starts"),
        ('[{"word": "a", "start": 1, "end": 1000000}]', "between 0 and"),
        (json.dumps([{"word": "a" * (MAX_WORD_LENGTH + 1), "start": 1, "end": 2}]), "longer than"),
        ('{"results": {"items": [{"start_time": "1", "alternatives": []}]}}', "no alternatives"),
        (f"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n{'9' * (MAX_WORD_LENGTH + 1)}\n", "longer than"),
    ],
)
def test_unreadable_timings_are_refused_and_nothing_is_written(text, says):
    recording = RecordingFactory()

    if says is None:  # not JSON: plain text, stored without timings
        transcript_store(recording, text)
        assert spans(recording) == []
        return
    with pytest.raises(ValidationError) as refused:
        transcript_store(recording, text)

    assert says in refused.value.message_dict["transcript"][0]
    assert not Transcript.objects.exists()
    assert spans(recording) == []


def test_a_hostile_transcript_through_ingest_is_a_clear_400(client):
    from rest_framework.test import APIClient

    from tests.recordings.test_api_ingest import create_integration

    reference_rows()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {create_integration('pbx-berlin')}")
    audio = io.BytesIO(WAV)
    audio.name = "call.wav"
    metadata = call_metadata(transcript={"text": '[{"word": "a", "start": 3, "end": 2}]'})

    response = api.post(
        "/api/v1/recordings/", {"audio": audio, "metadata": json.dumps(metadata)}, format="multipart"
    )

    assert response.status_code == 400
    assert "ends before it starts" in json.dumps(response.json())
    assert not SensitiveSegment.objects.exists()


@pytest.mark.parametrize("persona", ["dpo", "qa_lead_a", "stranger", "auditor", "analyst"])
def test_no_staff_persona_stores_a_transcript_through_ingest(client, request, persona):
    reference_rows()
    client.force_login(request.getfixturevalue(persona))
    audio = io.BytesIO(WAV)
    audio.name = "call.wav"
    metadata = call_metadata(transcript={"text": WEBVTT})

    response = client.post("/api/v1/recordings/", {"audio": audio, "metadata": json.dumps(metadata)})

    assert response.status_code in (401, 403)
    assert not SensitiveSegment.objects.exists()
    assert not Transcript.objects.exists()


def test_the_recording_page_shows_what_was_found_and_by_which_version(client, dpo):
    recording = RecordingFactory()
    transcript_store(recording, WEBVTT)
    client.force_login(dpo)

    page = client.get(reverse("admin:recordings_recording_change", args=[recording.pk]))

    assert page.status_code == 200
    assert f"Found in the transcript ({DETECTOR_VERSION})" in page.content.decode()


# --- German spoken digits (transcript-2) ------------------------------------------------------

# "vier eins eins eins" x4 (4111 1111 1111 1111), then the code "sieben drei sieben" (737).
GERMAN_WEBVTT = """WEBVTT

1
00:00:10.000 --> 00:00:20.000
<v Anrufer>Die Nummer ist <00:00:11.000>vier eins eins eins <00:00:12.000>eins eins eins eins \
<00:00:13.000>eins eins eins eins <00:00:14.000>eins eins eins eins <00:00:15.000>und \
<00:00:15.500>der <00:00:16.000>Code <00:00:16.500>ist <00:00:17.000>sieben drei sieben <00:00:18.000>danke.
"""


def test_detector_version_is_transcript_2():
    # Spoken German digits are found now: segments found before were found by another detector.
    assert DETECTOR_VERSION == "transcript-2"


def test_a_german_webvtt_card_number_and_its_code_said_in_words_are_segments():
    recording = RecordingFactory()

    transcript_store(recording, GERMAN_WEBVTT)

    assert spans(recording) == [found(CARD, "10.500", "15.500"), found(CVV, "16.500", "18.500")]
    assert Transcript.objects.get().payment_data_flagged_at is None


def german_digits(number: str, *, five: str = "fünf") -> list[str]:
    names = ["null", "eins", "zwo", "drei", "vier", five, "sechs", "sieben", "acht", "neun"]
    return [names[int(digit)] for digit in number]


@pytest.mark.parametrize(
    "five",
    ["fünf", "fuenf", "Fünf", "fu\u0308nf"],  # precomposed, without umlaut, capital, combining diaeresis
    ids=["umlaut", "ue", "capital", "combining"],
)
def test_a_german_transcribe_json_with_zwo_null_and_fuenf(settings, five):
    settings.CUSTOS_DETECTED_SEGMENT_MARGIN_SECONDS = Decimal(0)
    recording = RecordingFactory()
    # 5555 5555 5555 4444 then 2223 0031 2200 3222: both Luhn-valid test cards.
    said = german_digits("5555555555554444", five=five) + ["und"] * 14 + german_digits("2223003122003222")
    text = transcribe(*((word, 20.0 + n, 20.5 + n) for n, word in enumerate(said)))

    transcript_store(recording, text)

    assert spans(recording) == [found(CARD, "20.000", "35.500"), found(CARD, "50.000", "65.500")]


def test_zwei_and_english_in_one_call_still_found():
    words = ["zwei", "two", "two", "three", *german_digits("003122003222")]
    text = json.dumps([{"word": w, "start": n, "end": n + 0.5} for n, w in enumerate(words)])

    assert [f.kind for f in find_in_transcript(text)] == [CARD]


def test_a_german_word_that_is_no_digit_breaks_the_number():
    # "vierzehn" (fourteen) is not "vier": no card number across it.
    words = ["vierzehn", *german_digits("111111111111111")]
    text = json.dumps([{"word": w, "start": n, "end": n + 0.5} for n, w in enumerate(words)])

    assert find_in_transcript(text) == []
