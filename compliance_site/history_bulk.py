"""History rows copied by the database itself, for set-based changes of many rows at once.

django-simple-history's ``bulk_history_create`` builds one Python object per history row and
sends them back to the database, which already holds every value. For the retention sweep, which
writes the history of hundreds of rows per batch, that round trip through Python was most of its
time. ``history_copy`` writes the same rows with one ``INSERT ... SELECT``: the columns it copies
are simple-history's tracked fields, read from the historical model, so a new field needs no
change here. The history of the model's m2m fields (``HistoricalRecords(m2m_fields=...)``) is
copied the same way, one statement per field. ``history_of_update`` (PostgreSQL) writes the
history of the rows an ``UPDATE`` changes, with their m2m rows, in the ``UPDATE``'s own statement.

All run in the caller's transaction; ``history_copy`` on PostgreSQL and SQLite alike
(``RETURNING`` needs SQLite 3.35), and honour ``SIMPLE_HISTORY_ENABLED`` as simple-history does.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet
from simple_history.models import HistoricalRecords
from simple_history.utils import get_m2m_field_name

HISTORY_CREATED, HISTORY_CHANGED = "+", "~"
M2M_CHUNK = 1000  # new rows per statement copying their m2m links (SQLite: a parameter each)


def history_copy(
    queryset: QuerySet,
    *,
    history_type: str,
    date: datetime.datetime,
    user=None,
    change_reason: str = "",
) -> list[int]:
    """Write one history row per row of ``queryset``, holding its current state, as a save of
    each would (with its m2m fields' rows); returns the new rows' history ids."""
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        return []
    history_model = queryset.model.history.model
    meta, quote = history_model._meta, connection.ops.quote_name
    tracked = history_model.tracked_fields
    try:
        select_sql, select_params = (
            queryset.order_by().values_list(*(field.attname for field in tracked)).query.sql_with_params()
        )
    except EmptyResultSet:  # a queryset that can match nothing (.none(), pk__in=[]) has no SQL
        return []
    columns = [meta.get_field(field.name).column for field in tracked] + [
        meta.get_field(name).column
        for name in ("history_date", "history_type", "history_user", "history_change_reason")
    ]
    constants = [
        meta.get_field("history_date").get_db_prep_value(date, connection),
        history_type,
        user.pk if user is not None and user.is_authenticated else None,
        change_reason,
    ]
    object_id = meta.get_field(queryset.model._meta.pk.name)
    with connection.cursor() as cursor:
        cursor.execute(
            # Names come from the models, quoted; every value is a bound parameter.
            f"INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, columns))}) "  # noqa: S608
            f"SELECT source.*, %s, %s, %s, %s FROM ({select_sql}) source "
            f"RETURNING {quote(meta.pk.column)}, {quote(object_id.column)}",
            (*constants, *select_params),  # the constants come first in the text
        )
        new_rows = cursor.fetchall()
    history_ids = [history_id for history_id, _ in new_rows]
    for field in history_model._history_m2m_fields:
        for start in range(0, len(new_rows), M2M_CHUNK):
            _m2m_history_copy(history_model, field, new_rows[start : start + M2M_CHUNK])
    return history_ids


def history_of_update(
    model,
    *,
    update_sql: str,
    params: Sequence,
    history_type: str,
    date: datetime.datetime,
    user=None,
    change_reason: str = "",
) -> list[int]:
    """PostgreSQL only: run ``update_sql`` (an ``UPDATE`` of ``model``'s table, without
    ``RETURNING``) and write one history row per row it changed, holding the row's new state, in
    the same statement (``WITH changed AS (UPDATE ... RETURNING ...) INSERT ... SELECT``): the
    rows are not read again, as ``history_copy`` would. Their m2m history rows, as
    ``history_copy`` writes them, in the same statement too; returns the new rows' history ids."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    if not getattr(settings, "SIMPLE_HISTORY_ENABLED", True):
        with connection.cursor() as cursor:
            cursor.execute(update_sql, params)
        return []
    history_model = model.history.model
    meta = history_model._meta
    tracked = history_model.tracked_fields
    returning = ", ".join(f"{table}.{quote(model._meta.get_field(f.name).column)}" for f in tracked)
    columns = [meta.get_field(field.name).column for field in tracked] + [
        meta.get_field(name).column
        for name in ("history_date", "history_type", "history_user", "history_change_reason")
    ]
    constants = [
        meta.get_field("history_date").get_db_prep_value(date, connection),
        history_type,
        user.pk if user is not None and user.is_authenticated else None,
        change_reason,
    ]
    object_id = meta.get_field(model._meta.pk.name)
    m2m_inserts = [
        _m2m_from_versions(history_model, field, i)
        for i, field in enumerate(history_model._history_m2m_fields)
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            # Names come from the models, quoted; every value is a bound parameter
            # (``update_sql``: the caller's, built the same way).
            f"WITH changed AS ({update_sql} RETURNING {returning}), "  # noqa: S608
            f"versions AS (INSERT INTO {quote(meta.db_table)} ({', '.join(map(quote, columns))}) "
            f"SELECT changed.*, %s, %s, %s, %s FROM changed "
            f"RETURNING {quote(meta.pk.column)} AS history_id, {quote(object_id.column)} AS object_id)"
            + "".join(f", {insert}" for insert in m2m_inserts)
            + " SELECT history_id FROM versions",
            (*params, *constants),  # the update's parameters come first in the text
        )
        return [history_id for (history_id,) in cursor.fetchall()]


def _m2m_from_versions(history_model, field, number: int) -> str:
    """A CTE of ``history_of_update``: the new versions' (``versions``) rows of this m2m field,
    their objects' current links; the links read in the versions' range of object ids only."""
    quote = connection.ops.quote_name
    m2m_history_model = HistoricalRecords.m2m_models[field]
    through = field.remote_field.through
    columns = [quote(f.column) for f in through._meta.concrete_fields]
    owner = quote(through._meta.get_field(get_m2m_field_name(field)).column)
    history_link = quote(m2m_history_model._meta.get_field("history").column)
    return (
        f"m2m_{number} AS (INSERT INTO {quote(m2m_history_model._meta.db_table)} "  # noqa: S608 (names)
        f"({', '.join(columns)}, {history_link}) "
        f"SELECT {', '.join('link.' + c for c in columns)}, versions.history_id "
        f"FROM {quote(through._meta.db_table)} link JOIN versions ON versions.object_id = link.{owner} "
        f"WHERE link.{owner} >= (SELECT min(object_id) FROM versions) "
        f"AND link.{owner} <= (SELECT max(object_id) FROM versions))"
    )


def _m2m_history_copy(history_model, field, new_rows: list[tuple]) -> None:
    """Each new history row gets its object's current links of this m2m field, as
    simple-history's ``create_historical_record_m2ms`` gives it: one statement joining the new
    rows (named by their history ids) to their objects' links. Both sides are bounded by ranges
    too, the lowest and highest history id and object id: whatever the statistics say (taken
    when the history was small, say), the database reads the rows of this batch's ranges only,
    one index descent a row. Without them the join read the whole history table, or the whole
    link table, a cost growing with them (docs/PERFORMANCE.md, keep-until recomputation)."""
    quote = connection.ops.quote_name
    m2m_history_model = HistoricalRecords.m2m_models[field]
    through = field.remote_field.through
    link_fields = through._meta.concrete_fields
    owner = through._meta.get_field(get_m2m_field_name(field))
    # The m2m history table has the through table's columns plus its link to the history row.
    history_link_column = m2m_history_model._meta.get_field("history").column
    history_meta = history_model._meta
    object_id = history_meta.get_field(history_model.instance_type._meta.pk.name)
    history_ids = [history_id for history_id, _ in new_rows]
    owners = [object_id for _, object_id in new_rows]
    links_sql, links_params = (
        through.objects.filter(**{f"{owner.attname}__gte": min(owners), f"{owner.attname}__lte": max(owners)})
        .order_by()
        .values_list(*(f.attname for f in link_fields))
        .query.sql_with_params()
    )
    versions_sql, versions_params = (
        history_model.objects.filter(
            pk__gte=min(history_ids), pk__lte=max(history_ids), pk__any_of=history_ids
        )
        .order_by()
        .values_list(history_meta.pk.attname, object_id.attname)
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(m2m_history_model._meta.db_table)} "  # noqa: S608 (as above)
            f"({', '.join(quote(f.column) for f in link_fields)}, {quote(history_link_column)}) "
            f"SELECT {', '.join('link.' + quote(f.column) for f in link_fields)}, "
            f"version.{quote(history_meta.pk.column)} "
            f"FROM ({links_sql}) link JOIN ({versions_sql}) version "
            f"ON version.{quote(object_id.column)} = link.{quote(owner.column)}",
            (*links_params, *versions_params),
        )
