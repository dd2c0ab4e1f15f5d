"""Admin for ad-hoc grants on one recording: a reason and an expiry, never guardian's open page."""

from __future__ import annotations

from typing import cast

from django import forms
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.models import User
from compliance_site.roles import QA_LEAD
from recordings.models import (
    RecordingUserObjectPermission,
)


class RecordingGrantForm(forms.ModelForm):
    class Meta:
        model = RecordingUserObjectPermission
        fields = ("user", "content_object", "reason", "expires_at")
        labels = {"content_object": "Recording"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = True
        if "user" in self.fields:  # read-only (absent) once the grant exists: its page and versions
            user_field = cast(forms.ModelChoiceField, self.fields["user"])
            qa_leads = User.objects.filter(is_active=True, groups__name=QA_LEAD)
            user_field.queryset = qa_leads.order_by("username")

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now() and not self.instance.pk:
            raise ValidationError("A new grant must expire in the future.")
        return expires_at

    def save(self, commit=True):
        self.instance.permission = Permission.objects.get(
            content_type__app_label="recordings", codename="review_recording"
        )
        return super().save(commit)


@admin.register(RecordingUserObjectPermission)
class RecordingGrantAdmin(ScopedHistoryAdmin):
    """Ad-hoc grants of one recording to one QA lead: with a reason and an expiry, revoked by
    ending them now (the row and its history stay)."""

    form = RecordingGrantForm
    list_display = ("content_object", "user", "reason", "expires_at", "is_current")
    list_select_related = ("content_object", "user")
    list_filter = (("expires_at", admin.EmptyFieldListFilter),)
    search_fields = ("=content_object__reference", "=user__username")
    raw_id_fields = ("content_object",)
    actions = ("revoke",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(permission__codename="review_recording")

    def get_readonly_fields(self, request, obj=None):
        return ("user", "content_object") if obj is not None else ()

    @admin.display(boolean=True, description="current")
    def is_current(self, grant) -> bool:
        return grant.expires_at is None or grant.expires_at > timezone.now()

    @admin.action(description="Revoke the selected grants now", permissions=["change"])
    def revoke(self, request, queryset):
        now = timezone.now()
        revoked = 0
        for grant in queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)):
            grant.expires_at = now
            grant.save(update_fields=["expires_at"])  # through the model: the revocation is in history
            revoked += 1
        self.message_user(request, f"{revoked} grant(s) revoked.")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
