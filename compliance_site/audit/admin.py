"""Access events for the admin pages that show a data subject's or a recording's data, and the
access log's own (read-only) admin.

One chained event per page shown, never one per row: the change page (``decrypt`` where the page
decrypts sealed fields, else ``view``), the object's history and each of its versions (history
rows of a subject hold its sealed fields, shown decrypted), and the changelist (``list``, with
the ids of the page's rows). The event is written when the page is about to be rendered, after
every permission and visibility check has passed, so a refused or missing object logs nothing.
Ids and pseudonymous references only: never a field's value, never the search term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib import admin
from django.db.models import Case, CharField, OuterRef, Subquery, Value, When
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from compliance_site.admin_readonly import ReadOnlyAdminMixin
from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.audit.services import access_event_record
from compliance_site.client_address import client_ip
from compliance_site.display import EMPTY, user_display
from compliance_site.pagination import EstimatedCountPaginator

if TYPE_CHECKING:

    class _Base(admin.ModelAdmin[Any]):
        """A ModelAdmin with simple-history's SimpleHistoryAdmin (which ships no types), the
        admins this mixin goes in front of; a plain class at run time."""

        object_history_form_template: str

        def render_history_view(
            self, request: HttpRequest, template: str, context: dict[str, Any], **kwargs: Any
        ) -> HttpResponse: ...

else:
    _Base = object

# How many ids one ``list`` event names; the admin's largest page ("Show all" is off).
LIST_IDS_MAX = 1000

# The objects whose reference the access log shows (by model label: the log sits below the apps
# and imports none of them).
REFERENCED_OBJECT_TYPES = {
    "recording": "recordings.Recording",
    "subject": "recordings.DataSubject",
    "request": "dsr.DataSubjectRequest",
}


def admin_access_record(
    request,
    *,
    action: str,
    object_type: str,
    obj=None,
    page: str,
    detail: dict[str, Any] | None = None,
):
    """One event for one admin page shown to ``request.user``."""
    return access_event_record(
        action=action,
        object_type=object_type,
        object_id=obj.pk if obj is not None else None,
        object_reference=getattr(obj, "reference", "") if obj is not None else "",
        actor=request.user,
        detail={"page": page, **(detail or {})},
        client_ip=client_ip(request),
    )


class AccessLoggedAdminMixin(_Base):
    """For the admins of subjects and recordings (before ``ScopedHistoryAdmin`` in the bases)."""

    access_object_type: str = ""
    # What showing the object decrypts: ``decrypt`` for the subject (its sealed fields).
    access_change_action: str = AccessAction.VIEW

    def access_change_event(self, request, obj, context: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The action and extra detail of the change page's event, from the page's context (what
        it showed: a page that decrypted says so)."""
        return self.access_change_action, {}

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = response.context_data if isinstance(response, TemplateResponse) else None
        cl = context.get("cl") if context is not None else None
        if cl is not None:
            # Iterating the page's queryset fills its cache: the template reuses these rows.
            ids = [row.pk for row in cl.result_list][:LIST_IDS_MAX]
            if ids:
                admin_access_record(
                    request,
                    action=AccessAction.LIST,
                    object_type=self.access_object_type,
                    page="changelist",
                    detail={"ids": ids, "page_number": cl.page_num},
                )
        return response

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        context = response.context_data if isinstance(response, TemplateResponse) else None
        obj = context.get("original") if context is not None else None
        if context is not None and obj is not None:
            action, detail = self.access_change_event(request, obj, context)
            admin_access_record(
                request,
                action=action,
                object_type=self.access_object_type,
                obj=obj,
                page="change",
                detail=detail,
            )
        return response

    def render_history_view(self, request, template, context, **kwargs):
        # simple-history renders eagerly: the event goes first, then the page.
        if template == self.object_history_form_template:
            obj = context["original"]
            version = getattr(obj, "_history", None)
            admin_access_record(
                request,
                action=self.access_change_action,
                object_type=self.access_object_type,
                obj=obj,
                page="history_version",
                detail={"history_id": version.history_id if version is not None else None},
            )
        else:
            admin_access_record(
                request,
                action=AccessAction.VIEW,
                object_type=self.access_object_type,
                obj=context["object"],
                page="history",
            )
        return super().render_history_view(request, template, context, **kwargs)


@admin.register(AccessEvent)
class AccessEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The access log, read by the DPO and the auditor; nobody writes it here, superusers included:
    events come only from ``access_event_record``, and ``manage.py verify_audit_log`` checks them."""

    list_display = ("sequence", "occurred_at", "actor_display", "action", "object_display", "purpose")
    list_filter = ("action", "object_type")
    list_select_related = ("actor",)
    # Pseudonymous references and usernames, exactly: the log holds nothing else to search.
    search_fields = ("=object_reference", "=actor_label")
    readonly_fields = (
        "sequence",
        "occurred_at",
        "actor",
        "actor_label",
        "action",
        "object_type",
        "object_id",
        "object_reference",
        "purpose",
        "detail",
        "client_ip",
        "prev_hash",
        "hash",
    )
    fields = readonly_fields
    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def get_queryset(self, request):
        # An event written without its reference (older ones) gets it from its object, by one
        # subquery per row of the page: never a query per row from Python.
        queryset = super().get_queryset(request)
        known = Case(
            *(
                When(
                    object_type=object_type,
                    then=Subquery(
                        apps.get_model(label)
                        ._default_manager.filter(pk=OuterRef("object_id"))
                        .values("reference")[:1]
                    ),
                )
                for object_type, label in REFERENCED_OBJECT_TYPES.items()
            ),
            default=Value(""),
            output_field=CharField(),
        )
        return queryset.annotate(looked_up_reference=known)

    @admin.display(description="actor", ordering="actor_label")
    def actor_display(self, event: AccessEvent) -> str:
        """The person's name and login, or the label of an integration or of the system."""
        return user_display(event.actor) if event.actor is not None else event.actor_label

    @admin.display(description="object")
    def object_display(self, event: AccessEvent) -> str:
        """REC-…, DSR-…, DS-… rather than a row id; a list event names how many rows it showed."""
        reference = event.object_reference or getattr(event, "looked_up_reference", "")
        if reference:
            return f"{event.object_type} {reference}"
        ids = event.detail.get("ids") if isinstance(event.detail, dict) else None
        if isinstance(ids, list):
            return f"{event.object_type} list ({len(ids)} rows)"
        if event.object_id is not None:
            return f"{event.object_type} (id {event.object_id})"
        return event.object_type or EMPTY
