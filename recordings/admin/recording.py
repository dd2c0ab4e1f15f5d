"""Admin for subjects, queues, purposes, notices, assessments, recordings and consents."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from django.contrib import admin
from django.db.models import Q
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.audit.admin import AccessLoggedAdminMixin
from compliance_site.audit.models import AccessAction
from compliance_site.bad_requests import ClearBadRequest
from compliance_site.pagination import EstimatedCountPaginator
from recordings.admin.consents import CONSENT_EVIDENCE_FIELDS, CONSENT_WITHDRAWAL_FIELDS
from recordings.admin.search import ReferenceSearchMixin
from recordings.admin.sensitive import SensitiveSegmentsAdminMixin
from recordings.admin.transcript import TranscriptAdminMixin
from recordings.admin.upload import RecordingUploadAdminMixin
from recordings.models import (
    Consent,
    Recording,
)
from recordings.playback.sessions import playback_token
from recordings.selectors import (
    purposes_lawful_for,
    queues_visible_to,
    recordings_playable_by,
    recordings_visible_to,
)


class ConsentInline(admin.TabularInline):
    """The recording's consent story, oldest first; read-only evidence."""

    model = Consent
    fields = (*CONSENT_EVIDENCE_FIELDS[2:], *CONSENT_WITHDRAWAL_FIELDS)
    readonly_fields = fields
    ordering = ("captured_at", "pk")
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("purpose", "notice", "captured_by")


class VisibleQueueFilter(admin.SimpleListFilter):
    """Offers only the queues the user may review, and reads no recording to find them."""

    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [(str(q.pk), q.name) for q in queues_visible_to(request.user)]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        # Only a queue this filter offers: anything else (``abc``, another team's queue) is
        # refused the same way, so the answer tells nothing about queues outside the grant.
        if self.value() not in {value for value, _ in self.lookup_choices}:
            raise ClearBadRequest("Unknown queue in the list's filter: choose one the list offers.")
        return queryset.filter(queue_id=self.value())


@admin.register(Recording)
class RecordingAdmin(
    AccessLoggedAdminMixin,
    SensitiveSegmentsAdminMixin,
    TranscriptAdminMixin,
    RecordingUploadAdminMixin,
    ReferenceSearchMixin,
    ScopedHistoryAdmin,
):
    # No guardian object-permissions page here: it would grant review without a reason or an
    # expiry. Ad-hoc grants are made in RecordingGrantAdmin; queues keep guardian's page.
    list_display = ("reference", "started_at", "queue", "direction", "lawful_basis", "status", "duration")
    list_filter = ("status", "lawful_basis", "direction", VisibleQueueFilter)
    list_select_related = ("queue",)
    # References, or the subject's phone/email through the blind index; never personal data in clear.
    search_fields = ("=reference", "=subject__reference")
    subject_search_path = "subject"
    raw_id_fields = ("subject", "agent", "legitimate_interest_assessment")
    filter_horizontal = ("purposes",)
    change_form_template = "admin/recordings/recording/change_form.html"
    readonly_fields = (
        "status",
        "storage_ref",
        "size_bytes",
        "content_type",
        "checksum_sha256",
        "keep_until",
        "created_at",
    )
    inlines = (ConsentInline,)
    access_object_type = "recording"

    def access_change_event(self, request, recording):
        # One event for the page: a decryption when it showed the transcript (redacted).
        if getattr(recording, "_transcript_decrypted", False):
            return AccessAction.DECRYPT, {"what": "transcript", "redacted": True}
        return AccessAction.VIEW, {}

    # Read-only fields that apps built on recordings add to the recording's page (retention's
    # verdict), each with the permission that shows it: recordings imports none of those apps.
    page_fields: ClassVar[list[tuple[str, Callable[[Recording], str]]]] = []

    @classmethod
    def page_field_register(cls, value: Callable[[Recording], str], *, permission: str) -> None:
        """Show ``value(recording)`` (an ``admin.display`` function) to holders of ``permission``."""
        if all(registered is not value for _permission, registered in cls.page_fields):
            cls.page_fields.append((permission, value))

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if obj is None:
            return fields
        for permission, value in self.page_fields:
            if request.user.has_perm(permission):
                fields = (*fields, value)
        if request.user.has_perm("recordings.view_consent"):
            fields = (*fields, "consent_story")
        return fields

    @admin.display(description="Consent story")
    def consent_story(self, recording):
        """Every consent decision and withdrawal that bears on this call, oldest first (the
        subject's own, for this call or for all their calls), and what it may serve today."""
        consents = (
            Consent.objects.filter(
                Q(recording=recording) | Q(recording__isnull=True), subject=recording.subject_id
            )
            .select_related("purpose", "notice", "captured_by", "withdrawn_by")
            .order_by("captured_at", "pk")
        )
        events = []
        for consent in consents:
            scope = "this call" if consent.recording_id else "all calls"
            offset = f", at {consent.evidence_offset} in the call" if consent.evidence_offset else ""
            by = f", asked by {consent.captured_by}" if consent.captured_by else ""
            events.append(
                (
                    consent.captured_at,
                    f"{consent.get_decision_display()} for {consent.purpose} ({scope}): "
                    f"{consent.get_method_display()}{by}, notice {consent.notice.version} "
                    f"({consent.notice.language}){offset}, {consent.jurisdiction}",
                )
            )
            if consent.withdrawn_at:
                via = consent.get_withdrawn_via_display()
                recorded = f", recorded by {consent.withdrawn_by}" if consent.withdrawn_by else ""
                events.append((consent.withdrawn_at, f"Withdrawn for {consent.purpose} via {via}{recorded}"))
        events.sort(key=lambda event: event[0])
        lawful = ", ".join(str(p) for p in purposes_lawful_for(recording)) or "nothing (retention ends)"
        return format_html(
            "<ol class='consent-story'>{}</ol><p>May serve now: {}</p>",
            format_html_join("", "<li>{}: {}</li>", ((f"{at:%Y-%m-%d %H:%M}", text) for at, text in events)),
            lawful,
        )

    # No date_hierarchy: its year/month links need a DISTINCT over the whole table on each page.
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return recordings_visible_to(request.user)

    # Adding is uploading (RecordingUploadAdminMixin): a recording arrives with its audio and
    # consent evidence through ingest, never empty.

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # The page's player asks the same selector as the audio endpoint.
        if obj is not None and recordings_playable_by(request.user).filter(pk=obj.pk).exists():
            token = playback_token(user=request.user, recording=obj)
            context["audio_url"] = (
                f"{reverse('recording-audio', args=[obj.pk])}?{urlencode({'playback': token})}"
            )
        return super().render_change_form(request, context, add, change, form_url, obj)
