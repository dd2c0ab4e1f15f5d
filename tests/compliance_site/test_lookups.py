"""field__any_of selects what field__in selects, with one array parameter on PostgreSQL."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recordings.models import Recording
from tests.factories import RecordingFactory

pytestmark = pytest.mark.django_db


def test_any_of_selects_what_in_selects():
    recordings = [RecordingFactory() for _ in range(4)]
    wanted = [recordings[0].pk, recordings[2].pk, recordings[2].pk, None, -1]

    found = set(Recording.objects.filter(pk__any_of=wanted).values_list("pk", flat=True))

    assert found == set(Recording.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    assert found == {recordings[0].pk, recordings[2].pk}


def test_any_of_on_a_foreign_key_column_and_excluded():
    recordings = [RecordingFactory() for _ in range(3)]
    subject_ids = [recordings[1].subject_id]

    by_any = Recording.objects.filter(subject_id__any_of=subject_ids)
    assert list(by_any) == [recordings[1]]
    assert set(Recording.objects.exclude(subject_id__any_of=subject_ids)) == {recordings[0], recordings[2]}
    assert list(Recording.objects.filter(subject__any_of=[recordings[1].subject])) == [recordings[1]]


def test_any_of_an_empty_list_matches_nothing_without_a_query():
    RecordingFactory()
    with CaptureQueriesContext(connection) as queries:
        assert list(Recording.objects.filter(pk__any_of=[])) == []
        assert list(Recording.objects.filter(pk__any_of=[None])) == []
    assert len(queries) == 0


def test_any_of_a_subquery_works_as_in():
    kept = RecordingFactory()
    RecordingFactory()
    subquery = Recording.objects.filter(pk=kept.pk).values("pk")
    assert list(Recording.objects.filter(pk__any_of=subquery)) == [kept]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the array form is PostgreSQL's")
def test_any_of_sends_one_array_parameter_on_postgresql():
    ids = [RecordingFactory().pk for _ in range(3)]
    sql, params = Recording.objects.filter(pk__any_of=ids).values("pk").query.sql_with_params()
    assert "= ANY(%s)" in sql
    assert list(params) == [ids]
