"""Transcripts: redacted for reviewers, sealed at rest, unredacted only with a reason, and the
payment-data flag for card numbers the audio may still hold."""

from __future__ import annotations

import io
import json
import logging
from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from compliance_site.audit.models import AccessEvent
from recordings.models import SensitiveSegment, Transcript
from recordings.redaction.text import CARD_NUMBER, EMAIL, IBAN, PHONE_NUMBER, redact
from recordings.redaction.transcripts import TRANSCRIPT_MAX_BYTES, transcript_read, transcript_store
from recordings.vault.keys import CiphertextError, KeyDestroyedError
from recordings.vault.services import recording_keys_destroy, subject_key_destroy
from tests.factories import RecordingFactory
from tests.recordings.ingest_factories import WAV, assert_nothing_written, call_metadata, reference_rows


def redacted(text: str, region: str = "DE") -> str:
    return redact(text, phone_region=region).text


# --- Redaction (pure) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Meine Kreditkartennummer ist 4111 1111 1111 1111, gültig bis 12/27.",
            "Meine Kreditkartennummer ist [card number], gültig bis 12/27.",
        ),
        (
            "Ja, die Visa: 4012-8888-8888-1881. Prüfziffer drei sieben neun.",
            "Ja, die Visa: [card number]. Prüfziffer drei sieben neun.",
        ),
        (
            "Sure, my Mastercard number is 5555 5555 5555 4444 and the expiry is 03/28.",
            "Sure, my Mastercard number is [card number] and the expiry is 03/28.",
        ),
        ("The new Mastercard is 2223003122003222.", "The new Mastercard is [card number]."),
        (
            "It's an Amex, 3782 822463 10005, or the other one 3714-496353-98431.",
            "It's an Amex, [card number], or the other one [card number].",
        ),
        # A stray number before or after the card does not hide it.
        (
            "Kundennummer 12 4111 1111 1111 1111 und Monat 12",
            "Kundennummer 12 [card number] und Monat 12",
        ),
    ],
    ids=["visa-spaces", "visa-dashes", "mastercard", "mastercard-2-series", "amex", "neighbours"],
)
def test_card_numbers_are_redacted(text, expected):
    assert redacted(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Überweisen Sie bitte auf DE89 3704 0044 0532 0130 00, Verwendungszweck Rechnung.",
            "Überweisen Sie bitte auf [IBAN], Verwendungszweck Rechnung.",
        ),
        ("Meine IBAN lautet DE89370400440532013000.", "Meine IBAN lautet [IBAN]."),
        (
            "My account is GB82 WEST 1234 5698 7654 32 at the Westminster branch.",
            "My account is [IBAN] at the Westminster branch.",
        ),
        ("Refund to GB29NWBK60161331926819 please", "Refund to [IBAN] please"),
        (
            "Mon IBAN est FR14 2004 1010 0505 0001 3M02 606 merci.",
            "Mon IBAN est [IBAN] merci.",
        ),
        ("IBAN: fr7630006000011234567890189", "IBAN: [IBAN]"),
    ],
    ids=["de-spaced", "de-compact", "gb-spaced", "gb-compact", "fr-spaced", "fr-lower-case"],
)
def test_ibans_are_redacted(text, expected):
    assert redacted(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Die Karte 4111 1111 1111 1112 wurde abgelehnt.",  # Luhn fails
        "Card 5555-5555-5555-4445, declined.",  # Luhn fails
        "Die IBAN DE89 3704 0044 0532 0130 01 stimmt nicht.",  # mod 97 fails
        "GB82 WEST 1234 5698 7654 33 is wrong",  # mod 97 fails
        "Ihre Bestellnummer ist 4711 0815, der Betrag 1.249,99 Euro, fällig am 12.05.2026.",
        "Order number 100234567, amount 49.90 EUR, date 2026-05-12, ticket 20260512-0042.",
        "Rechnung 4711-0815-2024 vom 01.02.2024 über 19,99 €, Postleitzahl 10115 Berlin.",
        "Your order INV-2026-000123 of 3 items, 12/05/2026 at 14:30, total $1,249.00.",
        "Sendungsnummer 00340434161094042557, Kundennummer 12345678.",
    ],
    ids=[
        "card-luhn-fails",
        "card-luhn-fails-dashes",
        "iban-de-checksum-fails",
        "iban-gb-checksum-fails",
        "order-amount-date-de",
        "order-amount-date-en",
        "invoice-postcode",
        "invoice-time-en",
        "tracking-customer-number",
    ],
)
def test_numbers_failing_the_checksum_and_ordinary_numbers_stay(text):
    result = redact(text, phone_region="DE")

    assert result.text == text
    assert result.spans == ()


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        (
            "Schreiben Sie an erika.mustermann@example.de oder rufen Sie 030 1234567 an.",
            "DE",
            "Schreiben Sie an [email] oder rufen Sie [phone number] an.",
        ),
        (
            "Meine Handynummer ist +49 170 1234567, die E-Mail jörg.müller@beispiel.de.",
            "DE",
            "Meine Handynummer ist [phone number], die E-Mail [email].",
        ),
        (
            "Call me on +44 20 7946 0958 or write to jane.doe+billing@mail.example.co.uk.",
            "DE",
            "Call me on [phone number] or write to [email].",
        ),
        ("You can reach me on 020 7946 0958 tonight.", "GB", "You can reach me on [phone number] tonight."),
    ],
    ids=["de-national", "de-mobile-unicode-email", "gb-international", "gb-national-region"],
)
def test_emails_and_phone_numbers_are_redacted(text, region, expected):
    assert redacted(text, region) == expected


def test_a_card_number_is_not_taken_for_a_phone_number_nor_a_phone_number_for_a_card():
    # 4915112345678 passes Luhn, but after a plus sign it is a German mobile number.
    text = "Karte 5555 5555 5555 4444, Rückruf unter +49 1511 2345678."

    result = redact(text, phone_region="DE")

    assert result.text == "Karte [card number], Rückruf unter [phone number]."
    assert [span.kind for span in result.spans] == [CARD_NUMBER, PHONE_NUMBER]


def test_spans_point_into_the_original_text():
    text = (
        "Agent: Guten Tag, wie kann ich helfen?\n"
        "Anrufer: Ich möchte mit der Karte 4111-1111-1111-1111 zahlen, sonst per Lastschrift von\n"
        "DE89 3704 0044 0532 0130 00. Meine Mail ist erika@example.org, Telefon 030 1234567.\n"
        "Agent: Danke, Bestellung 4711 über 49,90 Euro ist notiert."
    )

    result = redact(text, phone_region="DE")

    assert [(span.kind, text[span.start : span.end]) for span in result.spans] == [
        (CARD_NUMBER, "4111-1111-1111-1111"),
        (IBAN, "DE89 3704 0044 0532 0130 00"),
        (EMAIL, "erika@example.org"),
        (PHONE_NUMBER, "030 1234567"),
    ]
    assert result.has_card_number
    assert "Bestellung 4711 über 49,90 Euro" in result.text
    assert "[card number] zahlen" in result.text


def test_a_long_transcript_is_redacted_in_reasonable_time():
    line = "Anrufer: Die Karte ist 4111 1111 1111 1111, Bestellung 4711 vom 12.05.2026, Tel 030 1234567.\n"
    text = line * (TRANSCRIPT_MAX_BYTES // len(line.encode()) // 20)  # 50 kB, a long call

    result = redact(text, phone_region="DE")

    assert result.count(CARD_NUMBER) == result.count(PHONE_NUMBER) == text.count("\n")


# --- Storage ---------------------------------------------------------------------------------

TEXT = (
    "Agent: Custos Kundenservice, Sie sprechen mit Jan.\n"
    "Anrufer: Hallo, hier Erika Mustermann. Meine Karte ist die 4111 1111 1111 1111.\n"
    "Anrufer: Erreichbar bin ich unter 030 1234567 oder erika.mustermann@example.org,\n"
    "\tIBAN DE89 3704 0044 0532 0130 00.\n"
)
DISTINCT = ["Mustermann", "4111 1111", "030 1234567", "erika.mustermann", "DE89", "Kundenservice"]


def _stored_bytes(table: str, recording_id: int) -> list[bytes]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT text_encrypted FROM {table} WHERE recording_id = %s", [recording_id])
        return [bytes(row[0]) for row in cursor.fetchall()]


@pytest.mark.django_db
def test_the_transcript_is_stored_as_ciphertext_in_its_row_and_its_history(settings):
    settings.CUSTOS_REDACT_AT_REST_KINDS = ()  # sealed as given: the clear text comes back
    recording = RecordingFactory()

    transcript = transcript_store(recording, TEXT, language="de", source="pbx-stt")
    transcript_store(recording, TEXT + "Agent: Danke.\n", language="de", source="pbx-stt")  # a second version

    rows = _stored_bytes("recordings_transcript", recording.pk)
    history = _stored_bytes("recordings_historicaltranscript", recording.pk)
    assert len(rows) == 1 and len(history) == 2
    for blob in rows + history:
        for needle in DISTINCT:
            assert needle.encode() not in blob
            assert needle.encode("utf-16-le") not in blob
    transcript.refresh_from_db()
    assert transcript_read(transcript) == TEXT + "Agent: Danke.\n"
    assert (transcript.language, transcript.source) == ("de", "pbx-stt")


@pytest.mark.django_db
def test_a_ciphertext_moved_to_another_recording_does_not_open():
    first, second = RecordingFactory(), RecordingFactory()
    stolen = transcript_store(first, TEXT).text_encrypted
    other = transcript_store(second, "Agent: Hallo.")

    other.text_encrypted = stolen

    with pytest.raises(CiphertextError):
        transcript_read(other)


@pytest.mark.django_db
def test_after_the_subject_is_erased_the_transcript_cannot_be_read():
    recording = RecordingFactory()
    transcript = transcript_store(recording, TEXT)

    subject_key_destroy(subject=recording.subject, reason="Art. 17 request")

    with pytest.raises(KeyDestroyedError):
        transcript_read(Transcript.objects.get(pk=transcript.pk))
    # and no history row holds anything readable either: the same ciphertext, the same key gone
    for row in transcript.history.all():
        assert bytes(row.text_encrypted) and b"Mustermann" not in bytes(row.text_encrypted)


@pytest.mark.django_db
def test_erasing_the_recording_alone_shreds_its_transcript_too():
    recording = RecordingFactory()
    transcript = transcript_store(recording, TEXT)

    recording_keys_destroy(recordings=[recording], reasons={recording.pk: "Retention ended"})

    with pytest.raises(KeyDestroyedError):
        transcript_read(Transcript.objects.get(pk=transcript.pk))


# --- The payment-data flag ---------------------------------------------------------------------


def segment(recording, kind=SensitiveSegment.Kind.PAYMENT_CARD, start="30", end="45"):
    return SensitiveSegment.objects.create(
        recording=recording, start_seconds=Decimal(start), end_seconds=Decimal(end), kind=kind
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "segments", "flagged"),
    [
        ("Die Karte ist 4111 1111 1111 1111.", [], True),
        ("Die Karte ist 4111 1111 1111 1111.", [SensitiveSegment.Kind.PAYMENT_CARD], False),
        ("Die Karte ist 4111 1111 1111 1111.", [SensitiveSegment.Kind.ADDRESS], True),
        ("Die Karte ist 4111 1111 1111 1112.", [], False),  # fails Luhn: no card number
        ("IBAN DE89 3704 0044 0532 0130 00, Tel 030 1234567.", [], False),
        ("Bestellung 4711 0815 über 49,90 Euro.", [], False),
    ],
    ids=["card", "card-muted", "card-other-segment", "not-a-card", "iban-phone", "ordinary"],
)
def test_a_card_number_outside_every_payment_segment_flags_the_recording(text, segments, flagged):
    recording = RecordingFactory()
    for kind in segments:
        segment(recording, kind)

    transcript = transcript_store(recording, text)

    assert (transcript.payment_data_flagged_at is not None) is flagged


@pytest.mark.django_db
def test_marking_a_payment_segment_clears_the_flag_and_removing_it_sets_it_again():
    recording = RecordingFactory()
    transcript = transcript_store(recording, TEXT)
    first_flagged = transcript.payment_data_flagged_at
    assert first_flagged is not None

    marked = segment(recording)
    transcript.refresh_from_db()
    assert transcript.payment_data_flagged_at is None

    marked.delete()
    transcript.refresh_from_db()
    assert transcript.payment_data_flagged_at is not None


# --- The admin: redacted for reviewers, unredacted with a reason --------------------------------


@pytest.fixture
def recording_a(queue_a):
    recording = RecordingFactory(queue=queue_a)
    transcript_store(recording, TEXT, language="de", source="pbx-stt")
    return recording


def change_url(recording) -> str:
    return reverse("admin:recordings_recording_change", args=[recording.pk])


def unredacted_url(recording) -> str:
    return reverse("admin:recordings_recording_transcript_unredacted", args=[recording.pk])


def with_unredacted(user):
    user.user_permissions.add(
        Permission.objects.get(content_type__app_label="recordings", codename="play_unredacted")
    )
    return type(user).objects.get(pk=user.pk)  # a fresh permission cache


@pytest.mark.django_db
def test_a_qa_lead_sees_the_transcript_redacted_and_the_reading_is_logged(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)

    page = client.get(change_url(recording_a)).content.decode()

    assert "Transcript" in page and "[card number]" in page and "[IBAN]" in page
    assert "[email]" in page and "[phone number]" in page
    assert "Erika Mustermann" in page  # names are not among the redacted kinds
    for needle in ("4111 1111", "030 1234567", "erika.mustermann@", "DE89"):
        assert needle not in page
    assert "Read unredacted" not in page  # no play_unredacted
    event = AccessEvent.objects.get(action="decrypt", object_type="recording")
    assert (event.object_id, event.actor, event.detail) == (
        recording_a.pk,
        qa_lead_a,
        {"page": "change", "what": "transcript", "redacted": True},
    )


@pytest.mark.django_db
def test_the_page_shows_the_payment_flag(client, dpo, recording_a):
    client.force_login(dpo)

    page = client.get(change_url(recording_a)).content.decode()

    assert "Payment data" in page and "payment data may be in the audio" in page


@pytest.mark.django_db
@pytest.mark.parametrize("with_transcript", [True, False])
def test_the_page_reads_the_transcript_row_once_for_its_fields(client, dpo, queue_a, with_transcript):
    recording = RecordingFactory(queue=queue_a)
    if with_transcript:
        transcript_store(recording, TEXT, language="de", source="pbx-stt")
    client.force_login(dpo)

    with CaptureQueriesContext(connection) as queries:
        page = client.get(change_url(recording))

    assert page.status_code == 200
    assert ("Payment data" in page.content.decode()) is with_transcript
    reads = [q["sql"] for q in queries.captured_queries if 'FROM "recordings_transcript"' in q["sql"]]
    # Asked about by the form, the fieldsets, the page's fields and its panel: read once.
    assert len(reads) == 1, reads


@pytest.mark.django_db
def test_a_qa_lead_without_the_permission_cannot_read_it_unredacted(client, qa_lead_a, recording_a):
    client.force_login(qa_lead_a)

    assert client.get(unredacted_url(recording_a)).status_code == 403
    response = client.post(unredacted_url(recording_a), {"reason": "Complaint ticket 4711, dispute."})

    assert response.status_code == 403
    assert "4111" not in response.content.decode()
    assert not AccessEvent.objects.filter(action="unredacted").exists()


@pytest.mark.django_db
def test_outside_the_grant_the_transcript_does_not_exist(client, qa_lead_b, recording_a):
    client.force_login(with_unredacted(qa_lead_b))

    assert client.get(unredacted_url(recording_a)).status_code == 404
    assert client.post(unredacted_url(recording_a), {"reason": "Just curious, honestly."}).status_code == 404
    assert not AccessEvent.objects.filter(action__in=["unredacted", "decrypt"]).exists()


@pytest.mark.django_db
def test_unredacted_needs_a_reason_each_time_and_logs_it_without_the_text(client, dpo, recording_a, settings):
    settings.CUSTOS_REDACT_AT_REST_KINDS = ()
    transcript_store(recording_a, TEXT)  # sealed as given: the card number is in the sealed text
    dpo = with_unredacted(dpo)
    client.force_login(dpo)
    page = client.get(change_url(recording_a)).content.decode()
    assert unredacted_url(recording_a) in page

    form = client.get(unredacted_url(recording_a))
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    assert "4111" not in form.content.decode()
    # no reason, or too short a one: the form again, nothing shown, nothing logged
    for reason in ("", "because"):
        refused = client.post(unredacted_url(recording_a), {"reason": reason})
        assert refused.status_code == 200 and "4111" not in refused.content.decode()
    assert not AccessEvent.objects.filter(action="unredacted").exists()

    shown = client.post(unredacted_url(recording_a), {"reason": "Chargeback dispute, ticket 2026-118."})

    assert shown.status_code == 200
    body = shown.content.decode()
    assert "4111 1111 1111 1111" in body and "erika.mustermann@example.org" in body
    assert "no-store" in shown["Cache-Control"]
    event = AccessEvent.objects.get(action="unredacted")
    assert (event.object_type, event.object_id, event.object_reference, event.actor) == (
        "recording",
        recording_a.pk,
        recording_a.reference,
        dpo,
    )
    assert event.detail == {"what": "transcript", "reason": "Chargeback dispute, ticket 2026-118."}
    logged = json.dumps(event.detail)
    for needle in DISTINCT:
        assert needle not in logged

    # the next reading needs its own reason and is its own event
    client.post(unredacted_url(recording_a), {"reason": "Second look for the same dispute."})
    assert AccessEvent.objects.filter(action="unredacted").count() == 2


@pytest.mark.django_db
def test_an_auditor_sees_neither_the_transcript_nor_its_text(client, auditor, recording_a):
    client.force_login(auditor)

    page = client.get(change_url(recording_a)).content.decode()

    assert "[card number]" not in page and "4111" not in page
    assert not AccessEvent.objects.filter(action="decrypt", object_type="recording").exists()


@pytest.mark.django_db
def test_the_dpo_lists_the_recordings_flagged_for_payment_data(client, dpo, queue_a):
    flagged = RecordingFactory(queue=queue_a)
    transcript_store(flagged, "Die Karte ist 4111 1111 1111 1111.")
    muted = RecordingFactory(queue=queue_a)
    segment(muted)
    transcript_store(muted, "Die Karte ist 4111 1111 1111 1111.")
    plain = RecordingFactory(queue=queue_a)
    transcript_store(plain, "Bestellung 4711, danke.")
    client.force_login(dpo)

    page = client.get(reverse("admin:recordings_recording_changelist"), {"payment_data": "flagged"})

    body = page.content.decode()
    assert page.status_code == 200
    assert "Recordings flagged: payment data may be in the audio" in body
    assert flagged.reference in body
    assert muted.reference not in body and plain.reference not in body


# --- Ingest through the API ------------------------------------------------------------------


@pytest.fixture
def api(db):
    out = StringIO()
    call_command("create_integration", "pbx-berlin", stdout=out, stderr=StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    return client


def push(client, metadata):
    audio = io.BytesIO(WAV)
    audio.name = "call.wav"
    return client.post(
        "/api/v1/recordings/", {"audio": audio, "metadata": json.dumps(metadata)}, format="multipart"
    )


@pytest.mark.django_db
def test_a_call_with_its_transcript_is_stored_sealed_and_flagged(api, caplog, settings):
    settings.CUSTOS_REDACT_AT_REST_KINDS = ()  # sealed as given
    reference_rows()
    caplog.set_level(logging.DEBUG)

    response = push(api, call_metadata(transcript={"text": TEXT, "language": "de", "source": "pbx-stt"}))

    assert response.status_code == 201, response.json()
    transcript = Transcript.objects.select_related("recording").get(recording_id=response.json()["id"])
    assert transcript_read(transcript) == TEXT
    assert (transcript.language, transcript.source) == ("de", "pbx-stt")
    assert transcript.payment_data_flagged_at is not None
    assert {row.history_user.username for row in transcript.history.all()} == {"pbx-berlin"}
    assert AccessEvent.objects.get(action="ingest").detail["transcript"] is True
    for needle in DISTINCT:
        assert needle not in caplog.text


@pytest.mark.django_db
def test_a_call_without_a_transcript_has_none(api):
    reference_rows()

    response = push(api, call_metadata())

    assert response.status_code == 201
    assert not Transcript.objects.exists()


@pytest.mark.django_db
def test_windows_line_ends_are_taken_as_newlines(api):
    reference_rows()

    response = push(api, call_metadata(transcript={"text": "Agent: Hallo.\r\nAnrufer: Hallo."}))

    assert response.status_code == 201
    assert transcript_read(Transcript.objects.get()) == "Agent: Hallo.\nAnrufer: Hallo."


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("transcript", "path", "says"),
    [
        ({"language": "de"}, ("text",), "required"),
        ({"text": ""}, ("text",), "blank"),
        ({"text": " \n\t "}, ("text",), "empty"),
        ({"text": "Agent: Hallo.\x07 Anrufer: Hallo."}, ("text",), "U+0007 at position 13"),
        ({"text": "Agent: Hallo.\rAnrufer"}, ("text",), "U+000D"),
        ({"text": "Agent: Hallo.\x1b[31m"}, ("text",), "U+001B"),
        ({"text": "Agent: Hallo.\x85"}, ("text",), "U+0085"),
        ({"text": "Agent \x00"}, ("text",), "Null characters"),
        ({"text": "ab " * (TRANSCRIPT_MAX_BYTES // 3 + 1)}, ("text",), "up to 1000000"),
        ({"text": "Hallo", "language": "German!"}, ("language",), "BCP 47"),
        ({"text": "Hallo", "source": "x" * 101}, ("source",), "no more than 100"),
        ({"text": "Hallo", "source": "pbx\x01"}, ("source",), "U+0001"),
        ("Hallo", ("non_field_errors",), "Invalid data"),
    ],
    ids=[
        "no-text",
        "blank",
        "whitespace-only",
        "bell",
        "lone-carriage-return",
        "escape",
        "c1-control",
        "nul",
        "too-large",
        "bad-language",
        "long-source",
        "control-in-source",
        "not-an-object",
    ],
)
def test_an_invalid_transcript_is_refused_naming_the_field_and_nothing_is_written(
    api, transcript, path, says, caplog
):
    reference_rows()
    caplog.set_level(logging.DEBUG)

    response = push(api, call_metadata(transcript=transcript))

    assert response.status_code == 400, response.status_code
    errors = response.json()["metadata"]["transcript"]
    for key in path:
        errors = errors[key]
    assert says in " ".join(errors)
    assert_nothing_written()
    assert not Transcript.objects.exists()
    assert "Hallo" not in caplog.text  # the refusal names fields, never the text


@pytest.mark.django_db
def test_a_transcript_failing_in_the_service_rolls_the_whole_call_back(api, monkeypatch):
    reference_rows()

    def broken(*args, **kwargs):
        raise RuntimeError("sealing failed")

    monkeypatch.setattr("recordings.intake.services.transcript_store", broken)
    client = api
    client.raise_request_exception = False

    response = push(client, call_metadata(transcript={"text": TEXT}))

    assert response.status_code == 500
    assert_nothing_written()


@pytest.mark.django_db
def test_the_openapi_schema_documents_the_transcript(client, dpo):
    client.force_login(dpo)

    response = client.get(reverse("api-schema"), HTTP_ACCEPT="application/vnd.oai.openapi+json")

    components = json.loads(response.content)["components"]["schemas"]
    metadata = components["RecordingMetadataRequest"]["properties"]
    assert metadata["transcript"] == {"$ref": "#/components/schemas/TranscriptRequest"}
    transcript = components["TranscriptRequest"]
    assert transcript["required"] == ["text"]
    assert set(transcript["properties"]) == {"text", "language", "source"}
    assert "control characters" in transcript["properties"]["text"]["description"]


@pytest.mark.django_db
@pytest.mark.parametrize("object_id", ["\u00b2", "\u0663", "1/change", "99999999999999999999999"])
def test_an_id_that_is_no_recording_id_is_not_found_on_the_unredacted_transcript_page(
    client, dpo, recording_a, object_id
):
    # "²" and "٣" pass str.isdigit() but are no integer a primary key takes (they were a 500).
    # The page's route takes digits only; anything else falls to the admin's own pages.
    client.force_login(with_unredacted(dpo))
    url = unredacted_url(recording_a).replace(f"/{recording_a.pk}/", f"/{object_id}/")

    for response in (
        client.get(url),
        client.post(url, {"reason": "Chargeback dispute, ticket 2026-118."}),
    ):
        assert response.status_code in (302, 404)
        assert "4111" not in response.content.decode()
    assert not AccessEvent.objects.filter(action="unredacted").exists()


def test_webvtt_timings_are_not_taken_for_phone_numbers_and_what_they_time_is_redacted():
    # given: a transcript with word timings (WebVTT, as the demo's speech-to-text writes them)
    text = (
        "WEBVTT\n\n1\n00:00:04.731 --> 00:00:11.235\n<v IVR>To <00:00:04.980>allow <00:00:16.658>press "
        "<00:00:16.904>one.\n\n2\n00:01:20.498 --> 00:01:24.000\n<v Caller>The <00:01:20.700>number "
        "<00:01:21.000>is <00:01:21.400>4111 1111 1111 1111 <00:01:26.100>and <00:01:26.300>my "
        "<00:01:26.500>IBAN <00:01:26.800>is <00:01:27.000>DE89 3704 0044 0532 0130 00\n"
    )

    # when
    redacted = redact(text, phone_region="DE")

    # then: the timings stay as they are; the card number and the IBAN alone are replaced
    assert [span.kind for span in redacted.spans] == [CARD_NUMBER, IBAN]
    assert "00:00:04.731 --> 00:00:11.235" in redacted.text and "<00:00:16.904>one." in redacted.text
    assert "<00:01:21.400>[card number] <00:01:26.100>and" in redacted.text
    assert redacted.text.endswith("<00:01:27.000>[IBAN]\n")
