"""``field__any_of=[...]``: membership in a long list, sent to PostgreSQL as one array parameter.

Django's ``__in`` renders one placeholder per value, and each of them is prepared, split out of
the query text by the driver and planned by the server. The retention sweep names a batch's ids
in nine statements; at 500 ids each, that cost more than the statements' own work (about 3 ms a
statement, measured in docs/PERFORMANCE.md). ``= ANY(%s)`` sends the list as one array. Other
databases (SQLite in the demo) get the plain ``IN``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import EmptyResultSet
from django.db.models import Field, ForeignObject
from django.db.models.expressions import ColPairs  # type: ignore[attr-defined]  # Django 5.2; not in the stubs
from django.db.models.fields.related_lookups import RelatedIn
from django.db.models.lookups import In

if TYPE_CHECKING:
    # The mixin always goes in front of ``In`` (or ``RelatedIn``): checked as one.
    _Base = In
else:
    _Base = object


class _ArrayParameter(_Base):
    """``= ANY(%s)`` in place of ``IN (%s, %s, ...)`` for a list of values on PostgreSQL."""

    def as_postgresql(self, compiler, connection):
        if not self.rhs_is_direct_value() or isinstance(self.lhs, ColPairs):  # a subquery, a composite key
            return self.as_sql(compiler, connection)
        values = [value for value in self.rhs if value is not None]  # NULL equals nothing, as in __in
        if not values:
            raise EmptyResultSet
        field = self.lhs.output_field
        lhs_sql, lhs_params = self.process_lhs(compiler, connection)
        array = [field.get_db_prep_value(value, connection, prepared=True) for value in values]
        return f"{lhs_sql} = ANY(%s)", (*lhs_params, array)


@Field.register_lookup
class AnyOf(_ArrayParameter, In):
    lookup_name = "any_of"


@ForeignObject.register_lookup
class RelatedAnyOf(_ArrayParameter, RelatedIn):
    """On a relation: objects or their ids, as ``__in`` takes them."""

    lookup_name = "any_of"
