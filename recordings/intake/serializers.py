"""The metadata that comes with a recording: one validator for the API, the import command and
the admin upload, so a rule about what makes a recording lawful lives in one place."""

from __future__ import annotations

import datetime
import unicodedata

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from recordings.models import (
    Consent,
    LawfulBasis,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
    SensitiveKind,
)
from recordings.redaction.segments import MAX_SECONDS, call_seconds, segment_bounds, segment_errors
from recordings.redaction.transcripts import (
    LANGUAGE_MAX_LENGTH,
    LANGUAGE_TAG,
    SOURCE_MAX_LENGTH,
    control_character_problem,
    normalise_newlines,
    transcript_text_problem,
)
from recordings.vault.keys import PersonalData

# Control characters (line breaks, escapes, NUL), format characters (direction overrides,
# zero-width) and line or paragraph separators: a reference goes into tickets, log lines, the
# access log and terminal output, where these could forge a line or hide part of one.
_UNSAFE_IN_A_REFERENCE = frozenset({"Cc", "Cf", "Zl", "Zp"})


def reference_problem(value: str) -> str | None:
    """Why ``value`` cannot be a reference, naming the character's code point and position."""
    for position, character in enumerate(value):
        if unicodedata.category(character) in _UNSAFE_IN_A_REFERENCE:
            return (
                f"Character U+{ord(character):04X} at position {position} is not allowed in a "
                "reference (a control, format or line-separator character)."
            )
    return None


def validate_reference(value: str) -> None:
    problem = reference_problem(value)
    if problem:
        raise serializers.ValidationError(problem)


class SubjectIdentifiersSerializer(serializers.Serializer):
    """Who called: matched to an existing subject by reference, phone or email, else created."""

    reference = serializers.CharField(required=False, max_length=32, validators=[validate_reference])
    full_name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=40)
    email = serializers.CharField(required=False, allow_blank=True, max_length=254)

    def validate(self, attrs):
        try:
            personal = PersonalData(
                full_name=attrs.get("full_name", ""),
                phone=attrs.get("phone", ""),
                email=attrs.get("email", ""),
            ).normalised()
        except DjangoValidationError as exc:
            field = "phone" if exc.code == "invalid_phone" else "email"
            raise serializers.ValidationError({field: exc.messages}) from exc
        if not (attrs.get("reference") or personal.phone or personal.email):
            raise serializers.ValidationError("Identify the caller by reference, phone or email.")
        return {"reference": attrs.get("reference", ""), "personal": personal}


class LookupSlugField(serializers.SlugRelatedField):
    """A slug looked up in the database, refused as unknown when it holds a NUL: PostgreSQL
    refuses NUL in any text parameter (a DataError, which DRF's field does not catch: a 500), and
    no code or username holds one."""

    def to_internal_value(self, data):
        if isinstance(data, str) and "\x00" in data:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data.replace("\x00", "\\x00"))
        return super().to_internal_value(data)


class ConsentEvidenceSerializer(serializers.Serializer):
    """An explicit answer for one purpose, with what proves it (Art. 7(1))."""

    purpose = LookupSlugField(slug_field="code", queryset=Purpose.objects.all())
    decision = serializers.ChoiceField(choices=Consent.Decision.choices)
    method = serializers.ChoiceField(choices=Consent.Method.choices)
    notice_version = serializers.CharField(max_length=20)
    notice_language = serializers.CharField(max_length=10)
    captured_at = serializers.DateTimeField()
    captured_by = LookupSlugField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    # Bounded like a segment's times: a float past timedelta's range would overflow, not refuse.
    evidence_offset_seconds = serializers.FloatField(
        # DRF compares with any number; the stubs ask for a float, the bound is the segments' exact one.
        required=False,
        allow_null=True,
        min_value=0,
        max_value=MAX_SECONDS,  # type: ignore[arg-type]
    )
    jurisdiction = serializers.RegexField(r"^[A-Z]{2}$", error_messages={"invalid": "Use an ISO 3166 code."})

    def validate(self, attrs):
        notice = RecordingNotice.objects.filter(
            version=attrs.pop("notice_version"), language=attrs.pop("notice_language")
        ).first()
        if notice is None:
            raise serializers.ValidationError(
                {"notice_version": "No recording notice with this version and language."}
            )
        attrs["notice"] = notice
        offset = attrs.pop("evidence_offset_seconds", None)
        attrs["evidence_offset"] = datetime.timedelta(seconds=offset) if offset is not None else None
        return attrs


class TranscriptSerializer(serializers.Serializer):
    """The call's transcript, if the telephony system or its speech-to-text vendor has one: stored
    sealed, shown to reviewers redacted."""

    text = serializers.CharField(
        trim_whitespace=False,
        help_text="UTF-8 text up to 1 MB; newlines and tabs are the only control characters allowed.",
    )
    language = serializers.RegexField(
        LANGUAGE_TAG,
        required=False,
        allow_blank=True,
        max_length=LANGUAGE_MAX_LENGTH,
        help_text="BCP 47 language tag, e.g. de or en-GB.",
        error_messages={"invalid": "Use a BCP 47 language tag, e.g. de or en-GB."},
    )
    # A field named "source": DRF's metaclass collects it; the stubs see Field.source (a dotted path).
    source = serializers.CharField(  # type: ignore[assignment]
        required=False,
        allow_blank=True,
        max_length=SOURCE_MAX_LENGTH,
        help_text="The telephony system or speech-to-text vendor that made it.",
    )

    def validate_text(self, value):
        value = normalise_newlines(value)
        problem = transcript_text_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_source(self, value):
        problem = control_character_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value


class SensitiveSegmentSerializer(serializers.Serializer):
    """A time range of the call to mute for reviewers (a pause or secure-IVR marker), in seconds
    from the call's start; kept to the millisecond, rounded outward."""

    start_seconds = serializers.DecimalField(
        max_digits=None, decimal_places=None, min_value=0, max_value=MAX_SECONDS
    )
    end_seconds = serializers.DecimalField(
        max_digits=None, decimal_places=None, min_value=0, max_value=MAX_SECONDS
    )
    kind = serializers.ChoiceField(choices=SensitiveKind.choices)

    def validate(self, attrs):
        start, end = segment_bounds(attrs["start_seconds"], attrs["end_seconds"])
        if end <= start:
            raise serializers.ValidationError({"end_seconds": "A segment must end after it starts."})
        return {**attrs, "start_seconds": start, "end_seconds": end}


class RecordingMetadataSerializer(serializers.Serializer):
    reference = serializers.CharField(required=False, max_length=40, validators=[validate_reference])
    subject = SubjectIdentifiersSerializer()
    agent = LookupSlugField(
        slug_field="username",
        queryset=get_user_model().objects.filter(is_active=True),
        required=False,
        allow_null=True,
    )
    queue = LookupSlugField(slug_field="code", queryset=Queue.objects.all())
    direction = serializers.ChoiceField(choices=Recording.Direction.choices)
    started_at = serializers.DateTimeField()
    ended_at = serializers.DateTimeField()
    lawful_basis = serializers.ChoiceField(choices=LawfulBasis.choices)
    legitimate_interest_assessment = serializers.PrimaryKeyRelatedField(
        queryset=LegitimateInterestAssessment.objects.filter(approved_at__isnull=False),
        required=False,
        allow_null=True,
    )
    purposes = LookupSlugField(
        slug_field="code", queryset=Purpose.objects.all(), many=True, allow_empty=False
    )
    consents = ConsentEvidenceSerializer(many=True, required=False)
    sensitive_segments = SensitiveSegmentSerializer(many=True, required=False)
    transcript = TranscriptSerializer(required=False)

    def validate_reference(self, value):
        if Recording.objects.filter(reference=value).exists():
            raise serializers.ValidationError("A recording with this reference exists already.")
        return value

    def validate(self, attrs):
        if attrs["ended_at"] < attrs["started_at"]:
            raise serializers.ValidationError({"ended_at": "The call cannot end before it started."})
        segments = attrs.get("sensitive_segments", [])
        if segments:
            duration = call_seconds(attrs["started_at"], attrs["ended_at"])
            errors = {
                index: problems
                for index, segment in enumerate(segments)
                if (
                    problems := segment_errors(
                        segment["start_seconds"], segment["end_seconds"], duration=duration
                    )
                )
            }
            if errors:  # by item index, as DRF reports the items' own errors
                # Keyed by item index as DRF's own list errors are; the stubs allow only str keys.
                raise serializers.ValidationError({"sensitive_segments": errors})  # type: ignore[dict-item]
        basis, consents = attrs["lawful_basis"], attrs.get("consents", [])
        purposes = set(attrs["purposes"])
        if basis == LawfulBasis.CONSENT:
            # Art. 6(1)(a) and 7(1): every stated purpose needs an explicit, evidenced yes.
            given = {c["purpose"] for c in consents if c["decision"] == Consent.Decision.GIVEN}
            missing = sorted(p.code for p in purposes - given)
            if missing:
                raise serializers.ValidationError(
                    {
                        "consents": "The basis is consent, but no given consent with evidence for: "
                        + ", ".join(missing)
                        + "."
                    }
                )
        if basis == LawfulBasis.LEGITIMATE_INTERESTS:
            assessment = attrs.get("legitimate_interest_assessment")
            if assessment is None:
                raise serializers.ValidationError(
                    {"legitimate_interest_assessment": "Legitimate interests need an approved assessment."}
                )
            uncovered = sorted(p.code for p in purposes - set(assessment.purposes.all()))
            if uncovered:
                raise serializers.ValidationError(
                    {"purposes": f"The assessment does not cover: {', '.join(uncovered)}."}
                )
        for consent in consents:
            if consent["captured_at"] > attrs["ended_at"] + datetime.timedelta(minutes=1):
                raise serializers.ValidationError(
                    {"consents": "A consent cannot be captured after the call ended."}
                )
        return attrs
