"""Admin for subjects, queues, purposes, notices, assessments, recordings and consents."""

from __future__ import annotations

from django.contrib import admin
from guardian.admin import GuardedModelAdminMixin

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_search import ReferenceSearchMixin
from compliance_site.pagination import EstimatedCountPaginator
from recordings.models import (
    Consent,
    DataSubject,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
)
from recordings.selectors import (
    consents_visible_to,
    queues_visible_to,
    recordings_visible_to,
    subjects_visible_to,
)

# The evidence of a consent is fixed once captured (Art. 7(1)); only its withdrawal is added later.
CONSENT_EVIDENCE_FIELDS = (
    "subject",
    "recording",
    "purpose",
    "decision",
    "method",
    "notice",
    "captured_by",
    "captured_at",
    "evidence_offset",
    "jurisdiction",
)


@admin.register(DataSubject)
class DataSubjectAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    list_display = ("reference", "created_at")
    # Personal fields are never searched, filtered or ordered in clear; the reference is a pseudonym.
    search_fields = ("=reference",)
    readonly_fields = ("created_at",)
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return subjects_visible_to(request.user)


@admin.register(Queue)
class QueueAdmin(GuardedModelAdminMixin, ScopedHistoryAdmin):
    list_display = ("name", "code", "created_at")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}


@admin.register(Purpose)
class PurposeAdmin(ScopedHistoryAdmin):
    list_display = ("name", "code")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}


@admin.register(RecordingNotice)
class RecordingNoticeAdmin(ScopedHistoryAdmin):
    list_display = ("version", "language", "published_at")
    list_filter = ("language",)
    search_fields = ("version",)
    date_hierarchy = "published_at"


@admin.register(LegitimateInterestAssessment)
class LegitimateInterestAssessmentAdmin(ScopedHistoryAdmin):
    list_display = ("title", "approved_by", "approved_at", "created_at")
    list_filter = ("purposes",)
    list_select_related = ("approved_by",)
    search_fields = ("title",)
    filter_horizontal = ("purposes",)
    raw_id_fields = ("approved_by",)


class ConsentInline(admin.TabularInline):
    """The recording's consent story, oldest first; read-only evidence."""

    model = Consent
    fields = (*CONSENT_EVIDENCE_FIELDS[2:], "withdrawn_at", "withdrawn_via")
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
        return queryset.filter(queue_id=self.value()) if self.value() else queryset


@admin.register(Recording)
class RecordingAdmin(ReferenceSearchMixin, GuardedModelAdminMixin, ScopedHistoryAdmin):
    list_display = ("reference", "started_at", "queue", "direction", "lawful_basis", "status", "duration")
    list_filter = ("status", "lawful_basis", "direction", VisibleQueueFilter)
    list_select_related = ("queue",)
    # Exact match on references only: the subject's personal fields are never searched in clear.
    search_fields = ("=reference", "=subject__reference")
    raw_id_fields = ("subject", "agent", "legitimate_interest_assessment")
    filter_horizontal = ("purposes",)
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
    # No date_hierarchy: its year/month links need a DISTINCT over the whole table on each page.
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return recordings_visible_to(request.user)

    def has_add_permission(self, request) -> bool:
        # Recordings arrive with their audio and consent evidence through ingest, never empty.
        return False


@admin.register(Consent)
class ConsentAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    list_display = ("subject", "purpose", "decision", "method", "captured_at", "withdrawn_at")
    list_filter = ("decision", "method", "purpose", "jurisdiction")
    list_select_related = ("subject", "purpose")
    search_fields = ("=subject__reference", "=recording__reference")
    raw_id_fields = ("subject", "recording", "captured_by", "withdrawn_by")
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return consents_visible_to(request.user)

    def get_readonly_fields(self, request, obj=None):
        return CONSENT_EVIDENCE_FIELDS if obj is not None else ()
