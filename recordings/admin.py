"""Admin for subjects, queues, purposes, notices, assessments, recordings and consents."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from guardian.admin import GuardedModelAdminMixin

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.audit.admin import AccessLoggedAdminMixin
from compliance_site.audit.models import AccessAction
from compliance_site.bad_requests import ClearBadRequest
from compliance_site.models import User
from compliance_site.pagination import EstimatedCountPaginator
from compliance_site.roles import QA_LEAD
from recordings.admin_search import ReferenceSearchMixin
from recordings.admin_sensitive import SensitiveSegmentsAdminMixin
from recordings.admin_sharing import recipient_may_receive, subject_shares_html
from recordings.admin_transcript import TranscriptAdminMixin
from recordings.admin_upload import RecordingUploadAdminMixin
from recordings.models import (
    Consent,
    DataSubject,
    LegitimateInterestAssessment,
    Objection,
    Purpose,
    Queue,
    Recipient,
    Recording,
    RecordingNotice,
    RecordingUserObjectPermission,
    SubjectKey,
)
from recordings.playback_log import playback_token
from recordings.selectors import (
    consents_visible_to,
    purposes_lawful_for,
    queues_visible_to,
    recordings_playable_by,
    recordings_visible_to,
    subjects_visible_to,
)
from recordings.serializers import reference_problem
from recordings.services import consent_withdraw, objection_decide, subject_create
from recordings.vault import KeyDestroyedError, PersonalData, personal_data_read

# The evidence of a consent is fixed once captured (Art. 7(1)); only its withdrawal is added later.
CONSENT_WITHDRAWAL_FIELDS = ("withdrawn_at", "withdrawn_via", "withdrawn_by")
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


class DataSubjectCreateForm(forms.ModelForm):
    """A new subject: personal fields in clear here, sealed under a new subject key on save."""

    full_name = forms.CharField(max_length=200, required=False)
    phone = forms.CharField(
        max_length=40, required=False, help_text="With country code, e.g. +49 30 1234567."
    )
    email = forms.EmailField(required=False)

    class Meta:
        model = DataSubject
        fields = ("reference",)

    def clean_reference(self):
        reference = self.cleaned_data["reference"]
        problem = reference_problem(reference)
        if problem:
            raise ValidationError(problem)
        return reference

    def clean(self):
        cleaned = super().clean()
        personal = PersonalData(
            full_name=cleaned.get("full_name", ""),
            phone=cleaned.get("phone", ""),
            email=cleaned.get("email", ""),
        )
        try:
            cleaned["personal"] = personal.normalised()
        except ValidationError as exc:
            self.add_error("phone" if exc.code == "invalid_phone" else "email", exc)
        return cleaned


@admin.register(DataSubject)
class DataSubjectAdmin(AccessLoggedAdminMixin, ReferenceSearchMixin, ScopedHistoryAdmin):
    # Its page, each history version and the list are access events; the page and the versions
    # decrypt the subject's personal fields (compliance_site.audit.admin).
    access_object_type = "subject"
    access_change_action = AccessAction.DECRYPT
    list_display = ("reference", "created_at")
    # Search by reference, or by phone/email through the blind index: never in clear.
    search_fields = ("=reference",)
    subject_search_path = ""
    readonly_fields = ("reference", "full_name", "phone", "email", "key_state", "created_at", "shares")
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        return subjects_visible_to(request.user)

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = DataSubjectCreateForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("reference", "full_name", "phone", "email")
        return self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else ()

    @admin.display(description="Shares with recipients")
    def shares(self, subject):
        return subject_shares_html(subject)

    def save_model(self, request, obj, form, change):
        if change:
            return  # personal fields change through rectification (a DSR), not this form
        created, _ = subject_create(personal=form.cleaned_data["personal"], reference=obj.reference)
        obj.pk, obj.reference, obj.created_at = created.pk, created.reference, created.created_at
        obj._state.adding = False

    def _personal(self, obj: DataSubject) -> PersonalData | None:
        cache = getattr(obj, "_personal_cache", None)
        if cache is None:
            try:
                cache = personal_data_read(obj)
            except KeyDestroyedError:
                cache = PersonalData(full_name="(erased)", phone="(erased)", email="(erased)")
            obj._personal_cache = cache
        return cache

    @admin.display(description="full name")
    def full_name(self, obj):
        return self._personal(obj).full_name

    @admin.display(description="phone (E.164)")
    def phone(self, obj):
        return self._personal(obj).phone

    @admin.display(description="email")
    def email(self, obj):
        return self._personal(obj).email

    @admin.display(description="subject key")
    def key_state(self, obj):
        key = SubjectKey.objects.filter(subject=obj).first()
        if key is None:
            return "none"
        return (
            f"destroyed {key.destroyed_at:%Y-%m-%d}"
            if key.destroyed_at
            else f"live (master {key.master_version})"
        )


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


@admin.register(Recipient)
class RecipientAdmin(ScopedHistoryAdmin):
    list_display = ("name", "role", "country", "dpa_signed", "transfer_ground", "may_receive")
    list_filter = ("role", "country", "dpa_signed", "transfer_ground", "purposes")
    search_fields = ("name",)
    filter_horizontal = ("purposes",)

    @admin.display(description="may receive")
    def may_receive(self, recipient) -> str:
        return recipient_may_receive(recipient)


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


class ConsentWithdrawalActionForm(ActionForm):
    via = forms.ChoiceField(
        choices=[("", "Withdrawn through…"), *Consent.Channel.choices], required=False, label="Channel"
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


class RecordingGrantForm(forms.ModelForm):
    class Meta:
        model = RecordingUserObjectPermission
        fields = ("user", "content_object", "reason", "expires_at")
        labels = {"content_object": "Recording"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].required = True
        if "user" in self.fields:  # read-only (absent) once the grant exists: its page and versions
            self.fields["user"].queryset = User.objects.filter(is_active=True, groups__name=QA_LEAD).order_by(
                "username"
            )

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
