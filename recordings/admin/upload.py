"""Upload a recording in the admin: the "Add recording" page of the recordings admin.

The form gathers what the telephony integration sends (audio, caller, call, lawful basis,
purposes and optionally one consent's evidence), validates it with the one validator of
recording metadata and the audio check, and the admin then stores it through ``recording_ingest``.
An error shows on the form and nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.admin.widgets import AdminSplitDateTime, FilteredSelectMultiple

from recordings.intake.api import error_lines
from recordings.intake.audio_format import detect_audio
from recordings.intake.serializers import RecordingMetadataSerializer
from recordings.intake.services import recording_ingest
from recordings.models import (
    Consent,
    LawfulBasis,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
)

# Where an error of the metadata validator shows on this form; list indexes are dropped, since
# the consents of one upload share their evidence fields. Unlisted paths show above the form.
_FIELD_OF_ERROR = {
    "subject.reference": "subject_reference",
    "subject.full_name": "subject_full_name",
    "subject.phone": "subject_phone",
    "subject.email": "subject_email",
    "consents": "consent_purposes",
    "consents.purpose": "consent_purposes",
    "consents.decision": "consent_decision",
    "consents.method": "consent_method",
    "consents.notice_version": "consent_notice",
    "consents.notice_language": "consent_notice",
    "consents.captured_at": "consent_captured_at",
    "consents.evidence_offset_seconds": "consent_evidence_offset_seconds",
    "consents.jurisdiction": "consent_jurisdiction",
}

UPLOAD_FIELDSETS = (
    (None, {"fields": ("audio",)}),
    ("Caller", {"fields": ("subject_reference", "subject_full_name", "subject_phone", "subject_email")}),
    ("Call", {"fields": ("queue", "direction", "started_at", "ended_at")}),
    ("Lawful basis", {"fields": ("lawful_basis", "legitimate_interest_assessment", "purposes")}),
    (
        "Consent evidence (Art. 7(1))",
        {
            "description": "Required when the basis is consent: one consent per chosen purpose, "
            "all with this evidence.",
            "fields": (
                "consent_purposes",
                "consent_decision",
                "consent_method",
                "consent_notice",
                "consent_captured_at",
                "consent_evidence_offset_seconds",
                "consent_jurisdiction",
            ),
        },
    ),
)


def _blank(choices) -> list[tuple[str, str]]:
    return [("", "---------"), *choices]


class RecordingUploadForm(forms.ModelForm):
    """Not a form of the model's fields: its values become the metadata that the validator and
    ``recording_ingest`` take, exactly as the API's JSON does."""

    audio = forms.FileField(
        # Emptiness is the audio check's call, with the same message as the API and the import.
        allow_empty_file=True,
        help_text="WAV, MP3, OGG/Opus, WebM, FLAC or M4A, recognised by its content, not its name.",
    )
    subject_reference = forms.CharField(
        label="Subject reference",
        max_length=32,
        required=False,
        help_text="An existing subject's reference, or a new one. Empty: matched by phone or email, "
        "else a new subject.",
    )
    subject_full_name = forms.CharField(label="Full name", max_length=200, required=False)
    subject_phone = forms.CharField(
        label="Phone", max_length=40, required=False, help_text="With country code, e.g. +49 30 1234567."
    )
    subject_email = forms.CharField(label="Email", max_length=254, required=False)
    queue = forms.ModelChoiceField(queryset=Queue.objects.all())
    direction = forms.ChoiceField(choices=_blank(Recording.Direction.choices))
    started_at = forms.SplitDateTimeField(widget=AdminSplitDateTime)
    ended_at = forms.SplitDateTimeField(widget=AdminSplitDateTime)
    lawful_basis = forms.ChoiceField(choices=_blank(LawfulBasis.choices))
    legitimate_interest_assessment = forms.ModelChoiceField(
        queryset=LegitimateInterestAssessment.objects.filter(approved_at__isnull=False),
        required=False,
        help_text="Required when the basis is legitimate interests; only approved assessments.",
    )
    purposes = forms.ModelMultipleChoiceField(
        queryset=Purpose.objects.all(), widget=FilteredSelectMultiple("purposes", is_stacked=False)
    )
    consent_purposes = forms.ModelMultipleChoiceField(
        label="Consent for purposes",
        queryset=Purpose.objects.all(),
        required=False,
        widget=FilteredSelectMultiple("consent purposes", is_stacked=False),
    )
    consent_decision = forms.ChoiceField(
        label="Decision", choices=_blank(Consent.Decision.choices), required=False
    )
    consent_method = forms.ChoiceField(label="Method", choices=_blank(Consent.Method.choices), required=False)
    consent_notice = forms.ModelChoiceField(
        label="Notice", queryset=RecordingNotice.objects.all(), required=False
    )
    consent_captured_at = forms.SplitDateTimeField(
        label="Captured at", widget=AdminSplitDateTime, required=False
    )
    consent_evidence_offset_seconds = forms.FloatField(
        label="Evidence at second", required=False, help_text="Where in the call the answer was given."
    )
    consent_jurisdiction = forms.CharField(
        label="Jurisdiction", max_length=2, required=False, help_text="ISO 3166 code, e.g. DE."
    )

    class Meta:
        model = Recording
        fields = ()
        # Form fields that share a model field's name feed the metadata, not the instance: keep
        # the model's own validation and save_m2m off them (ingest validates and builds the row).
        exclude = (  # noqa: DJ006 - fields is empty; exclude is what stops the name clash
            "queue",
            "direction",
            "started_at",
            "ended_at",
            "lawful_basis",
            "legitimate_interest_assessment",
            "purposes",
        )

    def clean_audio(self):
        audio = self.cleaned_data["audio"]
        detect_audio(audio, max_bytes=settings.RECORDING_MAX_BYTES)  # ValidationError names the problem
        return audio

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        metadata = RecordingMetadataSerializer(data=self._metadata(cleaned))
        if metadata.is_valid():
            self.metadata = metadata.validated_data
            return cleaned
        errors: dict[str | None, list[str]] = {}
        for path, message in error_lines(metadata.errors):
            name: str | None = _FIELD_OF_ERROR.get(re.sub(r"\[\d+\]", "", path), path)
            if name not in self.fields:
                name, message = None, f"{path}: {message}" if path else message
            elif name in self.errors:
                continue  # the field's own error says it already
            if message not in errors.setdefault(name, []):
                errors[name].append(message)
        for name, messages in errors.items():
            self.add_error(name, messages)
        return cleaned

    def _metadata(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The API's metadata from the form's values; an empty value is left out, so that the
        validator reports a missing value as required."""

        def present(**values: Any) -> dict[str, Any]:
            return {key: value for key, value in values.items() if value not in (None, "", [])}

        def codes(name: str) -> list[str]:
            return [purpose.code for purpose in cleaned.get(name) or []]

        queue, lia, notice = (
            cleaned.get("queue"),
            cleaned.get("legitimate_interest_assessment"),
            cleaned.get("consent_notice"),
        )
        metadata = present(
            subject=present(
                reference=cleaned.get("subject_reference"),
                full_name=cleaned.get("subject_full_name"),
                phone=cleaned.get("subject_phone"),
                email=cleaned.get("subject_email"),
            ),
            queue=queue.code if queue else None,
            direction=cleaned.get("direction"),
            started_at=cleaned.get("started_at"),
            ended_at=cleaned.get("ended_at"),
            lawful_basis=cleaned.get("lawful_basis"),
            legitimate_interest_assessment=lia.pk if lia else None,
            purposes=codes("purposes"),
        )
        metadata.setdefault("subject", {})
        evidence = present(
            decision=cleaned.get("consent_decision"),
            method=cleaned.get("consent_method"),
            notice_version=notice.version if notice else None,
            notice_language=notice.language if notice else None,
            captured_at=cleaned.get("consent_captured_at"),
            evidence_offset_seconds=cleaned.get("consent_evidence_offset_seconds"),
            jurisdiction=cleaned.get("consent_jurisdiction"),
        )
        consent_purposes = codes("consent_purposes")
        if consent_purposes:
            metadata["consents"] = [{"purpose": code, **evidence} for code in consent_purposes]
        elif evidence:
            metadata["consents"] = [evidence]  # evidence without a purpose: the validator names it
        return metadata

    def ingest(self, *, actor) -> Recording:
        """Store the validated upload; the form must be valid."""
        self.instance = recording_ingest(
            audio=self.cleaned_data["audio"],
            metadata=self.metadata,
            actor=actor,
            actor_label=actor.get_username(),
        )
        return self.instance
