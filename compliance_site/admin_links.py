"""Links to admin pages only for people who can follow them.

A link that ends on a bare 403 (the QA lead's link to a subject, the analyst's to a recording, the
DPO's to a user) tells the reader nothing and looks broken; here an object is linked only when
the viewer passes the checks its page makes (the ModelAdmin's view permission for that object,
and the object in the admin's queryset, which is where guardian's grants are applied), and named
in plain text otherwise.

The admin's permission checks and querysets read only ``request.user``; a bare request carrying
the viewer is what they are given here when a display function has only the object.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.utils import flatten_fieldsets
from django.db import models
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString

from compliance_site.display import EMPTY, object_display

if TYPE_CHECKING:
    _Base = admin.ModelAdmin[Any]
else:
    _Base = object


def _request_for(user) -> HttpRequest:
    request = HttpRequest()
    request.user = user
    return request


def _model_admin(model: type[models.Model]) -> admin.ModelAdmin | None:
    return admin.site._registry.get(model)


def openable_ids(user, model: type[models.Model], ids: Iterable[Any]) -> set[Any]:
    """Those of ``ids`` whose admin page ``user`` may open; one query, however many ids."""
    ids = [pk for pk in ids if pk is not None]
    model_admin = _model_admin(model)
    if user is None or not ids or model_admin is None:
        return set()
    request = _request_for(user)
    if not (model_admin.has_view_permission(request) or model_admin.has_change_permission(request)):
        return set()
    return set(model_admin.get_queryset(request).filter(pk__in=ids).values_list("pk", flat=True))


def may_open(user, obj: models.Model | None) -> bool:
    if obj is None or user is None:
        return False
    model_admin = _model_admin(type(obj))
    if model_admin is None:
        return False
    request = _request_for(user)
    if not model_admin.has_view_or_change_permission(request, obj):
        return False
    return obj.pk in openable_ids(user, type(obj), [obj.pk])


def change_url(obj: models.Model) -> str | None:
    opts = obj._meta
    try:
        return reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
    except NoReverseMatch:
        return None


def permitted_change_link(user, obj: models.Model | None, label: str | None = None) -> SafeString | str:
    """``obj`` by its reference, linked to its page only if ``user`` may open that page."""
    if obj is None:
        return EMPTY
    text = label if label is not None else object_display(obj)
    url = change_url(obj) if may_open(user, obj) else None
    return format_html('<a href="{}">{}</a>', url, text) if url else text


def permitted_changelist_url(user, model: type[models.Model], **params: Any) -> str | None:
    """The model's list filtered by ``params``, or None when ``user`` may not open that list."""
    model_admin = _model_admin(model)
    if user is None or model_admin is None:
        return None
    if not model_admin.has_view_or_change_permission(_request_for(user)):
        return None
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return f"{url}?{urlencode(params)}" if params else url


class PermittedLinksAdminMixin(_Base):
    """Shows the foreign keys named in ``permitted_link_fields`` that are read-only on a page as a
    link only for a viewer who may open the target (else as plain text). Before the other admin
    bases, so that its ``get_object`` marks the object with its viewer."""

    permitted_link_fields: tuple[str, ...] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in cls.permitted_link_fields:
            if not hasattr(cls, f"{name}_link"):
                setattr(cls, f"{name}_link", _link_display(name))

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj._link_viewer = request.user
        return obj

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The link fields are display functions, never form fields (a past version's page asks
        # for a form with every field of the fieldsets).
        links = set(self._link_substitutes(request, obj).values())
        if links and kwargs.get("fields", ()) is not None:
            fields = kwargs.get("fields") or flatten_fieldsets(self.get_fieldsets(request, obj))
            kwargs["fields"] = [name for name in fields if name not in links]
        return super().get_form(request, obj, change=change, **kwargs)

    def _link_substitutes(self, request, obj) -> dict[str, str]:
        if obj is None or not self.permitted_link_fields:
            return {}
        readonly = set(super().get_readonly_fields(request, obj))
        view_only = not self.has_change_permission(request, obj)
        return {name: f"{name}_link" for name in self.permitted_link_fields if view_only or name in readonly}

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        substitutes = self._link_substitutes(request, obj)
        if not substitutes:
            return fields
        swapped = tuple(substitutes.get(name, name) for name in fields)
        return swapped + tuple(link for name, link in substitutes.items() if link not in swapped)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        substitutes = self._link_substitutes(request, obj)
        if not substitutes:
            return fieldsets
        seen: set[str] = set()

        def swap(names):
            kept = []
            for name in names:
                if isinstance(name, list | tuple):
                    kept.append(tuple(swap(name)))
                    continue
                name = substitutes.get(name, name)
                if name not in seen:  # the default fieldset lists a read-only field twice
                    seen.add(name)
                    kept.append(name)
            return kept

        return [
            (title, {**options, "fields": tuple(swap(options["fields"]))}) for title, options in fieldsets
        ]


def _link_display(name: str):
    def display(self, obj):
        return permitted_change_link(getattr(obj, "_link_viewer", None), getattr(obj, name))

    display.short_description = name.replace("_", " ")  # type: ignore[attr-defined]
    display.__name__ = f"{name}_link"
    return display
