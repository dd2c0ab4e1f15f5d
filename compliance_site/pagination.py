"""Admin paginators that do not count a million rows on every page: an estimate for who may know
a table's size, an exact count up to a cap for who sees only a part of it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.admin import ModelAdmin
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections, transaction
from django.db.models import Q, QuerySet
from django.utils.functional import cached_property

# Below this many rows an exact COUNT(*) is cheap, and exact numbers are nicer to read.
EXACT_COUNT_LIMIT = 20_000


class EstimatedCountPaginator(Paginator):
    """Counts exactly on small results and estimates on big ones (PostgreSQL only).

    An unfiltered table is estimated from ``pg_class.reltuples``; a filtered list of a big table
    from the planner's row estimate. Where the estimate is small, the exact count is taken: it is
    cheap there. The page itself is always exact (LIMIT/OFFSET); only the total under the list and
    the number of pages are estimates.
    """

    @cached_property
    def count(self) -> int:
        estimate = self._estimate()
        if estimate is not None and estimate > EXACT_COUNT_LIMIT:
            return estimate
        return super().count

    def _estimate(self) -> int | None:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):  # a list: its len() is exact and cheap
            return None
        query = queryset.query
        if query.distinct or query.combinator:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        table_rows = self._table_rows(connection, queryset.model._meta.db_table)
        if table_rows is None or table_rows <= EXACT_COUNT_LIMIT or not query.where:
            return table_rows
        try:
            sql, params = queryset.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # a filter that can match nothing (``pk__in=[]``)
            return 0
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        return int(plan[0]["Plan"]["Plan Rows"])

    @staticmethod
    def _table_rows(connection, table: str) -> int | None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [table])
            row = cursor.fetchone()
        # reltuples is -1 for a table never analysed.
        return int(row[0]) if row and row[0] >= 0 else None


def list_count_cap() -> int:
    """How far a list counts for who may not know its table's size (``CUSTOS_LIST_COUNT_CAP``)."""
    return settings.CUSTOS_LIST_COUNT_CAP


class CappedCountPaginator(Paginator):
    """Counts exactly, but no further than ``cap`` rows: ``SELECT COUNT(*) FROM (... LIMIT cap + 1)``
    stops reading once it knows there are more, so its cost is bounded by the cap, not by the
    table. Past the cap, ``count`` is the cap (the pages reach that far) and ``capped`` is true."""

    def __init__(
        self, object_list, per_page, orphans=0, allow_empty_first_page=True, *, cap: int, narrowing=None
    ) -> None:
        super().__init__(object_list, per_page, orphans, allow_empty_first_page)
        self.cap = cap
        # A filter the list implies (so the count stays exact) that an index can serve: the
        # count reads the rows it names instead of walking the table until the cap.
        self.narrowing = narrowing

    @cached_property
    def _counted(self) -> int:
        """At most ``cap + 1``: one more than the cap says there are more."""
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return min(len(queryset), self.cap + 1)
        if self.narrowing is not None:
            queryset = queryset.filter(self.narrowing)
        # No ordering: the count needs none, and without it the planner may read in any order.
        bounded = queryset.order_by().values("pk")[: self.cap + 1]
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return bounded.count()
        with transaction.atomic(using=queryset.db), connection.cursor() as cursor:
            # The planner prices the access rules' probes high enough to JIT-compile the count,
            # which takes longer than running it (hundreds of ms for a 10,000-row count).
            cursor.execute("SET LOCAL jit = off")
            return bounded.count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, self.cap)

    @property
    def capped(self) -> bool:
        return self._counted > self.cap

    @property
    def cap_label(self) -> str:
        return f"{self.cap:,}"

    @property
    def count_label(self) -> str:
        """The total as the list shows it: exact, or ``10,000+`` past the cap."""
        return f"{self.cap_label}+" if self.capped else str(self.count)


class CappedChangeList(ChangeList):
    """A changelist counted by a :class:`CappedCountPaginator`. Past the cap its total is the cap,
    so "Show all" and a single page stop below the cap (else they would list every row the cap
    leaves out), and it shows no filter counts (facets), which count the whole list uncapped."""

    def __init__(
        self,
        request,
        model,
        list_display,
        list_display_links,
        list_filter,
        date_hierarchy,
        search_fields,
        list_select_related,
        list_per_page,
        list_max_show_all,
        *args,
        **kwargs,
    ):
        below_cap = list_count_cap() - 1
        super().__init__(
            request,
            model,
            list_display,
            list_display_links,
            list_filter,
            date_hierarchy,
            search_fields,
            list_select_related,
            max(1, min(list_per_page, below_cap)),
            min(list_max_show_all, below_cap),
            *args,
            **kwargs,
        )
        self.add_facets = self.is_facets_optional = False


if TYPE_CHECKING:
    _Base = ModelAdmin[Any]
else:
    _Base = object


class SizeScopedCountAdminMixin(_Base):
    """The changelist's total by who asks: the estimate (:class:`EstimatedCountPaginator`) for
    holders of ``table_size_permission``, who may know how big the table is; for anyone else the
    exact count of what they may see, up to a cap (:class:`CappedCountPaginator`), so that the
    total under their list neither lies nor tells them the size of the table."""

    table_size_permission: str

    def knows_table_size(self, request) -> bool:
        return request.user.has_perm(self.table_size_permission)

    def count_narrowing(self, request) -> Q | None:
        """A filter implied by the list's queryset for this user that an index can serve."""
        return None

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        if self.knows_table_size(request):
            return EstimatedCountPaginator(queryset, per_page, orphans, allow_empty_first_page)
        return CappedCountPaginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            cap=list_count_cap(),
            narrowing=self.count_narrowing(request),
        )

    def get_changelist(self, request, **kwargs):
        if self.knows_table_size(request):
            return super().get_changelist(request, **kwargs)
        return CappedChangeList
