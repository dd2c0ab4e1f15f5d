"""``POST /api/v1/requests/``: a request received by an integration (a web form, the IVR) is
registered at once with its reference and due date; matching and identity stay with the desk."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from compliance_site.api_auth import IntegrationTokenAuthentication
from compliance_site.client_address import client_ip
from compliance_site.json_limits import BoundedJSONParser
from dsr.models import DataSubjectRequest, RequestType
from dsr.services import receipt_validate, request_create
from recordings.intake.serializers import SubjectIdentifiersSerializer
from recordings.selectors import subject_matching


class CanFileRequests(BasePermission):
    message = "This account may not file data-subject requests."

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm("dsr.add_datasubjectrequest"))


class ReceivedAtField(serializers.DateTimeField):
    """A receipt time, with the desk's rule (``receipt_validate``) checked while parsing: DRF's
    own time-zone handling raises OverflowError on a date next to year 1 or 9999."""

    def to_internal_value(self, value):
        try:
            moment = super().to_internal_value(value)
            receipt_validate(moment)
        except OverflowError as exc:
            raise serializers.ValidationError("The receipt time is out of range.") from exc
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return moment


class RequestIntakeSerializer(serializers.Serializer):
    request_type = serializers.ChoiceField(choices=RequestType.choices)
    received_at = ReceivedAtField(required=False, help_text="Defaults to now; not before 2018-05-25.")
    language = serializers.ChoiceField(choices=[("en", "English"), ("de", "Deutsch")], default="en")
    subject = SubjectIdentifiersSerializer(
        required=False, help_text="Who asked, if known: matched by reference, phone or email."
    )


class RequestRegisteredSerializer(serializers.Serializer):
    reference = serializers.CharField()
    due_at = serializers.DateTimeField()
    matched = serializers.BooleanField(help_text="Whether the requester was matched to a subject.")


class RequestIntakeView(APIView):
    authentication_classes = [IntegrationTokenAuthentication]
    permission_classes = [CanFileRequests]
    parser_classes = [BoundedJSONParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "recording-ingest"

    @extend_schema(
        operation_id="requests_create",
        summary="Register a data-subject request",
        request=RequestIntakeSerializer,
        responses={
            201: RequestRegisteredSerializer,
            400: OpenApiResponse(description="Invalid body; each field and why."),
            401: OpenApiResponse(description="No token, or an unknown or revoked one."),
            403: OpenApiResponse(description="The account may not file requests."),
            429: OpenApiResponse(
                description="Too many requests, or too many wrong tokens from this address; see Retry-After."
            ),
        },
        tags=["requests"],
    )
    def post(self, request):
        body = RequestIntakeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        subject = None
        if "subject" in data:
            identifiers = data["subject"]
            subject = subject_matching(
                reference=identifiers["reference"],
                phone=identifiers["personal"].phone,
                email=identifiers["personal"].email,
            ).first()
        try:
            created = request_create(
                request_type=data["request_type"],
                channel=DataSubjectRequest.Channel.API,
                received_at=data.get("received_at") or timezone.now(),
                subject=subject,
                language=data["language"],
                actor=request.user,
                client_ip=client_ip(request),
            )
        except DjangoValidationError as exc:
            detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
            raise exceptions.ValidationError(detail) from exc
        payload = {"reference": created.reference, "due_at": created.due_at, "matched": subject is not None}
        return Response(RequestRegisteredSerializer(payload).data, status=status.HTTP_201_CREATED)
