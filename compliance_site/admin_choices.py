"""Foreign-key and many-to-many choices on admin forms, limited to what the user may see.

A form field that names another object (a note's request, a grant's recording, a hold's subject)
is a door: Django validates a POSTed id against the field's queryset, which is every row of the
related model by default, so an analyst could attach a note to any request by its id. Here the
queryset is the related model's own admin queryset for this user — the same selector its list
and pages ask (``requests_visible_to``, ``subjects_visible_to``, ``recordings_visible_to``…) —
so the choices offered and the values accepted are exactly the objects the user may see.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import ForeignKey, ManyToManyField, QuerySet
from django.db.models.fields.related import RelatedField
from django.http import HttpRequest

if TYPE_CHECKING:
    # The mixin is always combined with a ModelAdmin: checked as one, a plain class at run time.
    _Base = admin.ModelAdmin[Any]
else:
    _Base = object


class VisibleChoicesAdminMixin(_Base):
    def formfield_for_foreignkey(self, db_field: ForeignKey, request: HttpRequest, **kwargs):
        if "queryset" not in kwargs:
            visible = self.related_visible_queryset(db_field, request)
            if visible is not None:
                kwargs["queryset"] = visible
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: ManyToManyField, request: HttpRequest, **kwargs):
        if "queryset" not in kwargs:
            visible = self.related_visible_queryset(db_field, request)
            if visible is not None:
                kwargs["queryset"] = visible
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def related_visible_queryset(self, db_field: RelatedField, request: HttpRequest) -> QuerySet | None:
        """The related model admin's queryset for this user, in its order; None where the related
        model has no admin (nothing registered to say who may see it: Django's default stands)."""
        related_admin = self.admin_site._registry.get(db_field.remote_field.model)
        if related_admin is None:
            return None
        queryset = related_admin.get_queryset(request)
        ordering = related_admin.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset
