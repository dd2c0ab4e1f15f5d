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
from django.core.exceptions import PermissionDenied
from django.http import Http404
from simple_history.admin import SimpleHistoryAdmin

from compliance_site.admin_choices import VisibleChoicesAdminMixin


class ScopedHistoryAdmin(VisibleChoicesAdminMixin, SimpleHistoryAdmin):
    def _require_visible(self, request, object_id: str) -> None:
        pk = unquote(object_id)
        if self.get_queryset(request).filter(pk=pk).exists():
            return
        # The history of an object deleted outright is a superuser's matter only.
        if request.user.is_superuser and not self.model._default_manager.filter(pk=pk).exists():
            return
        raise Http404

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django's answer (a redirect to the index: "... doesn't exist. Perhaps it was deleted?")
        # becomes a plain 404 for change and delete pages, the same whether the object is
        # missing or merely outside the user's grant.
        raise Http404

    def history_view(self, request, object_id, extra_context=None):
        self._require_visible(request, object_id)
        return super().history_view(request, object_id, extra_context)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # History is evidence, not an undo button: simple-history saves a POSTed version form
        # (a revert) for anyone who may merely view the object, whatever
        # SIMPLE_HISTORY_REVERT_DISABLED hides, so an auditor could change data through it.
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied
        self._require_visible(request, object_id)
        return super().history_form_view(request, object_id, version_id, extra_context)
