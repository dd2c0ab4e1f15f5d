"""Admin search by exact reference, or by phone or email through the blind index.

Django's ``=field`` search becomes ``UPPER(field) = UPPER(term)``, which no index serves, and a
search across a relation ORs over a join; on a million recordings either reads the whole table.
References are pseudonyms typed or pasted by staff, so an exact match (or its upper-case form)
is what they mean. Related matches are fetched first and passed as a short id list, so the
final filter is an OR of index lookups (a bitmap OR in PostgreSQL) rather than an OR across
subqueries, which the planner can only answer by scanning. Personal fields are never searched
in clear: a term that reads as a phone number or an email is turned into its blind index and
matched against the subjects' indexes, and only there. It is not also tried as a reference, so
it never reaches the database, its statement log or a slow-query log in clear.

A term with a letter in it is never read as a phone number: libphonenumber drops letters and
dashes, so ``DSR-2026-000001`` would otherwise pass as the German number 2026000001 and find no
request. Staff type phone numbers in digits; vanity numbers ("0800-FLOWERS") are not searched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Q

from recordings.selectors import subject_matching

if TYPE_CHECKING:
    # The mixin is always combined with a ModelAdmin: checked as one, a plain class at run time.
    _Base = admin.ModelAdmin[Any]
else:
    _Base = object


class ReferenceSearchMixin(_Base):
    """``search_fields`` lists reference paths (``reference``, ``subject__reference``);
    ``subject_search_path`` names the path to the data subject ("" for the subject itself, None
    when the model has none) for phone and email search."""

    subject_search_path: str | None = None

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        subjects = self._subjects_by_personal_data(term)
        if subjects is not None:
            if self.subject_search_path is None:
                return queryset.none(), False
            if self.subject_search_path == "":
                return queryset.filter(pk__in=subjects), False
            return queryset.filter(**{f"{self.subject_search_path}__in": subjects}), False
        terms = {term, term.upper()}
        match = Q(pk__in=[])
        for path in self.search_fields:
            path = path.lstrip("=")
            if "__" in path:
                relation, field = path.rsplit("__", 1)
                related = self.model._meta.get_field(relation).related_model
                ids = list(
                    related._default_manager.filter(**{f"{field}__in": terms}).values_list("pk", flat=True)
                )
                match |= Q(**{f"{relation}__in": ids})
            else:
                match |= Q(**{f"{path}__in": terms})
        return queryset.filter(match), False

    @staticmethod
    def _subjects_by_personal_data(term: str) -> list[int] | None:
        """Ids of the subjects whose phone or email has the term's blind index; None when the
        term is neither a phone number nor an email (then it is a reference)."""
        is_email = "@" in term
        if not is_email and any(character.isalpha() for character in term):
            return None
        try:
            matching = subject_matching(email=term if is_email else "", phone="" if is_email else term)
            return list(matching.values_list("pk", flat=True))
        except ValidationError:
            return None
