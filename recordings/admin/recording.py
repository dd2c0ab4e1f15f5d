"""Admin for subjects, queues, purposes, notices, assessments, recordings and consents."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.contrib import admin
from django.db.models import Q
from django.http import HttpResponseBase
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_links import PermittedLinksAdminMixin
from compliance_site.audit.admin import AccessLoggedAdminMixin
from compliance_site.audit.models import AccessAction
from compliance_site.bad_requests import ClearBadRequest
from compliance_site.display import local_minutes
from compliance_site.pagination import SizeScopedCountAdminMixin
from recordings.admin.consents import CONSENT_EVIDENCE_FIELDS, CONSENT_WITHDRAWAL_FIELDS
from recordings.admin.reattribute import reattribute_view, subject_context
from recordings.admin.search import ReferenceSearchMixin
from recordings.admin.sensitive import (
    recording_page_url,
    sensitive_context,
    sensitive_segment_remove_view,
    sensitive_segments_view,
    unredacted_playback_view,
)
from recordings.admin.transcript import (
    FLAGGED,
    FLAGGED_TITLE,
    PaymentDataFlagFilter,
    payment_data_flag,
    recording_transcript,
    transcript_panel,
    transcript_unredacted_view,
)
from recordings.admin.upload import UPLOAD_FIELDSETS, RecordingUploadForm
from recordings.models import Consent, Recording
from recordings.playback.sessions import playback_token
from recordings.selectors import (
    purposes_lawful_for,
    queues_visible_to,
    recordings_granted_ids,
    recordings_playable_by,
    recordings_visible_to,
)
from recordings.services import recording_grounds_changed


def audio_unavailable_reason(user, recording: Recording) -> str:
    """Why the page has no player for ``user``, in the order ``recordings_playable_by`` checks."""
    if not user.has_perm("recordings.play_recording"):
        return (
            "Not playable for you: your role reads recordings, their consents and history but does "
            "not listen to calls (playback is for the DPO and the QA leads of the call's queue)."
        )
    if recording.status == Recording.Status.RESTRICTED:
        return (
            "Not playable: the recording is restricted (Art. 18); nobody plays it until the restriction ends."
        )
    if recording.status == Recording.Status.ERASED:
        return "Not playable: the recording was erased; no audio remains."
    return "Not playable for you: the call is outside the queues and calls you are granted."


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
    SizeScopedCountAdminMixin,
    PermittedLinksAdminMixin,
    AccessLoggedAdminMixin,
    ReferenceSearchMixin,
    ScopedHistoryAdmin,
):
    """A call's list and page. The page's parts are functions of their own modules, handed what
    they need: the player and its segments (``admin.sensitive``), the redacted transcript
    (``admin.transcript``), the add page's upload form (``admin.upload``); the recording's own
    pages are view functions that the one ``get_urls`` routes to. The state of one page travels
    in that page's context, never on the admin or the recording."""

    # No guardian object-permissions page here: it would grant review without a reason or an
    # expiry. Ad-hoc grants are made in RecordingGrantAdmin; queues keep guardian's page.
    list_display = ("reference", "started_at", "queue", "direction", "lawful_basis", "status", "duration")
    list_filter = ("status", "lawful_basis", "direction", VisibleQueueFilter, PaymentDataFlagFilter)
    list_select_related = ("queue",)
    # References, or the subject's phone/email through the blind index; never personal data in clear.
    search_fields = ("=reference", "=subject__reference")
    subject_search_path = "subject"
    filter_horizontal = ("purposes",)
    change_form_template = "admin/recordings/recording/change_form.html"
    # The subject is shown by reference at the top of the page (linked only for those who may
    # open it) and changed only by ``recording_reattribute``, which re-wraps the recording's key:
    # a plain edit would leave the key wrapped under the old subject's key, and playback broken.
    # The agent and the assessment are evidence too, shown as text below (``call_agent``...).
    exclude = ("subject", "agent", "legitimate_interest_assessment")
    # The call's evidence: what the telephony recorded and ingest stored, never typed in.
    # Purposes and queue stay editable: what the call may serve and which team reviews it.
    readonly_fields = (
        "reference",
        "call_agent",
        "direction",
        "started_at",
        "ended_at",
        "lawful_basis",
        "call_assessment",
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
    # Shown read-only (a QA lead, the auditor), linked only where the viewer may open the page.
    # The subject (top of the page, ``subject_context``) and the agent (``call_agent``) have rows
    # of their own: listed here they would show twice to a view-only reader.
    permitted_link_fields = ("queue",)

    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        pages: list[tuple[str, Callable[..., HttpResponseBase], str]] = [
            # <int:...>, not the admin's <path:...>: these must not take another page's address
            # that merely ends the same way.
            ("<int:object_id>/sensitive-segments/", sensitive_segments_view, "sensitive_segments"),
            (
                "<int:object_id>/sensitive-segments/<int:segment_id>/remove/",
                sensitive_segment_remove_view,
                "sensitive_segment_remove",
            ),
            ("<int:object_id>/unredacted/", unredacted_playback_view, "unredacted"),
            # Not ".../transcript/unredacted/": the audio's "<id>/unredacted/" would look alike.
            ("<int:object_id>/unredacted-transcript/", transcript_unredacted_view, "transcript_unredacted"),
            ("<int:object_id>/reattribute/", reattribute_view, "reattribute"),
        ]
        return [
            *(
                path(
                    route,
                    self.admin_site.admin_view(view),
                    {"model_admin": self},
                    name="{}_{}_{}".format(*info, name),
                )
                for route, view, name in pages
            ),
            *super().get_urls(),
        ]

    def access_change_event(self, request, recording, context):
        # One event for the page: a decryption when it showed the transcript (redacted).
        if context.get("transcript_decrypted"):
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
        if obj is None:
            return ()  # the add page is the upload form: nothing of the model is shown there
        fields: tuple[Any, ...] = (*super().get_readonly_fields(request, obj),)  # with the links' rule
        if recording_transcript(obj) is not None:
            fields = (*fields, payment_data_flag)
        for permission, value in self.page_fields:
            if request.user.has_perm(permission):
                fields = (*fields, value)
        if request.user.has_perm("recordings.view_consent"):
            fields = (*fields, "consent_story")
        return fields

    @admin.display(description="Agent")
    def call_agent(self, recording: Recording) -> str:
        # As text: a link to the user's page would be a 403 for most who read this page.
        return str(recording.agent) if recording.agent_id else "—"

    @admin.display(description="Legitimate-interest assessment")
    def call_assessment(self, recording: Recording) -> str:
        assessment = recording.legitimate_interest_assessment
        return str(assessment) if assessment is not None else "—"

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
                recorded += f", under {consent.withdrawn_under}" if consent.withdrawn_under else ""
                events.append((consent.withdrawn_at, f"Withdrawn for {consent.purpose} via {via}{recorded}"))
        events.sort(key=lambda event: event[0])
        lawful = ", ".join(str(p) for p in purposes_lawful_for(recording)) or "nothing (retention ends)"
        return format_html(
            "<ol class='consent-story'>{}</ol><p>May serve now: {}</p>",
            format_html_join("", "<li>{}: {}</li>", ((local_minutes(at), text) for at, text in events)),
            lawful,
        )

    # No date_hierarchy: its year/month links need a DISTINCT over the whole table on each page.
    show_full_result_count = False
    # The DPO and the auditor see the whole table and may know its size: its estimate. A QA lead
    # sees a part: exactly that part, counted up to CUSTOS_LIST_COUNT_CAP.
    table_size_permission = "recordings.view_all_recordings"

    def count_narrowing(self, request):
        return recordings_granted_ids(request.user)

    def get_queryset(self, request):
        return recordings_visible_to(request.user)

    def changelist_view(self, request, extra_context=None):
        if request.GET.get(PaymentDataFlagFilter.parameter_name) == FLAGGED:
            extra_context = {**(extra_context or {}), "title": FLAGGED_TITLE}
        return super().changelist_view(request, extra_context)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            # The page's player asks the same selector as the audio endpoint.
            playable = recordings_playable_by(request.user).filter(pk=obj.pk).exists()
            audio_url = None
            if playable:
                token = playback_token(user=request.user, recording=obj)
                audio_url = f"{reverse('recording-audio', args=[obj.pk])}?{urlencode({'playback': token})}"
                # The player loads nothing until play is pressed, then reports what it played.
                context.update(playback_token=token, heard_url=reverse("recording-heard", args=[obj.pk]))
            context.update(sensitive_context(self, request, obj, audio_url=audio_url))
            context.update(subject_context(self, request, obj))
            if not playable:
                context["audio_unavailable"] = audio_unavailable_reason(request.user, obj)
            if playable:
                url = recording_page_url(self, "transcript_unredacted", obj)
                context.update(transcript_panel(request, obj, unredacted_url=url))
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Adding is uploading: a recording arrives with its audio and consent evidence through
    # ``recording_ingest`` (``RecordingUploadForm.ingest``), never empty. Only holders of
    # ``recordings.add_recording`` (the DPO) may add; the change page is the model's own.

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("recordings.add_recording")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            return RecordingUploadForm  # as written: none of the model's fields is edited here
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        return UPLOAD_FIELDSETS if obj is None else super().get_fieldsets(request, obj)

    def get_inline_instances(self, request, obj=None):
        return [] if obj is None else super().get_inline_instances(request, obj)

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        return form.ingest(actor=request.user)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        # An upload was stored whole by save_form's ingest: row, consents, key, blob, access log.

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)
            if "purposes" in form.changed_data:
                # Its keep-until follows its purposes (retention), at once.
                recording_grounds_changed.send(sender=Recording, recordings=[form.instance])
