"""Call transcripts: stored sealed, shown redacted, read unredacted only with a reason.

The text is personal data (what the caller said), so it exists only as ciphertext: AES-256-GCM
under the recording's key, with associated data naming the recording, so a ciphertext copied
onto another transcript row does not open. The recording key is itself wrapped by the subject
key, so destroying either one shreds the transcript and every history row of it (they hold the
same kind of ciphertext):

- erasing the subject (``subject_key_destroy``) shreds it with everything else of theirs;
- erasing only this recording (retention, or an erasure with another recording on hold) destroys
  the recording key, and the transcript goes with its audio instead of outliving it.

Reviewers read it redacted (``recordings.redaction.text``); the clear text is read with the
``play_unredacted`` permission and a reason, and each such read is an access event. Nothing here
logs the text or any part of it.

Segments from the transcript: a transcript with word timings (WebVTT, or a JSON of timed words)
is searched for card numbers, security codes and IBANs as it is stored, inline (one pass over at
most 1 MB of text), and each one found is marked as a sensitive segment (``detection``,
``segments.sensitive_segments_detected_record``) before the flag below is set.

Redacted at rest: what is sealed is the text with the payment data of the kinds in
``CUSTOS_REDACT_AT_REST_KINDS`` replaced by placeholders (``transcript_masking``), its form kept;
the segments and the flag are worked out from the text as given, before it is redacted. An empty
setting seals the text as given.

The payment-data flag: a transcript without timings cannot place a card number in the audio.
When it holds a valid card number and the recording has no payment-card sensitive
segment, the card number was most likely said in the audio unmuted, and the transcript is flagged
for the DPO. Marking a payment-card segment clears the flag; removing the last one sets it again
(the receivers at the end of this module, connected when the admin loads this module): a card
number's placeholder in the sealed text counts as the card number it replaced.
"""

from __future__ import annotations

import logging
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils import timezone

from compliance_site.audit.models import AccessAction
from compliance_site.audit.services import access_event_record
from compliance_site.model_update import history_save, model_update
from recordings.models import Recording, SensitiveSegment, Transcript
from recordings.redaction.detection import find_in_transcript
from recordings.redaction.segments import sensitive_segments_detected_record
from recordings.redaction.text import Redaction, card_numbers_in, redact
from recordings.redaction.transcript_masking import PLACEHOLDER_OF_KIND, transcript_text_redact
from recordings.vault.keys import CiphertextError, KeyDestroyedError, open_sealed, recording_key, seal

logger = logging.getLogger(__name__)

# 1 MB of UTF-8: about a week of continuous speech, far beyond any call.
TRANSCRIPT_MAX_BYTES = 1_000_000


def _max_length(field_name: str) -> int:
    field = Transcript._meta.get_field(field_name)
    if not isinstance(field, models.Field) or field.max_length is None:
        raise ImproperlyConfigured(f"Transcript.{field_name} needs a max_length")
    return field.max_length


LANGUAGE_MAX_LENGTH = _max_length("language")
SOURCE_MAX_LENGTH = _max_length("source")
REASON_MIN_LENGTH, REASON_MAX_LENGTH = 10, 500

# C0 controls but tab and newline, DEL and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# A BCP 47 language tag, loosely: de, en-GB, zh-Hant-TW.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")


def transcript_aad(recording_id: int) -> bytes:
    """Associated data of a transcript: its recording, so it does not open on another row."""
    return f"custos/transcript/{recording_id}".encode()


def control_character_problem(value: str) -> str | None:
    """Why ``value`` may not be stored, for a control character in it; names the character's
    code point and position, never the text."""
    match = _CONTROL.search(value)
    if match is None:
        return None
    return (
        f"Control character U+{ord(match.group()):04X} at position {match.start()}; only newline "
        "and tab are allowed."
    )


def transcript_text_problem(text: str) -> str | None:
    """Why ``text`` cannot be a transcript (empty, too large, a control character), or None."""
    if not text.strip():
        return "The transcript is empty."
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "The transcript is not valid Unicode (a lone surrogate)."
    if size > TRANSCRIPT_MAX_BYTES:
        return f"The transcript is {size} bytes of UTF-8; up to {TRANSCRIPT_MAX_BYTES} are accepted."
    return control_character_problem(text)


def normalise_newlines(text: str) -> str:
    """CRLF (a Windows system's line end) as LF; a lone CR stays, and is refused."""
    return text.replace("\r\n", "\n")


def _flag_value(transcript: Transcript, *, has_card_number: bool, recording_id: int):
    """The flag's new value: kept (with its first date) while a card number has no payment-card
    segment to be muted by, cleared otherwise."""
    if not has_card_number:
        return None
    if SensitiveSegment.objects.filter(
        recording_id=recording_id, kind=SensitiveSegment.Kind.PAYMENT_CARD
    ).exists():
        return None
    return transcript.payment_data_flagged_at or timezone.now()


@transaction.atomic
def transcript_store(
    recording: Recording,
    text: str,
    *,
    language: str = "",
    source: str = "",
    actor=None,
    key: bytes | None = None,
) -> Transcript:
    """Seal ``text`` as the recording's transcript (replacing one already there), mark the
    payment data found in its word timings as sensitive segments, and set the payment-data flag
    from it and the recording's sensitive segments.

    ``key`` is the recording's key when the caller has it at hand (ingest); otherwise it is
    unwrapped here. Raises ValidationError naming ``transcript`` for a text that cannot be one.
    """
    text = normalise_newlines(text)
    problem = transcript_text_problem(text)
    if problem is not None:
        raise ValidationError({"transcript": problem})
    findings = find_in_transcript(text)  # refuses unreadable timings before anything is written
    sealed_text = transcript_text_redact(text, kinds=settings.CUSTOS_REDACT_AT_REST_KINDS).text
    if key is None:
        key = recording_key(recording)
    transcript = Transcript.objects.filter(recording=recording).first() or Transcript(recording=recording)
    transcript.text_encrypted = seal(key, sealed_text.encode("utf-8"), transcript_aad(recording.pk))
    transcript.language, transcript.source = language, source
    sensitive_segments_detected_record(recording=recording, findings=findings)
    has_card_number = bool(card_numbers_in(text)) or any(
        finding.kind == SensitiveSegment.Kind.PAYMENT_CARD for finding in findings
    )
    transcript.payment_data_flagged_at = _flag_value(
        transcript, has_card_number=has_card_number, recording_id=recording.pk
    )
    history_save(transcript, actor=actor)
    return transcript


def transcript_reseal(recording: Recording, *, old_key: bytes, new_key: bytes) -> None:
    """The recording's transcript sealed under its new key (redaction at rest swaps the key), its
    payment data replaced as ``transcript_store`` would now (a transcript stored before the policy
    named a kind loses it here). Inside the caller's transaction, the row locked."""
    transcript = Transcript.objects.select_for_update().filter(recording=recording).first()
    if transcript is None or not transcript.text_encrypted:
        return
    aad = transcript_aad(recording.pk)
    text = open_sealed(old_key, bytes(transcript.text_encrypted), aad).decode("utf-8")
    text = transcript_text_redact(text, kinds=settings.CUSTOS_REDACT_AT_REST_KINDS).text
    sealed = seal(new_key, text.encode("utf-8"), aad)
    model_update(transcript, actor=None, reason="redacted at rest", text_encrypted=sealed)


def transcript_read(transcript: Transcript, *, key: bytes | None = None) -> str:
    """The transcript in clear: KeyDestroyedError once its recording or subject was erased,
    CiphertextError when the row was tampered with or moved. Callers that show it to a person
    log the access (``transcript_unredacted_read`` does)."""
    blob = bytes(transcript.text_encrypted or b"")
    if not blob:
        return ""
    if key is None:
        key = recording_key(transcript.recording)
    return open_sealed(key, blob, transcript_aad(transcript.recording_id)).decode("utf-8")


def transcript_redacted(transcript: Transcript) -> Redaction:
    """The transcript as reviewers see it, with the spans that were replaced."""
    return redact(transcript_read(transcript), phone_region=settings.PHONE_DEFAULT_REGION)


def transcript_unredacted_read(
    *, transcript: Transcript, user, reason: str, client_ip: str | None = None
) -> str:
    """The clear text for a holder of ``play_unredacted`` who gave a reason; the access event
    (the reason, never the text) is written before the text is returned."""
    if not (user.is_active and user.has_perm("recordings.play_unredacted")):
        raise PermissionDenied("Reading an unredacted transcript needs the play_unredacted permission.")
    reason = reason.strip()
    if len(reason) < REASON_MIN_LENGTH:
        raise ValidationError({"reason": f"Give the reason in at least {REASON_MIN_LENGTH} characters."})
    if len(reason) > REASON_MAX_LENGTH or control_character_problem(reason):
        raise ValidationError(
            {"reason": f"Up to {REASON_MAX_LENGTH} characters, without control characters."}
        )
    text = transcript_read(transcript)
    recording = transcript.recording
    access_event_record(
        action=AccessAction.UNREDACTED,
        object_type="recording",
        object_id=recording.pk,
        object_reference=recording.reference,
        actor=user,
        detail={"what": "transcript", "reason": reason},
        client_ip=client_ip,
    )
    return text


def _has_card_number(sealed_text: str) -> bool:
    """A card number in the sealed text, in clear or replaced at rest by its placeholder."""
    placeholder = PLACEHOLDER_OF_KIND[SensitiveSegment.Kind.PAYMENT_CARD]
    return placeholder in sealed_text or bool(card_numbers_in(sealed_text))


def transcript_payment_flag_refresh(recording_id: int) -> None:
    """Set or clear the flag after the recording's sensitive segments changed."""
    transcript = (
        Transcript.objects.select_related("recording__subject").filter(recording_id=recording_id).first()
    )
    if transcript is None:
        return
    if transcript.payment_data_flagged_at is not None:
        has_card_number = True  # flagged before: the text had one, and the text has not changed
    else:
        try:
            has_card_number = _has_card_number(transcript_read(transcript))
        except (KeyDestroyedError, CiphertextError) as exc:
            # Erased (or unreadable): there is nothing left to flag. The id only, never text.
            logger.info("Payment flag of transcript %s not refreshed: %s", transcript.pk, type(exc).__name__)
            return
    flagged_at = _flag_value(transcript, has_card_number=has_card_number, recording_id=recording_id)
    if flagged_at != transcript.payment_data_flagged_at:
        transcript.payment_data_flagged_at = flagged_at
        transcript.save(update_fields=["payment_data_flagged_at"])


@receiver(post_save, sender=SensitiveSegment, dispatch_uid="transcripts-segment-saved")
@receiver(post_delete, sender=SensitiveSegment, dispatch_uid="transcripts-segment-deleted")
def _segments_changed(sender, instance: SensitiveSegment, **kwargs) -> None:
    if kwargs.get("raw"):
        return  # loading a fixture: rows as they were
    transcript_payment_flag_refresh(instance.recording_id)
