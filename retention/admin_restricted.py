"""The DPO's list "Restricted recordings past retention": what the sweep keeps because it is
restricted (Art. 18), with the reason (the restriction's request and ground, or an erasure a
legal hold deferred). Read-only: a restriction ends by its lift on the request's page
(``dsr.restriction``), a deferred erasure by the hold's release."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone

from recordings.admin.search import ReferenceSearchMixin
from retention.models import RestrictedPastRetention
from retention.restricted import restricted_with_reason, restriction_reason_text
from retention.selectors import recordings_restricted_past_retention


@admin.register(RestrictedPastRetention)
class RestrictedPastRetentionAdmin(ReferenceSearchMixin, admin.ModelAdmin):
    """A plain ModelAdmin, as the disposition list: the recordings' history is on their own page."""

    list_display = ("reference", "started_at", "queue", "keep_until", "reason")
    list_select_related = ("queue",)
    search_fields = ("=reference", "=subject__reference")
    subject_search_path = "subject"
    show_full_result_count = False

    def get_queryset(self, request):
        if not request.user.has_perm("recordings.view_all_recordings"):
            return RestrictedPastRetention.objects.none()
        ids = recordings_restricted_past_retention(timezone.now()).values("pk")
        return restricted_with_reason(RestrictedPastRetention.objects.filter(pk__in=ids))

    @admin.display(description="why it is kept")
    def reason(self, obj) -> str:
        return restriction_reason_text(
            getattr(obj, "restriction_request", None), getattr(obj, "restriction_ground", None)
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
