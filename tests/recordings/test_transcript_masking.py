"""A transcript's payment data replaced at rest, its form kept: WebVTT timings and tags, Transcribe's
items and full text, a list of words, plain text; what is sealed by ``transcript_store``."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.core.exceptions import ValidationError

from recordings.models import SensitiveSegment, Transcript
from recordings.redaction.detection import find_in_transcript, transcript_words
from recordings.redaction.segments import sensitive_segment_mark
from recordings.redaction.transcript_masking import TextRedaction, transcript_text_redact
from recordings.redaction.transcripts import transcript_read, transcript_store
from tests.factories import RecordingFactory

BOTH = ("payment_card", "bank_details")
# What the caller said, none of which may be left in a redacted transcript.
SECRETS = ["4111", "1111", "737", "DE89", "3704", "0044", "0532", "0130"]

WEBVTT = """WEBVTT

1
00:00:10.000 --> 00:00:20.000
<v Caller>The number is <00:00:12.000>4111 <00:00:12.600>1111 <00:00:13.200>1111 <00:00:13.800>1111 \
<00:00:14.400>and <00:00:14.800>the <00:00:15.000>code <00:00:15.300>is <00:00:15.600>737 \
<00:00:16.200>thanks.

2
00:00:21.000 --> 00:00:30.000
<v Caller>My IBAN is <00:00:22.000>DE89 <00:00:23.000>3704 <00:00:24.000>0044 <00:00:25.000>0532 \
<00:00:26.000>0130 <00:00:27.000>00 <00:00:28.000>okay?
"""

SAID = "my card is 4111 1111 1111 1111 code 737 and my IBAN is DE89 3704 0044 0532 0130 00 thanks"


def transcribe(words: list[str]) -> str:
    items = [
        {
            "type": "pronunciation",
            "start_time": f"{n}.000",
            "end_time": f"{n}.500",
            "alternatives": [{"confidence": "0.99", "content": word}, {"confidence": "0.5", "content": word}],
        }
        for n, word in enumerate(words)
    ]
    channel_items = json.loads(json.dumps(items))  # a copy, as in a file
    items.append({"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": "."}]})
    full = " ".join(words).replace("1111 code", "1111, code") + "."
    return json.dumps(
        {
            "jobName": "call",
            "results": {
                "transcripts": [{"transcript": full}],
                "audio_segments": [{"id": 0, "transcript": full, "items": list(range(len(words)))}],
                "channel_labels": {"channels": [{"channel_label": "ch_0", "items": channel_items}]},
                "items": items,
            },
        }
    )


def timings(text: str) -> list[str]:
    return re.findall(r"[0-9:.]+ --> [0-9:.]+|<[0-9:.]+>", text)


def assert_none_said(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


# --- The pure function -----------------------------------------------------------------------


def test_webvtt_words_are_replaced_and_every_timing_and_tag_kept():
    result = transcript_text_redact(WEBVTT, kinds=BOTH)

    assert_none_said(result.text)
    assert result.replaced == 4 + 1 + 6
    assert timings(result.text) == timings(WEBVTT)
    assert result.text.count("<v Caller>") == 2
    assert "<00:00:12.000>[card number] <00:00:12.600>[card number]" in result.text
    assert "<00:00:22.000>[IBAN] <00:00:23.000>[IBAN]" in result.text
    # Read again, the timings are the same words' and nothing is found any more.
    assert len(transcript_words(result.text)) > len(transcript_words(WEBVTT))  # "[card", "number]"
    assert find_in_transcript(result.text) == []


def test_only_the_kinds_asked_for_are_replaced():
    result = transcript_text_redact(WEBVTT, kinds=("payment_card",))

    assert "4111" not in result.text and "737" not in result.text
    assert "<00:00:22.000>DE89 <00:00:23.000>3704" in result.text
    assert [f.kind for f in find_in_transcript(result.text)] == ["bank_details"]


@pytest.mark.parametrize("kinds", [(), ("address", "health", "other")])
def test_no_kind_found_in_a_transcript_changes_nothing(kinds):
    assert transcript_text_redact(WEBVTT, kinds=kinds) == TextRedaction(WEBVTT, 0)


def test_words_said_between_the_same_two_timestamps_are_one_placeholder():
    # As the demo writes a card number: one timed token of four groups.
    cue = "<v Caller>It is <00:02.000>4111 1111 1111 1111 <00:06.000>thanks\n"
    text = f"WEBVTT\n\n00:01.000 --> 00:09.000\n{cue}"

    result = transcript_text_redact(text, kinds=BOTH)

    assert result.text == text.replace("4111 1111 1111 1111", "[card number]")
    assert result.replaced == 1


def test_a_webvtt_note_holding_a_card_number_is_redacted_too():
    text = WEBVTT + "\nNOTE agent typed 4111-1111-1111-1111\n"

    assert_none_said(transcript_text_redact(text, kinds=BOTH).text)


def test_transcribe_items_alternatives_channels_and_full_texts_are_redacted():
    text = transcribe(SAID.split())

    result = transcript_text_redact(text, kinds=BOTH)

    assert_none_said(result.text)
    data = json.loads(result.text)
    original = json.loads(text)
    # The structure and the times are kept: only the words' text changed.
    assert len(data["results"]["items"]) == len(original["results"]["items"])
    assert [i.get("start_time") for i in data["results"]["items"]] == [
        i.get("start_time") for i in original["results"]["items"]
    ]
    assert data["results"]["transcripts"][0]["transcript"] == (
        "my card is [card number], code [card number] and my IBAN is [IBAN] thanks."
    )
    full_texts = [data["results"][key][0]["transcript"] for key in ("transcripts", "audio_segments")]
    assert full_texts[0] == full_texts[1]
    assert find_in_transcript(result.text) == []


def test_transcribe_json_is_written_again_without_escapes():
    result = transcript_text_redact(transcribe(["Prüfziffer", *SAID.split()]), kinds=BOTH)

    assert "Prüfziffer" in result.text and "\\u" not in result.text


def test_spoken_german_digits_in_transcribes_full_text_are_redacted_too():
    words = ["die", "Karte", "vier", *["eins"] * 15]

    result = transcript_text_redact(transcribe(words), kinds=BOTH)

    assert json.loads(result.text)["results"]["transcripts"][0]["transcript"] == "die Karte [card number]."
    assert "vier" not in result.text and "eins" not in result.text


def test_a_list_of_words_is_redacted_in_both_its_word_and_text():
    words = [
        {"word": w, "text": w, "start": n, "end": n + 0.5, "speaker": "A"} for n, w in enumerate(SAID.split())
    ]

    result = transcript_text_redact(json.dumps(words), kinds=BOTH)

    assert_none_said(result.text)
    assert [w["start"] for w in json.loads(result.text)] == [w["start"] for w in words]
    assert find_in_transcript(result.text) == []


def test_plain_text_card_numbers_and_ibans_are_replaced():
    text = "Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, order 4711 0815."

    expected = "Card [card number], IBAN [IBAN], order 4711 0815."
    assert transcript_text_redact(text, kinds=BOTH).text == expected
    assert transcript_text_redact(text, kinds=("bank_details",)).text == (
        "Card 4111 1111 1111 1111, IBAN [IBAN], order 4711 0815."
    )


@pytest.mark.parametrize("text", [WEBVTT, transcribe(SAID.split()), "Card 4111 1111 1111 1111."])
def test_a_redacted_transcript_redacted_again_is_unchanged(text):
    once = transcript_text_redact(text, kinds=BOTH)

    twice = transcript_text_redact(once.text, kinds=BOTH)

    assert (twice.text, twice.replaced) == (once.text, 0)


def test_a_placeholder_said_among_digits_is_a_word_like_any_other():
    words = ["[card number]", "4111", "1111", "[IBAN]", "1111", "1111", "[card", "number]"]
    text = json.dumps([{"word": w, "start": n, "end": n + 0.5} for n, w in enumerate(words)])

    result = transcript_text_redact(text, kinds=BOTH)

    assert (result.text, result.replaced) == (text, 0)  # the run is broken: no card number


@pytest.mark.parametrize("text", ['{"results": ', '[{"word": "a", "start": 3, "end": 2}]', "[" * 100_000])
def test_malformed_json_is_the_transcripts_validation_error(text):
    with pytest.raises(ValidationError) as refused:
        transcript_text_redact(text, kinds=BOTH)

    assert "transcript" in refused.value.message_dict


def test_a_huge_transcript_of_card_numbers_is_redacted_in_linear_time():
    # About 1 MB: 20,000 cards each followed by a code, every one of them found and replaced.
    cue = "{n:02d}:00.000 --> {n:02d}:01.000\n4111 1111 1111 1111 737 and so on and so on\n\n"
    text = "WEBVTT\n\n" + "".join(cue.format(n=n % 60) for n in range(20_000))

    started = time.monotonic()
    result = transcript_text_redact(text, kinds=BOTH)

    # The card and its code said between the same two timestamps: one placeholder for them.
    assert result.replaced == 20_000
    assert result.text.count("\n[card number] and so on") == 20_000
    assert "4111" not in result.text
    # Quadratic work (each card against every run after it) took minutes here.
    assert time.monotonic() - started < 30


# --- Stored redacted -------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("text", [WEBVTT, transcribe(SAID.split())], ids=["webvtt", "transcribe"])
def test_the_sealed_transcript_holds_none_of_the_digits_and_the_segments_are_found(text, settings):
    settings.CUSTOS_REDACT_AT_REST_KINDS = BOTH
    recording = RecordingFactory()

    transcript_store(recording, text)

    stored = transcript_read(Transcript.objects.get(recording=recording))
    assert_none_said(stored)
    assert sorted(recording.sensitive_segments.values_list("kind", flat=True)) == [
        "bank_details",
        "payment_card",
        "payment_card",
    ]
    assert Transcript.objects.get().payment_data_flagged_at is None


@pytest.mark.django_db
def test_with_no_kinds_at_rest_the_text_is_sealed_as_given(settings):
    settings.CUSTOS_REDACT_AT_REST_KINDS = ()
    recording = RecordingFactory()

    transcript_store(recording, WEBVTT)

    assert transcript_read(Transcript.objects.get()) == WEBVTT
    assert recording.sensitive_segments.count() == 3


@pytest.mark.django_db
def test_the_default_redacts_card_numbers_only():
    recording = RecordingFactory()

    transcript_store(recording, WEBVTT)

    stored = transcript_read(Transcript.objects.get())
    assert "4111" not in stored and "737" not in stored
    assert "DE89" in stored


@pytest.mark.django_db
def test_malformed_json_stores_nothing():
    recording = RecordingFactory()

    with pytest.raises(ValidationError):
        transcript_store(recording, '{"results": ')

    assert not Transcript.objects.exists()


@pytest.mark.django_db
def test_the_payment_flag_follows_a_card_number_replaced_at_rest(dpo):
    recording = RecordingFactory()

    # Plain text: the card number cannot be placed in the audio, so it is flagged.
    transcript_store(recording, "Agent: the number is 4111 1111 1111 1111.")
    assert "4111" not in transcript_read(Transcript.objects.get())
    assert Transcript.objects.get().payment_data_flagged_at is not None

    segment = sensitive_segment_mark(
        recording=recording, start_seconds=1, end_seconds=9, kind="payment_card", actor=dpo
    )
    assert Transcript.objects.get().payment_data_flagged_at is None

    # Its placeholder stands for the card number: removing the segment flags it again.
    SensitiveSegment.objects.filter(pk=segment.pk).delete()
    assert Transcript.objects.get().payment_data_flagged_at is not None
