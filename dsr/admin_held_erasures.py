"""The DPO's list "Erasures deferred by a legal hold": what waits for a hold's release, what is due
now (confirm, then a second DPO approves) and what was carried out (``dsr.held_erasures``).

Read by the DPO and the auditor (``retention.view_helderasure``); only a DPO confirms or
approves. Nothing is edited by hand: the rows move through the services alone.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_readonly import ReadOnlyAdminMixin
from compliance_site.roles import is_dpo
from dsr.held_erasures import grace_period, held_erasures_approve, held_erasures_confirm
from recordings.admin.search import ReferenceSearchMixin
from retention.models import HeldErasure


class ResumingFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return HeldErasure.State.choices

    def queryset(self, request, queryset):
        if self.value() in HeldErasure.State.values:
            return queryset.filter(state=self.value())
        return queryset


@admin.register(HeldErasure)
class HeldErasureAdmin(ReferenceSearchMixin, ReadOnlyAdminMixin, ScopedHistoryAdmin):
    subject_search_path = "subject"
    list_display = (
        "request_reference",
        "recording",
        "subject",
        "state",
        "holds_display",
        "due_since",
        "beat_erases_from",
        "confirmed_by",
        "approved_by",
        "executed_at",
    )
    list_filter = (ResumingFilter,)
    list_select_related = ("recording", "subject", "confirmed_by", "approved_by")
    search_fields = ("=request_reference", "=recording__reference", "=subject__reference")
    show_full_result_count = False
    actions = ("confirm", "approve")

    def get_queryset(self, request):
        # The whole desk's deferred erasures: a DPO's and an auditor's view, nobody else's.
        if not request.user.has_perm("recordings.view_all_subjects"):
            return HeldErasure.objects.none()
        return super().get_queryset(request).prefetch_related("holds")

    def changelist_view(self, request, extra_context=None):
        days = grace_period().days
        extra_context = {
            **(extra_context or {}),
            "title": f"Erasures deferred by a legal hold: due ones resume after two DPOs confirm, "
            f"or by beat {days} day(s) after the release",
        }
        return super().changelist_view(request, extra_context)

    @admin.display(description="Holds")
    def holds_display(self, obj: HeldErasure) -> str:
        return ", ".join(sorted(hold.case_reference for hold in obj.holds.all()))

    @admin.display(description="Beat erases from")
    def beat_erases_from(self, obj: HeldErasure) -> str:
        if obj.due_since is None or obj.state in (HeldErasure.State.APPROVED, HeldErasure.State.DONE):
            return "—"
        return f"{timezone.localtime(obj.due_since + grace_period()):%Y-%m-%d %H:%M}"

    def has_confirm_permission(self, request) -> bool:
        return is_dpo(request.user)

    has_approve_permission = has_confirm_permission

    def _act(self, request, queryset, service, done: str) -> None:
        try:
            erasures = service(erasures=list(queryset), actor=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return
        self.message_user(request, f"{len(erasures)} erasure(s) {done}.")

    @admin.action(
        description="Confirm the selected erasures (a second DPO approves)", permissions=["confirm"]
    )
    def confirm(self, request, queryset):
        self._act(request, queryset, held_erasures_confirm, "confirmed; a second DPO approves them next")

    @admin.action(description="Approve the selected confirmed erasures (second DPO)", permissions=["approve"])
    def approve(self, request, queryset):
        self._act(request, queryset, held_erasures_approve, "approved; a worker carries them out now")
