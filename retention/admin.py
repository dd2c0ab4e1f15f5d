"""Admin for retention policies, legal holds, sweep runs and tombstones."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_readonly import ReadOnlyAdminMixin
from recordings.admin.recording import RecordingAdmin
from recordings.admin.search import ReferenceSearchMixin
from retention import admin_restricted  # noqa: F401 - registers "Restricted recordings past retention"
from retention.explain import retention_verdict
from retention.keep_until import PolicyChangeEffect, retention_policy_change_effect
from retention.models import (
    DeletionRecord,
    KeepUntilRecomputation,
    LegalHold,
    PendingDisposition,
    RetentionPolicy,
    SubjectDeletionRecord,
    SweepRun,
)
from retention.recompute import recomputation_latest
from retention.selectors import recordings_awaiting_disposition
from retention.services import disposition_approve, hold_place, hold_release


@admin.display(description="Retention")
def recording_retention(recording) -> str:
    """The recording's page says when retention deletes it, and why (``retention.explain``)."""
    return retention_verdict(recording, timezone.now()).reason


RecordingAdmin.page_field_register(recording_retention, permission="recordings.view_all_recordings")


class RetentionPolicyForm(forms.ModelForm):
    """A change that shortens keep-until says first what it does (``retention_policy_change_effect``)
    and, when it makes recordings due now, is saved only once the DPO confirms it."""

    confirm_due_now = forms.BooleanField(
        required=False,
        label="Confirm recordings due now",
        help_text="Tick to save a change that makes recordings due at the next sweep.",
    )

    class Meta:
        model = RetentionPolicy
        fields = ("purpose", "keep_days", "disposition_review", "legal_reference")

    effect: PolicyChangeEffect | None = None

    def clean(self):
        cleaned = super().clean() or {}
        purpose, days = cleaned.get("purpose"), cleaned.get("keep_days")
        if purpose is None or not days or self.errors:
            return cleaned
        before = self.instance.keep_days if self.instance.pk else settings.RETENTION_DEFAULT_DAYS
        if days < before or (self.instance.pk and self.instance.purpose_id != purpose.pk):
            self.effect = retention_policy_change_effect(
                purpose_id=purpose.pk,
                keep_days=days,
                disposition_review=bool(cleaned.get("disposition_review")),
                now=timezone.now(),
            )
            if self.effect.due_now and not cleaned.get("confirm_due_now"):
                raise ValidationError(f"{self.effect} Tick “Confirm recordings due now” to save it.")
        return cleaned


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(ScopedHistoryAdmin):
    form = RetentionPolicyForm
    list_display = ("purpose", "keep_days", "disposition_review", "updated_at")
    list_filter = ("disposition_review",)
    list_select_related = ("purpose",)
    search_fields = ("purpose__name", "purpose__code")
    readonly_fields = ("recomputation",)

    @admin.display(description="Keep-until recomputation")
    def recomputation(self, obj: RetentionPolicy) -> str:
        """The line on the policy's page: how far the recomputation of its last change has got."""
        job = recomputation_latest(purpose_id=obj.purpose_id) if obj.pk else None
        return f"{job.description}: {job.progress}" if job else "None yet."

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # The change queued a recomputation (retention.receivers); it runs in this DPO's name.
        KeepUntilRecomputation.objects.filter(purpose_id=obj.purpose_id, state="queued").update(
            requested_by=request.user
        )
        effect = form.effect
        messages.info(
            request,
            (f"{effect} " if effect else "")
            + "Keep-until is being recomputed on a worker (Keep-until recomputations).",
        )


@admin.register(KeepUntilRecomputation)
class KeepUntilRecomputationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The recomputations queued by policy and assessment changes, with their progress."""

    list_display = ("id", "created_at", "trigger", "description", "progress", "started_at", "finished_at")
    list_filter = ("state", "trigger")
    date_hierarchy = "created_at"
    readonly_fields = ("progress",)

    @admin.display(description="Progress")
    def progress(self, obj: KeepUntilRecomputation) -> str:
        return obj.progress


class LegalHoldForm(forms.ModelForm):
    class Meta:
        model = LegalHold
        fields = ("scope", "subject", "recording", "queue", "case_reference", "reason", "release_reason")

    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        if self.instance.pk is None and cleaned.get("release_reason"):
            self.add_error("release_reason", "A new hold cannot be released at once.")
        return cleaned


@admin.register(LegalHold)
class LegalHoldAdmin(ScopedHistoryAdmin):
    form = LegalHoldForm
    list_display = ("case_reference", "scope", "placed_by", "placed_at", "released_at")
    list_filter = ("scope", ("released_at", admin.EmptyFieldListFilter))
    list_select_related = ("placed_by",)
    search_fields = ("case_reference",)
    raw_id_fields = ("subject", "recording", "queue")
    date_hierarchy = "placed_at"

    def get_readonly_fields(self, request, obj=None):
        fixed = ("placed_by", "placed_at", "released_by", "released_at")
        if obj is None:
            return fixed
        # A placed hold keeps its scope and case; it can only be released, with a reason.
        target = ("scope", "subject", "recording", "queue", "case_reference", "reason")
        return fixed + target + (("release_reason",) if obj.released_at else ())

    def save_model(self, request, obj, form, change):
        try:
            if not change:
                hold_place(hold=obj, placed_by=request.user)
            elif form.cleaned_data.get("release_reason") and obj.released_at is None:
                hold_release(hold=obj, released_by=request.user, reason=form.cleaned_data["release_reason"])
                messages.info(
                    request,
                    "Hold released; retention resumes for what it covered, and erasures it deferred "
                    "are listed under “Erasures deferred by a legal hold” once no other hold covers them.",
                )
        except ValidationError as exc:
            messages.error(request, "; ".join(exc.messages))


@admin.register(SweepRun)
class SweepRunAdmin(ReadOnlyAdminMixin, ScopedHistoryAdmin):
    list_display = (
        "id",
        "started_at",
        "state",
        "examined",
        "deleted",
        "held_back",
        "failed",
        "subjects_erased",
        "finished_at",
    )
    list_filter = ("status",)
    date_hierarchy = "started_at"
    readonly_fields = ("state",)

    @admin.display(description="State", ordering="status")
    def state(self, obj: SweepRun) -> str:
        # A run whose worker died says so, and which run took its work over, as soon as that one
        # starts: not "running" until someone notices.
        return obj.state


@admin.register(DeletionRecord)
class DeletionRecordAdmin(ReferenceSearchMixin, ReadOnlyAdminMixin, ScopedHistoryAdmin):
    list_display = (
        "recording_reference",
        "subject_reference",
        "reason",
        "rule",
        "deleted_at",
        "blob_deleted_at",
    )
    list_filter = ("reason", "queue_code")
    search_fields = ("=recording_reference", "=subject_reference")
    date_hierarchy = "deleted_at"
    show_full_result_count = False


@admin.register(SubjectDeletionRecord)
class SubjectDeletionRecordAdmin(ReadOnlyAdminMixin, ScopedHistoryAdmin):
    """Subjects the sweep erased because nothing of theirs was left to keep (no personal data)."""

    list_display = ("subject_reference", "reason", "rule", "sweep_run", "deleted_at")
    search_fields = ("=subject_reference",)
    date_hierarchy = "deleted_at"
    show_full_result_count = False


@admin.register(PendingDisposition)
class PendingDispositionAdmin(ReferenceSearchMixin, admin.ModelAdmin):
    """Recordings past retention that wait for the DPO's approval before the sweep deletes them.
    A plain ModelAdmin: the recordings' history is on their own admin page."""

    list_display = ("reference", "started_at", "queue", "keep_until", "lawful_basis")
    list_select_related = ("queue",)
    search_fields = ("=reference", "=subject__reference")
    actions = ("approve_deletion",)

    def get_queryset(self, request):
        if not request.user.has_perm("recordings.view_all_recordings"):
            return PendingDisposition.objects.none()
        ids = recordings_awaiting_disposition(timezone.now()).values("pk")
        return PendingDisposition.objects.filter(pk__in=ids)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_approve_permission(self, request) -> bool:
        return request.user.has_perm("retention.add_dispositionapproval")

    @admin.action(description="Approve deletion of the selected recordings", permissions=["approve"])
    def approve_deletion(self, request, queryset):
        approved = 0
        for recording in queryset:
            try:
                disposition_approve(recording=recording, actor=request.user)
                approved += 1
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.WARNING)
        self.message_user(request, f"{approved} deletion(s) approved; the next sweep carries them out.")
