"""Admin for data subjects and the reference tables of recordings: queues, purposes, recipients,
notices and legitimate-interest assessments."""

from __future__ import annotations

from typing import ClassVar

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.html import format_html_join
from guardian.admin import GuardedModelAdminMixin

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_links import PermittedLinksAdminMixin, permitted_changelist_url
from compliance_site.audit.admin import AccessLoggedAdminMixin
from compliance_site.audit.models import AccessAction
from compliance_site.pagination import EstimatedCountPaginator
from recordings.admin.search import ReferenceSearchMixin
from recordings.admin.sharing import recipient_may_receive, subject_shares_html
from recordings.intake.serializers import reference_problem
from recordings.models import (
    Consent,
    DataSubject,
    LegitimateInterestAssessment,
    Purpose,
    Queue,
    Recipient,
    Recording,
    RecordingNotice,
    Share,
    SubjectKey,
)
from recordings.selectors import (
    subjects_visible_to,
)
from recordings.services import subject_create
from recordings.vault.keys import KeyDestroyedError, PersonalData, personal_data_read


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
        super().clean()
        cleaned = self.cleaned_data
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
class DataSubjectAdmin(
    PermittedLinksAdminMixin, AccessLoggedAdminMixin, ReferenceSearchMixin, ScopedHistoryAdmin
):
    # Its page, each history version and the list are access events; the page and the versions
    # decrypt the subject's personal fields (compliance_site.audit.admin).
    access_object_type = "subject"
    access_change_action = AccessAction.DECRYPT
    list_display = ("reference", "created_at")
    # Search by reference, or by phone/email through the blind index: never in clear.
    search_fields = ("=reference",)
    subject_search_path = ""
    readonly_fields = (
        "reference",
        "full_name",
        "phone",
        "email",
        "key_state",
        "created_at",
        "related_lists",
        "shares",
    )
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

    # Lists of what concerns a subject, each searched by the subject's reference: (model, label).
    # Apps above recordings add theirs (dsr: the requests) with ``related_list_register``.
    related_lists_shown: ClassVar[list[tuple[type[models.Model], str]]] = [
        (Recording, "Recordings"),
        (Consent, "Consents"),
        (Share, "Shares"),
    ]

    @classmethod
    def related_list_register(cls, model: type[models.Model], label: str) -> None:
        if all(registered is not model for registered, _label in cls.related_lists_shown):
            cls.related_lists_shown.append((model, label))

    @admin.display(description="Related")
    def related_lists(self, subject):
        """The subject's recordings, consents, requests and shares: links to those lists, searched
        by the subject's reference, for the lists the viewer may open."""
        viewer = getattr(subject, "_link_viewer", None)
        links = [
            (url, label)
            for model, label in self.related_lists_shown
            if (url := permitted_changelist_url(viewer, model, q=subject.reference))
        ]
        if not links:
            return "—"
        return format_html_join(" · ", '<a class="subject-related" href="{}">{}</a>', links)

    @admin.display(description="Shares with recipients")
    def shares(self, subject):
        return subject_shares_html(subject)

    def save_model(self, request, obj, form, change):
        if change:
            return  # personal fields change through rectification (a DSR), not this form
        created, _ = subject_create(personal=form.cleaned_data["personal"], reference=obj.reference)
        obj.pk, obj.reference, obj.created_at = created.pk, created.reference, created.created_at
        obj._state.adding = False

    def _personal(self, obj: DataSubject) -> PersonalData:
        cache: PersonalData | None = getattr(obj, "_personal_cache", None)
        if cache is None:
            try:
                cache = personal_data_read(obj)
            except KeyDestroyedError:
                cache = PersonalData(full_name="(erased)", phone="(erased)", email="(erased)")
            obj._personal_cache = cache  # type: ignore[attr-defined]  # a cache on the row, for its three columns
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
# guardian types change_form_template as an instance str, the stubs as a ClassVar: both are a str here.
class QueueAdmin(GuardedModelAdminMixin, ScopedHistoryAdmin):  # type: ignore[misc]
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
