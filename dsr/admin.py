"""The DPO's desk: data-subject requests with their deadlines, notes and reminders."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db.models import Case, Value, When
from django.db.models.functions import Coalesce
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from compliance_site.admin_history import ScopedHistoryAdmin
from compliance_site.admin_links import PermittedLinksAdminMixin, openable_ids
from compliance_site.audit.admin import admin_access_record
from compliance_site.audit.models import AccessAction
from compliance_site.client_address import client_ip
from compliance_site.model_update import history_save
from dsr.admin_actions import job_display, job_state_view, step_view, steps_available
from dsr.admin_held_erasures import HeldErasureAdmin  # noqa: F401 - registers the deferred erasures' list
from dsr.admin_letters import letter_urls, letters_display
from dsr.dashboard import DEADLINE_FILTER_RANGES, reminder_undelivered
from dsr.deadline_words import deadline_in_words
from dsr.held_erasures import held_erasures_story
from dsr.models import DataSubjectRequest, DeadlineReminder, RecipientNotification, RequestNote
from dsr.packages import package_link_rows
from dsr.response_delivery import delivery_summary
from dsr.selectors import notes_visible_to, reminders_visible_to, requests_visible_to, subject_overview
from dsr.services import receipt_validate, request_create
from dsr.stages import STAGE_STATE_LABELS, progress
from dsr.workflow import notification_record_sent
from recordings.admin.search import ReferenceSearchMixin
from recordings.admin.subjects import DataSubjectAdmin
from recordings.models import DataSubject, Recording
from recordings.vault.horizon import erasure_horizon

Status = DataSubjectRequest.Status


class DeadlineFilter(admin.SimpleListFilter):
    """Open requests by days left, counted in dates as ``days_left`` and the index dashboard count
    them: "overdue" is a deadline date before today, so a request due today is never overdue."""

    title = "deadline"
    parameter_name = "deadline"
    ranges = {days_left_range.key: days_left_range for days_left_range in DEADLINE_FILTER_RANGES}

    def lookups(self, request, model_admin):
        return [(key, days_left_range.label) for key, days_left_range in self.ranges.items()]

    def queryset(self, request, queryset):
        value = self.value()
        days_left_range = self.ranges.get(value) if value is not None else None
        if days_left_range is None:
            return queryset
        return queryset.filter(days_left_range.q(timezone.now()))


class ReminderDeliveryFilter(admin.SimpleListFilter):
    """Requests with a reminder given up after its last attempt (the dashboard's alert links here)."""

    title = "reminders"
    parameter_name = "reminders"

    def lookups(self, request, model_admin):
        return [("undelivered", "Not delivered")]

    def queryset(self, request, queryset):
        if self.value() == "undelivered":
            return queryset.filter(reminder_undelivered())
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
    """The request's reminders with their delivery state (``dsr.reminders``' outbox)."""

    model = DeadlineReminder
    fields = (
        "kind",
        "due_date",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "recipients",
        "sent_at",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RecipientNotificationInline(admin.TabularInline):
    """Art. 19 notices owed after a rectification, erasure or restriction; marked sent with the
    action on the notifications list."""

    model = RecipientNotification
    fields = ("recipient", "notified_at", "notified_by", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class RequestIntakeForm(forms.ModelForm):
    class Meta:
        model = DataSubjectRequest
        fields = ("request_type", "channel", "language", "received_at", "subject", "assignee")

    def clean_received_at(self):
        received_at = self.cleaned_data["received_at"]
        receipt_validate(received_at)
        return received_at


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(PermittedLinksAdminMixin, ReferenceSearchMixin, ScopedHistoryAdmin):
    subject_search_path = "subject"
    # Linked only for a viewer who may open the subject's or the user's page (else a 403).
    permitted_link_fields = ("subject", "assignee")
    list_display = (
        "reference",
        "request_type",
        "status",
        "deadline_display",
        "days_left_display",
        "assignee",
    )
    list_filter = (DeadlineFilter, ReminderDeliveryFilter, "status", "request_type", "channel")
    list_select_related = ("assignee",)
    search_fields = ("=reference", "=subject__reference")
    raw_id_fields = ("subject", "assignee")
    inlines = (RequestNoteInline, RecipientNotificationInline, DeadlineReminderInline)
    date_hierarchy = "received_at"
    # Everything that carries the law (status, deadline, identity, outcome) changes only through
    # the workflow steps (dsr.admin_actions → dsr.workflow); the form keeps the bookkeeping.
    readonly_fields = (
        "workflow_progress",
        "workflow_steps",
        "reference",
        "request_type",
        "status",
        "job_progress",
        "subject",
        "assignee",
        "received_at",
        "deadline_in_words",
        "due_at",
        "extended_until",
        "extension_reason",
        "reminder_alert",
        "identity_method",
        "identity_note",
        "identity_verified_by",
        "identity_verified_at",
        "outcome",
        "refusal_ground",
        "exemption",
        "prepared_by",
        "approved_by",
        "approved_at",
        "executed_at",
        "erasure_horizon_display",
        "closed_at",
        "created_at",
        "subject_overview",
        "letters_display",
        "package_links",
        "held_erasures_display",
    )
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "workflow_progress",
                    "workflow_steps",
                    "reference",
                    "request_type",
                    "channel",
                    "language",
                    "status",
                    "job_progress",
                )
            },
        ),
        ("Subject", {"fields": ("subject", "subject_overview")}),
        ("Assignment", {"fields": ("assignee",)}),
        (
            "Deadline",
            {
                "fields": (
                    "received_at",
                    "deadline_in_words",
                    "due_at",
                    "extended_until",
                    "extension_reason",
                    "reminder_alert",
                )
            },
        ),
        (
            "Identity",
            {"fields": ("identity_method", "identity_note", "identity_verified_by", "identity_verified_at")},
        ),
        (
            "Outcome",
            {
                "fields": (
                    "outcome",
                    "refusal_ground",
                    "exemption",
                    "prepared_by",
                    "approved_by",
                    "approved_at",
                    "executed_at",
                    "erasure_horizon_display",
                    "closed_at",
                    "created_at",
                )
            },
        ),
        ("Letters to the subject", {"fields": ("letters_display",)}),
        ("Packages (Art. 15, 20)", {"fields": ("package_links",)}),
        ("Erasures deferred by a legal hold", {"fields": ("held_erasures_display",)}),
    )

    class Media:
        # Refreshes the job's line while a worker carries the request out (no inline script: CSP).
        js = ("custos/request-jobs.js",)

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/step/<slug:step_name>/",
                self.admin_site.admin_view(self.step_view),
                name="dsr_datasubjectrequest_step",
            ),
            path(
                "<path:object_id>/job/",
                self.admin_site.admin_view(self.job_state_view),
                name="dsr_datasubjectrequest_job",
            ),
        ]
        return urls + letter_urls(self) + super().get_urls()

    def step_view(self, request, object_id, step_name):
        return step_view(self, request, object_id, step_name)

    def job_state_view(self, request, object_id):
        return job_state_view(self, request, object_id)

    @admin.display(description="Work on a worker")
    def job_progress(self, obj: DataSubjectRequest):
        job, summary = job_display(obj)
        if job is None:
            return "—"
        return format_html(
            '<span class="dsr-job dsr-job-{}" data-job-url="{}" data-job-state="{}">{}</span>',
            job.state,
            reverse("admin:dsr_datasubjectrequest_job", args=[obj.pk]),
            job.state,
            summary,
        )

    @admin.display(description="Next steps")
    def workflow_steps(self, obj: DataSubjectRequest):
        viewer = getattr(obj, "_viewer", None)
        steps = steps_available(obj, viewer) if viewer is not None else []
        if not steps:
            return "—" if obj.is_open else "Closed."

        def links(danger: bool):
            return format_html_join(
                " ",
                '<a class="button{}" href="{}">{}</a>',
                (
                    (
                        " dsr-step-danger" if danger else "",
                        reverse("admin:dsr_datasubjectrequest_step", args=[obj.pk, s.name]),
                        s.title,
                    )
                    for s in steps
                    if s.danger == danger
                ),
            )

        ending = [s for s in steps if s.danger]
        if not ending:
            return links(False)
        return format_html('{} <span class="dsr-steps-danger">{}</span>', links(False), links(True))

    @admin.display(description="Progress")
    def workflow_progress(self, obj: DataSubjectRequest):
        rows = progress(obj, four_eyes=settings.DSR_ERASURE_FOUR_EYES)
        items = format_html_join(
            "",
            '<li class="dsr-stage dsr-stage-{}" data-stage="{}" title="{}">{} {}</li>',
            ((r.state, r.key, STAGE_STATE_LABELS[r.state], r.number, r.label) for r in rows),
        )
        delivery = delivery_summary(obj)
        ending = f"{obj.get_status_display()}." if obj.status in (Status.REFUSED, Status.WITHDRAWN) else ""
        return format_html(
            '<ol class="dsr-progress">{}</ol>{}{}',
            items,
            format_html('<p class="dsr-progress-ending">{}</p>', ending) if ending else "",
            format_html('<p class="dsr-delivery">{}</p>', delivery) if delivery else "",
        )

    @admin.display(description="What we hold")
    def subject_overview(self, obj: DataSubjectRequest):
        if obj.subject is None:
            return "Not matched yet: use “Match the requester to a subject”."
        overview = subject_overview(obj.subject, exclude_request=obj)
        viewer = getattr(obj, "_viewer", None)
        # Each line links only where the viewer may follow (an analyst sees no recording page).
        links = {
            "subject_linked": bool(openable_ids(viewer, DataSubject, [obj.subject_id])),
            "recording_links": openable_ids(viewer, Recording, [r.pk for r in overview.recordings]),
            "request_links": openable_ids(viewer, DataSubjectRequest, [q.pk for q in overview.requests]),
        }
        return render_to_string(
            "admin/dsr/datasubjectrequest/subject_overview.html", {"o": overview, **links}
        )

    @admin.display(description="Erasure complete")
    def erasure_horizon_display(self, obj: DataSubjectRequest):
        """Where an erasure has reached: live data at once; backups, WAL archives and dead rows once
        the master-key versions that could open them are destroyed (recordings.vault.horizon)."""
        if obj.request_type != "erasure" or obj.executed_at is None:
            return "—"
        live = timezone.localtime(obj.executed_at)
        backups = timezone.localdate(erasure_horizon(obj.executed_at))
        return f"in live data since {live:%Y-%m-%d %H:%M}; in backups by {backups:%Y-%m-%d}"

    @admin.display(description="Letters")
    def letters_display(self, obj: DataSubjectRequest):
        return letters_display(obj)

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
        return super().get_fieldsets(request, obj)  # the links' rule (PermittedLinksAdminMixin)

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        fields = tuple(super().get_readonly_fields(request, obj))
        if not obj.is_open:
            # A closed request's letters are written: its channel and language are history now.
            fields += tuple(name for name in ("channel", "language") if name not in fields)
        return fields

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def save_model(self, request, obj, form, change):
        if change:
            history_save(obj, actor=request.user, update_fields=["channel", "language"])
            return
        created = request_create(
            request_type=obj.request_type,
            channel=obj.channel,
            received_at=obj.received_at,
            subject=obj.subject,
            assignee=obj.assignee,
            language=obj.language,
            actor=request.user,
            client_ip=client_ip(request),
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

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        context = response.context_data if isinstance(response, TemplateResponse) else None
        shown = context.get("original") if context is not None else None
        if shown is not None and shown.subject_id is not None:
            # "What we hold" lists the subject's recordings, consents, grants, holds and requests.
            admin_access_record(
                request,
                action=AccessAction.VIEW,
                object_type="subject",
                obj=shown.subject,
                page="dsr_request",
                detail={"request": shown.reference},
            )
        return response

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._viewer = request.user  # package links are signed for the user who sees the page
        return obj

    @admin.display(description="packages")
    def package_links(self, obj: DataSubjectRequest):
        viewer = getattr(obj, "_viewer", None)
        rows = package_link_rows(dsr=obj, user=viewer) if viewer is not None else []
        if not rows:
            return "—"
        items = []
        for package, url, state in rows:
            if url is None:
                items.append(format_html("<li>{} ({})</li>", package.name, state))
                continue
            items.append(
                format_html(
                    '<li><a href="{}">{}</a>: {} recording(s), {} bytes, expires {}, downloaded {} '
                    "time(s). The link works for you for 15 minutes.</li>",
                    url,
                    package.name,
                    package.recordings,
                    f"{package.size_bytes:,}",
                    f"{timezone.localtime(package.expires_at):%Y-%m-%d}",
                    package.downloaded_count,
                )
            )
        return format_html("<ul>{}</ul>", format_html_join("", "{}", ((item,) for item in items)))

    @admin.display(description="deferred erasures")
    def held_erasures_display(self, obj: DataSubjectRequest):
        lines = held_erasures_story(obj.reference)
        if not lines:
            return "—"
        return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((line,) for line in lines)))

    @admin.display(description="Reminders")
    def reminder_alert(self, obj: DataSubjectRequest):
        """The flag of a reminder given up after its last attempt: the assignee may not know."""
        given_up = list(obj.reminders.filter(state=DeadlineReminder.State.GIVEN_UP).order_by("pk"))
        if not given_up:
            return "—"
        kinds = ", ".join(f"{r.kind} (due {r.due_date:%Y-%m-%d}, {r.attempts} attempts)" for r in given_up)
        return format_html(
            '<strong class="dsr-reminder-undelivered">Not delivered: {}.</strong> The DPO group was '
            "alerted; check that the assignee knows.",
            kinds,
        )

    @admin.display(description="Deadline in force")
    def deadline_in_words(self, obj: DataSubjectRequest):
        return deadline_in_words(obj)

    @admin.display(description="deadline", ordering="deadline")
    def deadline_display(self, obj: DataSubjectRequest):
        return obj.effective_due_at

    @admin.display(description="days left")
    def days_left_display(self, obj: DataSubjectRequest):
        if not obj.is_open:
            return "—"
        days = obj.days_left()
        # Colours in custos/admin.css: the content security policy allows no style attribute.
        urgency = "overdue" if days < 0 else "soon" if days <= 7 else "ok"
        label = f"{-days} overdue" if days < 0 else "due today" if days == 0 else str(days)
        return format_html('<strong class="days-left-{}">{}</strong>', urgency, label)


# The subject's page links to their requests (recordings knows nothing of dsr).
DataSubjectAdmin.related_list_register(DataSubjectRequest, "Requests")


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
    list_display = (
        "request",
        "kind",
        "due_date",
        "state",
        "attempts",
        "next_attempt_at",
        "last_error",
        "sent_at",
    )
    list_filter = ("state", "kind")
    list_select_related = ("request",)
    search_fields = ("=request__reference",)

    def get_queryset(self, request):
        return reminders_visible_to(request.user).select_related("request")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RecipientNotification)
class RecipientNotificationAdmin(ReferenceSearchMixin, ScopedHistoryAdmin):
    list_display = ("request", "recipient", "notified_at", "notified_by", "note")
    list_filter = (("notified_at", admin.EmptyFieldListFilter), "recipient")
    list_select_related = ("request", "recipient", "notified_by")
    search_fields = ("=request__reference",)
    readonly_fields = ("request", "recipient", "notified_at", "notified_by")
    fields = ("request", "recipient", "notified_at", "notified_by", "note")
    actions = ("mark_notified",)

    def get_queryset(self, request):
        return (
            super().get_queryset(request).filter(request__in=requests_visible_to(request.user).values("pk"))
        )

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Mark the selected notices as sent (Art. 19)", permissions=["change"])
    def mark_notified(self, request, queryset):
        sent = 0
        for notification in queryset.filter(notified_at__isnull=True):
            notification_record_sent(notification=notification, actor=request.user)
            sent += 1
        self.message_user(request, f"{sent} notice(s) recorded as sent.")
