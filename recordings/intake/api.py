"""The telephony integration's ingest API: POST one call (audio + metadata); nothing reads back.

Django REST framework parses the multipart body (files above 2.5 MB stream to a temporary file,
so memory stays flat), authenticates the integration's token and throttles it; the metadata is
validated by ``RecordingMetadataSerializer`` and stored by ``recording_ingest``, the same
validator and service as the import command and the admin upload.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiRequest, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from compliance_site.api_auth import IntegrationTokenAuthentication
from compliance_site.client_address import client_ip
from compliance_site.json_limits import TOO_DEEP, BoundedJSONParser, json_depth_problem
from recordings.intake.serializers import (
    LookupSlugField,
    RecordingMetadataSerializer,
    SubjectIdentifiersSerializer,
)
from recordings.intake.services import recording_ingest
from recordings.models import Consent, Purpose
from recordings.selectors import purposes_stopped_by_objection, restriction_in_force, subject_matching
from recordings.services import consents_withdraw_for

logger = logging.getLogger(__name__)

# Room for the multipart framing and the metadata field next to the largest accepted audio.
_BODY_OVERHEAD_BYTES = 64 * 1024


def error_lines(errors: Any, path: str = "") -> list[tuple[str, str]]:
    """DRF's nested error structure as (path, message) pairs: ``subject.phone``,
    ``consents[0].method``; non-field errors keep their parent's path."""
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            if key == api_settings.NON_FIELD_ERRORS_KEY:
                child = path
            elif isinstance(key, int):  # a list serializer's errors, by item index
                child = f"{path}[{key}]"
            else:
                child = f"{path}.{key}" if path else key
            lines += error_lines(value, child)
        return lines
    if isinstance(errors, list):
        lines = []
        for index, item in enumerate(errors):
            if isinstance(item, dict | list):  # per-item errors, in older DRF versions
                lines += error_lines(item, f"{path}[{index}]")
            else:
                lines.append((path, str(item)))
        return lines
    return [(path, str(errors))]


def error_summary(errors: Any) -> str:
    """One line for a report: ``queue: Object with code=x does not exist.; ...``."""
    return "; ".join(f"{path}: {message}" if path else message for path, message in error_lines(errors))


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request is larger than the largest accepted recording."
    default_code = "too_large"


class UnsupportedAudio(exceptions.APIException):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE
    default_detail = "Unknown audio format."
    default_code = "unknown_format"


class IngestConflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The recording conflicts with one stored at the same moment (same reference?)."
    default_code = "conflict"


# What the audio check's codes mean in HTTP; every other refusal of the audio is a 400.
_AUDIO_REFUSALS: dict[str, type[exceptions.APIException]] = {
    "too_large": PayloadTooLarge,
    "unknown_format": UnsupportedAudio,
}


class CanIngestRecordings(BasePermission):
    message = "This account may not push recordings."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("recordings.ingest_recording"))


@extend_schema_field(RecordingMetadataSerializer)
class MetadataField(serializers.JSONField):
    """The call's metadata: a JSON text in a multipart form field, validated by the one
    validator of recording metadata."""

    def __init__(self, **kwargs):
        super().__init__(binary=True, **kwargs)

    def get_value(self, dictionary):
        # JSONField would turn a file part into the text of its name; take the part as sent.
        return dictionary.get(self.field_name, serializers.empty)

    def to_internal_value(self, data):
        if hasattr(data, "read"):  # sent as a file part: read no more than a form field may hold
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 1024 * 1024
            data = data.read(limit + 1)
            if len(data) > limit:
                raise serializers.ValidationError(f"The metadata is larger than {limit} bytes.")
        try:
            parsed = super().to_internal_value(data)
        except RecursionError as exc:  # nested deeper than the decoder's stack (compliance_site.json_limits)
            raise serializers.ValidationError(TOO_DEEP) from exc
        if problem := json_depth_problem(parsed):
            raise serializers.ValidationError(problem)
        metadata = RecordingMetadataSerializer(data=parsed)
        if not metadata.is_valid():
            raise serializers.ValidationError(metadata.errors)
        return metadata.validated_data


class RecordingIngestSerializer(serializers.Serializer):
    audio = serializers.FileField(
        # Emptiness is the audio check's call, with the same message as the import and the admin.
        allow_empty_file=True,
        use_url=False,
        help_text="The call audio: WAV, MP3, OGG/Opus, WebM, FLAC or M4A, recognised by its content.",
    )
    metadata = MetadataField(help_text="The call's metadata as JSON (a form field, not a file).")


class RestrictionSerializer(serializers.Serializer):
    request = serializers.CharField(
        help_text="The restriction request (Art. 18) in force, e.g. DSR-2026-000123."
    )
    since = serializers.DateTimeField(help_text="When the restriction was placed.")


class RecordingIngestedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    subject_reference = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["active", "restricted"],
        help_text="`restricted`: the caller's processing is restricted (Art. 18); the call is stored only.",
    )
    restriction = RestrictionSerializer(
        allow_null=True, help_text="The restriction that applies to the call, or null."
    )
    stopped_purposes = serializers.ListField(
        child=serializers.CharField(),
        help_text="Codes of the stated purposes the caller's objection (Art. 21) stops: the call is not "
        "used for them.",
    )


def ingest_marks(recording) -> dict[str, Any]:
    """What the law made of the call as it arrived: restricted under which request, and which of
    its stated purposes an objection of the caller stops (references and codes, no personal data)."""
    restriction = (
        restriction_in_force(recording.subject_id)
        if recording.status == recording.Status.RESTRICTED
        else None
    )
    return {
        "status": recording.status,
        "restriction": (
            {"request": restriction.request_reference, "since": restriction.placed_at}
            if restriction is not None
            else None
        ),
        "stopped_purposes": [purpose.code for purpose in purposes_stopped_by_objection(recording)],
    }


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=OpenApiTypes.OBJECT, description=description)


class RecordingIngestView(APIView):
    """``POST /api/v1/recordings/``: one call, stored encrypted with its consent evidence."""

    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [CanIngestRecordings]
    parser_classes = [MultiPartParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "recording-ingest"

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Refuse a body that cannot hold an acceptable recording before reading a byte of it.
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError as exc:
            raise exceptions.ParseError("Invalid Content-Length.") from exc
        limit = (
            settings.RECORDING_MAX_BYTES + (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0) + _BODY_OVERHEAD_BYTES
        )
        if declared > limit:
            self._refused("too_large")
            raise PayloadTooLarge(
                {
                    "audio": [
                        f"The request is {declared} bytes; recordings are accepted up to "
                        f"{settings.RECORDING_MAX_BYTES} bytes."
                    ]
                }
            )

    @extend_schema(
        operation_id="recordings_ingest",
        summary="Push one recorded call",
        description=(
            "A multipart/form-data body with two parts: `audio`, the call audio (WAV, MP3, "
            "OGG/Opus, WebM, FLAC or M4A, recognised by its content, not its name, up to the "
            "deployment's RECORDING_MAX_BYTES), and `metadata`, a JSON text: who called, agent, "
            "queue, times, lawful basis, purposes and the consents with their evidence, and optionally "
            "the call's `transcript` (stored sealed; reviewers see it with card numbers, IBANs, "
            "emails and phone numbers redacted). The call is "
            "stored all or nothing: a refused request leaves nothing behind. Authenticate with "
            "`Authorization: Token <key>`; the key comes from `manage.py create_integration`."
        ),
        request=OpenApiRequest(
            RecordingIngestSerializer,
            encoding={"metadata": {"contentType": "application/json"}},
        ),
        responses={
            201: OpenApiResponse(
                RecordingIngestedSerializer,
                description=(
                    "Stored: the recording's id and references, whether it is restricted and why, "
                    "and the purposes an objection stops."
                ),
            ),
            400: _error("The metadata or the audio is invalid; the body names each field and why."),
            401: _error("No token, or an unknown or revoked one."),
            403: _error("The account may not push recordings."),
            409: _error("Another recording with the same reference was stored at the same moment."),
            413: _error("The audio is larger than RECORDING_MAX_BYTES."),
            415: _error("The audio is not WAV, MP3, OGG/Opus, WebM, FLAC or M4A."),
            429: _error(
                "Too many pushes, or too many wrong tokens from this address; retry after the "
                "Retry-After header's seconds."
            ),
        },
        tags=["recordings"],
    )
    def post(self, request):
        try:
            data = request.data
        except RequestDataTooBig as exc:
            self._refused("too_large")
            raise PayloadTooLarge(
                {"metadata": ["The form fields are larger than the server accepts."]}
            ) from exc
        except SuspiciousOperation as exc:  # too many fields or files
            self._refused("malformed")
            raise exceptions.ParseError(str(exc)) from exc
        request_serializer = RecordingIngestSerializer(data=data)
        if not request_serializer.is_valid():
            self._refused("invalid", sorted({path for path, _ in error_lines(request_serializer.errors)}))
            raise exceptions.ValidationError(request_serializer.errors)
        user = request.user
        try:
            recording = recording_ingest(
                audio=request_serializer.validated_data["audio"],
                metadata=request_serializer.validated_data["metadata"],
                actor=user,
                actor_label=user.get_username(),
            )
        except DjangoValidationError as exc:
            if hasattr(exc, "error_dict"):  # about the metadata, e.g. a subject erased meanwhile
                self._refused("invalid", sorted(f"metadata.{name}" for name in exc.error_dict))
                raise exceptions.ValidationError({"metadata": exc.message_dict}) from exc
            self._refused(exc.code or "invalid", ["audio"])
            refusal = _AUDIO_REFUSALS.get(exc.code or "", exceptions.ValidationError)
            raise refusal({"audio": exc.messages}) from exc
        except IntegrityError as exc:
            self._refused("conflict")
            raise IngestConflict() from exc
        body = {
            "id": recording.pk,
            "reference": recording.reference,
            "subject_reference": recording.subject.reference,
            **ingest_marks(recording),
        }
        return Response(RecordingIngestedSerializer(body).data, status=status.HTTP_201_CREATED)

    def _refused(self, reason: str, fields: list[str] | None = None) -> None:
        # Reason codes and field names only: never a value, which may be personal data.
        logger.info(
            "Ingest refused for %s: %s%s",
            self.request.user.get_username(),
            reason,
            f" ({', '.join(fields)})" if fields else "",
        )


class CanWithdrawConsents(BasePermission):
    message = "This account may not record consent withdrawals."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("recordings.withdraw_consent"))


class ConsentWithdrawalSerializer(serializers.Serializer):
    subject = SubjectIdentifiersSerializer(help_text="Who withdrew: reference, phone or email.")
    purpose = LookupSlugField(slug_field="code", queryset=Purpose.objects.all())
    channel = serializers.ChoiceField(
        choices=Consent.Channel.choices, help_text="Where the subject said it (the consent's channel)."
    )


class ConsentWithdrawnSerializer(serializers.Serializer):
    subject_reference = serializers.CharField()
    withdrawn = serializers.IntegerField(help_text="How many active consents were withdrawn.")


class ConsentWithdrawalView(APIView):
    """``POST /api/v1/consents/withdrawals/``: the caller withdrew consent for a purpose (e.g. by
    an IVR key press); every active consent of theirs for it ends now."""

    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [CanWithdrawConsents]
    parser_classes = [BoundedJSONParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "recording-ingest"

    @extend_schema(
        operation_id="consents_withdraw",
        summary="Record a consent withdrawal (Art. 7(3))",
        request=ConsentWithdrawalSerializer,
        responses={
            200: ConsentWithdrawnSerializer,
            400: _error("The body is invalid; each field and why."),
            401: _error("No token, or an unknown or revoked one."),
            403: _error("The account may not record withdrawals."),
            404: _error("No subject matches the identifiers."),
            429: _error("Too many requests, or too many wrong tokens from this address; see Retry-After."),
        },
        tags=["consents"],
    )
    def post(self, request):
        body = ConsentWithdrawalSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        identifiers = body.validated_data["subject"]
        subject = subject_matching(
            reference=identifiers["reference"],
            phone=identifiers["personal"].phone,
            email=identifiers["personal"].email,
        ).first()
        if subject is None:
            raise exceptions.NotFound({"subject": ["No subject matches these identifiers."]})
        withdrawn = consents_withdraw_for(
            subject=subject,
            purpose=body.validated_data["purpose"],
            via=body.validated_data["channel"],
            actor=request.user,
            client_ip=client_ip(request),
        )
        return Response(
            ConsentWithdrawnSerializer(
                {"subject_reference": subject.reference, "withdrawn": len(withdrawn)}
            ).data
        )
