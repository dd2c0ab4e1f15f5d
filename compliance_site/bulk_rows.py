"""Insert many new rows at once: PostgreSQL's COPY where the database has it, bulk_create elsewhere.

``bulk_create`` renders every value of every row into one INSERT; for the retention sweep's
batches (500 tombstones and 500 chained audit events each) that rendering was a fifth of the
sweep's time. django-pgbulk's ``copy`` streams the same rows through ``COPY ... FROM STDIN``,
with the values prepared by their fields as Django prepares them. Two differences a caller must
accept: the objects get no primary key, and ``connection.execute_wrapper`` (Django's statement
counters) does not see the COPY.
"""

from __future__ import annotations

from collections.abc import Sequence

import pgbulk
from django.db import connection
from django.db.models import Model


def rows_insert(objs: Sequence[Model]) -> None:
    """Insert ``objs`` (new, all of one model) in the caller's transaction; signals are not sent."""
    if not objs:
        return
    model = type(objs[0])
    if connection.vendor == "postgresql":
        pgbulk.copy(model, objs)
    else:
        model._default_manager.bulk_create(objs)
