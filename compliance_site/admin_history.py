"""The history admin, limited to the objects the user may see.

django-simple-history's history view falls back to the last history row when an object is not
in the admin's queryset, which would show a QA lead the history of a recording outside their
grant. Here the history of an object is shown only where the object itself is.

An object outside the user's queryset is not found (404) on every page of it, exactly like one
that never existed, as the audio endpoint answers too. A past version is shown, never saved back:
its page refuses POST (403) to everyone.

The list of changes reads as the rest of the admin does (``compliance_site.display``): choice
labels, related objects by reference, "—" for an empty value (simple-history writes "Deleted
user (pk=None)"), times in ``TIME_ZONE`` to the minute; who made a change is a link only for a
viewer who may open that user's page.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin
from simple_history.models import DeletedObject, ModelChange
from simple_history.template_utils import HistoricalRecordContextHelper

from compliance_site.admin_choices import VisibleChoicesAdminMixin
from compliance_site.display import EMPTY, field_value_display


def _readable(field, value: Any) -> str:
    if isinstance(value, DeletedObject):
        # No earlier value (pk None), or an object since deleted: its id is all that is left.
        return EMPTY if value.pk is None else f"deleted {value.model._meta.verbose_name} (id {value.pk})"
    if isinstance(value, list):
        return ", ".join(_readable(None, item) for item in value) or EMPTY
    return field_value_display(field, value)


class LabelledHistoryContextHelper(HistoricalRecordContextHelper):
    """A change's old and new values as a reader sees them (see the module's docstring)."""

    def prepare_delta_change_value(self, change: ModelChange, value: Any) -> Any:
        prepared = super().prepare_delta_change_value(change, value)
        return _readable(self.model._meta.get_field(change.field), prepared)


def _valid_key(field, value: str):
    """``value`` as the field's Python value, or 404: a path segment like ``1e5`` or ``abc`` is
    no object (Django's change view answers the same), never a ValueError from the query."""
    try:
        return field.to_python(value)
    except (ValidationError, ValueError, TypeError) as exc:
        raise Http404 from exc


class ScopedHistoryAdmin(VisibleChoicesAdminMixin, SimpleHistoryAdmin):
    object_history_list_template = "admin/custos/object_history_list.html"

    def get_historical_record_context_helper(self, request, historical_record):
        return LabelledHistoryContextHelper(self.model, historical_record)

    def _require_visible(self, request, object_id: str) -> str:
        """The object's key, normalised for simple-history's own lookups, once the object is
        one the user may see."""
        pk = _valid_key(self.model._meta.pk, unquote(object_id))
        if pk is None:
            raise Http404
        if self.get_queryset(request).filter(pk=pk).exists():
            return str(pk)
        # The history of an object deleted outright is a superuser's matter only.
        if request.user.is_superuser and not self.model._default_manager.filter(pk=pk).exists():
            return str(pk)
        raise Http404

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's answer (a redirect to the index: "... doesn't exist. Perhaps it was deleted?")
        # becomes a plain 404 for change and delete pages, the same whether the object is
        # missing or merely outside the user's grant.
        raise Http404

    def history_view(self, request, object_id, extra_context=None):
        object_id = self._require_visible(request, object_id)
        # The author's page is linked only for a viewer who may open it (else a bare 403).
        users_linked = request.user.has_perm("compliance_site.view_user") or request.user.has_perm(
            "compliance_site.change_user"
        )
        extra_context = {
            **(extra_context or {}),
            "history_users_linked": users_linked,
            "TIME_ZONE_NAME": settings.TIME_ZONE,
        }
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # History is evidence, not an undo button: simple-history saves a POSTed version form
        # (a revert) for anyone who may merely view the object, whatever
        # SIMPLE_HISTORY_REVERT_DISABLED hides, so an auditor could change data through it.
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        object_id = self._require_visible(request, object_id)
        history_key = getattr(self.model, self.model._meta.simple_history_manager_attribute).model._meta.pk
        version_id = _valid_key(history_key, version_id)
        return super().history_form_view(request, object_id, version_id, extra_context)
