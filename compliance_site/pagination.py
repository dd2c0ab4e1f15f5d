"""An admin paginator that does not count a million rows on every page."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

# Below this many rows an exact COUNT(*) is cheap, and exact numbers are nicer to read.
EXACT_COUNT_LIMIT = 20_000


class EstimatedCountPaginator(Paginator):
    """Uses PostgreSQL's planner estimate for an unfiltered table, COUNT(*) otherwise.

    The page itself is always exact (LIMIT/OFFSET); only the total shown under the list and the
    number of pages are estimates on a big unfiltered table.
    """

    @cached_property
    def count(self) -> int:
        estimate = self._table_estimate()
        if estimate is not None and estimate > EXACT_COUNT_LIMIT:
            return estimate
        return super().count

    def _table_estimate(self) -> int | None:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None or query.where or query.distinct or query.combinator:
            return None
        connection = connections[queryset.db]
        if connection.vendor != "postgresql":
            return None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                [queryset.model._meta.db_table],
            )
            row = cursor.fetchone()
        # reltuples is -1 for a table never analysed.
        return int(row[0]) if row and row[0] >= 0 else None
