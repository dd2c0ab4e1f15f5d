"""Admin for shares: the DPO shares a recording with a recipient (on a ground), sees the link
once, and revokes it; the subject's page lists every share."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from compliance_site.admin_history import ScopedHistoryAdmin
from recordings.models import DataSubject, Recipient, Share
from recordings.sharing.services import recipient_problem, share_create, share_ground_problem, share_revoke
from recordings.sharing.views import share_link


class ShareForm(forms.ModelForm):
    class Meta:
        model = Share
        fields = ("recording", "recipient", "ground", "ground_note", "expires_at")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "expires_at" in self.fields:
            self.fields["expires_at"].initial = timezone.now() + datetime.timedelta(days=7)

    def clean(self):
        # The same checks share_create makes again under its lock, shown on the form.
        super().clean()
        data = self.cleaned_data
        recording, recipient = data.get("recording"), data.get("recipient")
        if recipient is not None and (problem := recipient_problem(recipient)):
            self.add_error("recipient", problem)
        if recording is not None and data.get("ground"):
            problem = share_ground_problem(
                recording=recording, ground=data["ground"], ground_note=data.get("ground_note", "")
            )
            if problem:
                self.add_error("ground", problem)
        expires_at = data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            self.add_error("expires_at", "A share must expire in the future.")
        return data


@admin.register(Share)
class ShareAdmin(ScopedHistoryAdmin):
    form = ShareForm
    list_display = (
        "recording",
        "recipient",
        "ground",
        "created_at",
        "expires_at",
        "revoked_at",
        "fetch_count",
    )
    list_filter = ("ground", "recipient", ("revoked_at", admin.EmptyFieldListFilter))
    list_select_related = ("recording", "recipient")
    search_fields = ("=recording__reference", "=recording__subject__reference")
    raw_id_fields = ("recording",)
    actions = ("revoke",)

    def get_queryset(self, request):
        if not request.user.has_perm("recordings.view_all_recordings"):
            return Share.objects.none()
        return super().get_queryset(request)

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm("recordings.share_recording")

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and request.user.has_perm("recordings.share_recording")  # revoke action only

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change):
        share, token = share_create(
            recording=obj.recording,
            recipient=obj.recipient,
            ground=obj.ground,
            ground_note=obj.ground_note,
            expires_at=obj.expires_at,
            actor=request.user,
        )
        obj.pk, obj.token_hash, obj.created_at = share.pk, share.token_hash, share.created_at
        obj._state.adding = False
        link = share_link(request, token)
        self.message_user(
            request,
            format_html(
                "Share created. Send this link to {} — it is shown only now: <code>{}</code>",
                share.recipient,
                link,
            ),
            messages.WARNING,
        )

    @admin.action(description="Revoke the selected shares now", permissions=["change"])
    def revoke(self, request, queryset):
        revoked = 0
        for share in queryset.filter(revoked_at__isnull=True):
            share_revoke(share=share, reason="revoked by the DPO", actor=request.user)
            revoked += 1
        self.message_user(request, f"{revoked} share(s) revoked.")


def subject_shares_html(subject: DataSubject) -> str:
    """Every share of the subject's recordings, for the subject's page."""
    shares = Share.objects.filter(recording__subject=subject).select_related("recording", "recipient")
    rows = [
        (
            share.recording.reference,
            share.recipient,
            share.get_ground_display(),
            f"{timezone.localtime(share.created_at):%Y-%m-%d}",
            "revoked" if share.revoked_at else f"until {timezone.localtime(share.expires_at):%Y-%m-%d}",
        )
        for share in shares
    ]
    if not rows:
        return "None."
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{} → {} ({}), {}, {}</li>", rows))


def recipient_may_receive(recipient: Recipient) -> str:
    return recipient_problem(recipient) or "yes"
