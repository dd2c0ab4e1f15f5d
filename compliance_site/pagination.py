"""An admin paginator that does not count a million rows on every page."""

from __future__ import annotations

import json

from django.core.exceptions import EmptyResultSet
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
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
