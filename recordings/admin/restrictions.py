"""Admin for restrictions of processing (Art. 18): the record of each, read-only. A restriction is
placed by completing a restriction request and lifted on that request's page (a DPO's step,
``dsr.restriction``); nobody edits the record here."""

from __future__ import annotations

from django.contrib import admin

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_readonly import ReadOnlyAdminMixin
from recordings.admin.search import ReferenceSearchMixin
from recordings.models import SubjectRestriction


@admin.register(SubjectRestriction)
class SubjectRestrictionAdmin(ReferenceSearchMixin, ReadOnlyAdminMixin, ScopedHistoryAdmin):
    list_display = (
        "request_reference",
        "subject",
        "ground",
        "placed_at",
        "placed_by",
        "lifted_at",
        "lifted_by",
    )
    list_filter = ("ground", ("lifted_at", admin.EmptyFieldListFilter))
    list_select_related = ("subject", "placed_by", "lifted_by")
    search_fields = ("=request_reference", "=subject__reference")
    subject_search_path = "subject"
    fields = (
        "subject",
        "request_reference",
        "ground",
        "placed_at",
        "placed_by",
        "lifted_at",
        "lifted_by",
        "lift_reason",
        "restricted_count",
    )
    readonly_fields = fields
    show_full_result_count = False

    def get_queryset(self, request):
        # Who may see every subject sees every restriction (the DPO, the auditor); nobody else.
        if not request.user.has_perm("recordings.view_all_subjects"):
            return SubjectRestriction.objects.none()
        return super().get_queryset(request)

    @admin.display(description="recordings it restricted")
    def restricted_count(self, obj: SubjectRestriction) -> int:
        return obj.recordings.count()
