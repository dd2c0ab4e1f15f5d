"""The DPO's desk: data-subject requests with their deadlines, notes and reminders."""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin
from django.db.models import Case, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.html import format_html

from compliance_site.admin_history import ScopedHistoryAdmin
from dsr.models import DataSubjectRequest, DeadlineReminder, RequestNote
from dsr.selectors import notes_visible_to, reminders_visible_to, requests_visible_to
from dsr.services import receipt_validate, request_create, request_update
from recordings.admin_search import ReferenceSearchMixin


class DeadlineFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "deadline"

    def lookups(self, request, model_admin):
        return (("overdue", "Overdue"), ("this_week", "Due within 7 days"))

    def queryset(self, request, queryset):
        now = timezone.now()
        open_requests = queryset.filter(status__in=DataSubjectRequest.OPEN_STATUSES)
        if self.value() == "overdue":
            return open_requests.filter(deadline__lt=now)
        if self.value() == "this_week":
            return open_requests.filter(deadline__gte=now, deadline__lt=now + datetime.timedelta(days=7))
        return queryset


class RequestNoteInline(admin.StackedInline):
    model = RequestNote
    fields = ("body", "author", "created_at")
    readonly_fields = ("author", "created_at")
    extra = 0
    can_delete = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a note is a record of what happened; add a new one to correct it


class DeadlineReminderInline(admin.TabularInline):
    model = DeadlineReminder
    fields = ("kind", "due_date", "recipients", "sent_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RequestIntakeForm(forms.ModelForm):
    class Meta:
        model = DataSubjectRequest
        fields = ("request_type", "channel", "received_at", "subject", "assignee")

    def clean_received_at(self):
        received_at = self.cleaned_data["received_at"]
        receipt_validate(received_at)
        return received_at


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    subject_search_path = "subject"
    list_display = (
        "reference",
        "request_type",
        "status",
        "deadline_display",
        "days_left_display",
        "assignee",
    )
    list_filter = (DeadlineFilter, "status", "request_type", "channel")
    list_select_related = ("assignee",)
    search_fields = ("=reference", "=subject__reference")
    raw_id_fields = ("subject", "assignee")
    inlines = (RequestNoteInline, DeadlineReminderInline)
    date_hierarchy = "received_at"
    readonly_fields = (
        "reference",
        "received_at",
        "due_at",
        "extended_until",
        "extension_reason",
        "identity_verified_by",
        "identity_verified_at",
        "closed_at",
        "created_at",
    )
    fieldsets = (
        (None, {"fields": ("reference", "request_type", "channel", "subject", "status", "assignee")}),
        ("Deadline", {"fields": ("received_at", "due_at", "extended_until", "extension_reason")}),
        (
            "Identity",
            {"fields": ("identity_method", "identity_note", "identity_verified_by", "identity_verified_at")},
        ),
        ("Outcome", {"fields": ("outcome", "refusal_ground", "closed_at", "created_at")}),
    )

    def get_queryset(self, request):
        # Most urgent first: the deadline in force, whether original or extended.
        return requests_visible_to(request.user).annotate(deadline=Coalesce("extended_until", "due_at"))

    def get_ordering(self, request):
        # Open requests first, nearest deadline first. Expressions, not the annotation: related
        # field widgets order a plain queryset by this too.
        still_open = Case(When(status__in=DataSubjectRequest.OPEN_STATUSES, then=Value(0)), default=Value(1))
        return (still_open.asc(), Coalesce("extended_until", "due_at").asc(), "pk")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = RequestIntakeForm
            kwargs["fields"] = RequestIntakeForm.Meta.fields
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": RequestIntakeForm.Meta.fields}),)
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            request_update(request=obj)
            return
        created = request_create(
            request_type=obj.request_type,
            channel=obj.channel,
            received_at=obj.received_at,
            subject=obj.subject,
            assignee=obj.assignee,
        )
        # The admin goes on to log and redirect with the instance it holds.
        obj.pk, obj.reference, obj.due_at = created.pk, created.reference, created.due_at
        obj._state.adding = False

    def save_formset(self, request, form, formset, change):
        notes = formset.save(commit=False)
        for note in notes:
            if isinstance(note, RequestNote) and note.pk is None:
                note.author = request.user
            note.save()
        formset.save_m2m()

    @admin.display(description="deadline", ordering="deadline")
    def deadline_display(self, obj: DataSubjectRequest):
        return obj.effective_due_at

    @admin.display(description="days left")
    def days_left_display(self, obj: DataSubjectRequest):
        if not obj.is_open:
            return "—"
        days = obj.days_left()
        colour = "#ba2121" if days < 0 else "#c77c00" if days <= 7 else "#2e7d32"
        label = f"{-days} overdue" if days < 0 else "due today" if days == 0 else str(days)
        return format_html('<strong style="color: {}">{}</strong>', colour, label)


@admin.register(RequestNote)
class RequestNoteAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    list_display = ("request", "author", "created_at")
    list_select_related = ("request", "author")
    search_fields = ("=request__reference",)
    raw_id_fields = ("request",)
    readonly_fields = ("author", "created_at")

    def get_queryset(self, request):
        return notes_visible_to(request.user).select_related("request", "author")

    def save_model(self, request, obj, form, change):
        if not change:
            obj.author = request.user
        super().save_model(request, obj, form, change)


@admin.register(DeadlineReminder)
class DeadlineReminderAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    list_display = ("request", "kind", "due_date", "recipients", "sent_at")
    list_filter = ("kind",)
    list_select_related = ("request",)
    search_fields = ("=request__reference",)

    def get_queryset(self, request):
        return reminders_visible_to(request.user).select_related("request")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
