"""Admin search by exact reference, through the indexes.

Django's ``=field`` search becomes ``UPPER(field) = UPPER(term)``, which no index serves, and a
search across a relation ORs over a join; on a million recordings either reads the whole table.
References are pseudonyms typed or pasted by staff, so an exact match (or its upper-case form)
is what they mean, and personal fields are never searched in clear at all.
"""

from __future__ import annotations

from django.db.models import Q


class ReferenceSearchMixin:
    """``search_fields`` lists reference paths (``reference``, ``subject__reference``)."""

    def get_search_results(self, request, queryset, search_term):
        terms = {search_term.strip(), search_term.strip().upper()} - {""}
        if not terms:
            return queryset, False
        match = Q()
        for path in self.search_fields:
            path = path.lstrip("=")
            if "__" in path:
                relation, field = path.rsplit("__", 1)
                related = self.model._meta.get_field(relation).related_model
                ids = related._default_manager.filter(**{f"{field}__in": terms}).values("pk")
                match |= Q(**{f"{relation}__in": ids})
            else:
                match |= Q(**{f"{path}__in": terms})
        return queryset.filter(match), False
