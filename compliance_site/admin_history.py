"""The history admin, limited to the objects the user may see.

django-simple-history's history view falls back to the last history row when an object is not
in the admin's queryset, which would show a QA lead the history of a recording outside their
grant. Here the history of an object is shown only where the object itself is.

An object outside the user's queryset is not found (404) on every page of it, exactly like one
that never existed, as the audio endpoint answers too. A past version is shown, never saved back:
its page refuses POST (403) to everyone.
"""

from __future__ import annotations

from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from compliance_site.admin_choices import VisibleChoicesAdminMixin


def _valid_key(field, value: str):
    """``value`` as the field's Python value, or 404: a path segment like ``1e5`` or ``abc`` is
    no object (Django's change view answers the same), never a ValueError from the query."""
    try:
        return field.to_python(value)
    except (ValidationError, ValueError, TypeError) as exc:
        raise Http404 from exc


class ScopedHistoryAdmin(VisibleChoicesAdminMixin, SimpleHistoryAdmin):
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
