"""Admin for consents and objections: read-only evidence, withdrawn and decided through services."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import ValidationError

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.pagination import EstimatedCountPaginator
from recordings.admin.search import ReferenceSearchMixin
from recordings.models import (
    Consent,
    Objection,
)
from recordings.selectors import (
    consents_visible_to,
    subjects_visible_to,
)
from recordings.services import consent_withdraw, grounds_changed_announce, objection_decide

# The evidence of a consent is fixed once captured (Art. 7(1)); only its withdrawal is added later.
CONSENT_WITHDRAWAL_FIELDS = ("withdrawn_at", "withdrawn_via", "withdrawn_by", "withdrawn_under")

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


class ConsentWithdrawalActionForm(ActionForm):
    via = forms.ChoiceField(
        choices=[("", "Withdrawn through…"), *Consent.Channel.choices], required=False, label="Channel"
    )


@admin.register(Consent)
class ConsentAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    subject_search_path = "subject"
    list_display = ("subject", "purpose", "decision", "method", "captured_at", "withdrawn_at")
    list_filter = ("decision", "method", "purpose", "jurisdiction")
    list_select_related = ("subject", "purpose")
    search_fields = ("=subject__reference", "=recording__reference")
    raw_id_fields = ("subject", "recording", "captured_by", "withdrawn_by")
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return consents_visible_to(request.user)

    action_form = ConsentWithdrawalActionForm
    actions = ("withdraw_consents",)

    def get_readonly_fields(self, request, obj=None):
        # Evidence is append-only: a changed mind is a new consent, a withdrawal is the action.
        return (*CONSENT_EVIDENCE_FIELDS, *CONSENT_WITHDRAWAL_FIELDS) if obj is not None else ()

    def get_exclude(self, request, obj=None):
        return CONSENT_WITHDRAWAL_FIELDS if obj is None else ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # A consent given or refused changes what the subject's calls may serve, at once.
            grounds_changed_announce(subject_id=obj.subject_id, purpose_id=obj.purpose_id)

    @admin.action(
        description="Withdraw the selected consents (on the subject's behalf)", permissions=["withdraw"]
    )
    def withdraw_consents(self, request, queryset):
        via = request.POST.get("via", "")
        if via not in Consent.Channel.values:
            self.message_user(request, "Choose the channel the subject withdrew through.", messages.ERROR)
            return
        done, refused = 0, []
        for consent in queryset.select_related("subject"):
            try:
                consent_withdraw(consent=consent, via=via, actor=request.user)
                done += 1
            except ValidationError as exc:
                refused.append(
                    f"{consent.subject.reference} / {consent.purpose_id}: {' '.join(exc.messages)}"
                )
        if done:
            self.message_user(
                request, f"{done} consent(s) withdrawn; their recordings' access and retention follow."
            )
        for line in refused:
            self.message_user(request, line, messages.WARNING)

    def has_withdraw_permission(self, request) -> bool:
        return request.user.has_perm("recordings.withdraw_consent")


class ObjectionDecisionActionForm(ActionForm):
    reason = forms.CharField(required=False, label="Grounds", widget=forms.TextInput(attrs={"size": 60}))


@admin.register(Objection)
class ObjectionAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    subject_search_path = "subject"
    list_display = ("subject", "purpose", "received_at", "decision", "decided_at", "decided_by")
    list_filter = ("decision", "purpose")
    list_select_related = ("subject", "purpose", "decided_by")
    search_fields = ("=subject__reference",)
    raw_id_fields = ("subject",)
    fields = ("subject", "purpose", "received_at", "decision", "decided_at", "decided_by", "reason")
    action_form = ObjectionDecisionActionForm
    actions = ("uphold", "overrule")

    def get_queryset(self, request):
        return (
            super().get_queryset(request).filter(subject__in=subjects_visible_to(request.user).values("pk"))
        )

    def get_readonly_fields(self, request, obj=None):
        decided = ("decision", "decided_at", "decided_by", "reason")
        return (*self.fields[:3], *decided) if obj is not None else decided

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            # A pending objection stops the purpose at once (Art. 21(1)): retention follows.
            grounds_changed_announce(subject_id=obj.subject_id, purpose_id=obj.purpose_id)

    def _decide(self, request, queryset, decision: str) -> None:
        reason = request.POST.get("reason", "")
        for objection in queryset.select_related("subject"):
            try:
                objection_decide(objection=objection, decision=decision, actor=request.user, reason=reason)
                self.message_user(request, f"{objection.subject.reference}: {decision}.")
            except ValidationError as exc:
                self.message_user(
                    request, f"{objection.subject.reference}: {' '.join(exc.messages)}", messages.ERROR
                )

    @admin.action(description="Uphold: stop the purpose for the subject", permissions=["change"])
    def uphold(self, request, queryset):
        self._decide(request, queryset, Objection.Decision.UPHELD)

    @admin.action(description="Overrule: compelling legitimate grounds (give them)", permissions=["change"])
    def overrule(self, request, queryset):
        self._decide(request, queryset, Objection.Decision.OVERRULED)
