"""The admin paginator estimates big counts on PostgreSQL instead of counting every row."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance_site import pagination
from compliance_site.pagination import EstimatedCountPaginator
from recordings.models import Recording
from tests.factories import QueueFactory, RecordingFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirty_recordings():
    queue = QueueFactory(code="big")
    RecordingFactory.create_batch(30, queue=queue)
    RecordingFactory.create_batch(3)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE recordings_recording")
    return queue


def _count(queryset) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        count = EstimatedCountPaginator(queryset, 10).count
    return count, [q["sql"] for q in queries]


def test_small_results_are_counted_exactly(thirty_recordings):
    count, _ = _count(Recording.objects.all())
    assert count == 33


@pytest.mark.skipif(connection.vendor != "postgresql", reason="estimates come from PostgreSQL's planner")
def test_big_table_is_estimated_without_counting(monkeypatch, thirty_recordings):
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 5)

    unfiltered, unfiltered_sql = _count(Recording.objects.order_by("-started_at"))
    filtered, filtered_sql = _count(Recording.objects.filter(queue=thirty_recordings))

    assert unfiltered == 33  # reltuples right after ANALYZE
    assert 5 < filtered <= 33
    assert not any("COUNT(" in sql.upper() for sql in unfiltered_sql + filtered_sql)


def test_recordings_search_matches_references_exactly_in_either_case(admin_client, thirty_recordings):
    recording = Recording.objects.first()

    by_reference = admin_client.get(
        "/admin/recordings/recording/", {"q": recording.reference.lower()}
    ).context["cl"]
    by_subject = admin_client.get("/admin/recordings/recording/", {"q": recording.subject.reference}).context[
        "cl"
    ]
    partial = admin_client.get("/admin/recordings/recording/", {"q": recording.reference[:-1]}).context["cl"]

    assert list(by_reference.result_list) == [recording]
    assert list(by_subject.result_list) == list(recording.subject.recordings.all())
    assert list(partial.result_list) == []


def test_search_that_matches_nothing_shows_an_empty_list_on_a_big_table(
    admin_client, monkeypatch, thirty_recordings
):
    # given: a table big enough to be estimated, and a term that is no reference, phone or email
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 5)

    # when
    response = admin_client.get("/admin/recordings/recording/", {"q": "no-such-reference"})

    # then
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert response.context["cl"].result_count == 0


def test_search_reads_the_table_by_index_not_by_scan(admin_client, thirty_recordings):
    recording = Recording.objects.first()

    with CaptureQueriesContext(connection) as queries:
        admin_client.get("/admin/recordings/recording/", {"q": recording.subject.reference})

    # The subject is looked up first; the recordings query then holds its id, not a subquery.
    page_queries = [q["sql"] for q in queries if 'FROM "recordings_recording"' in q["sql"]]
    assert page_queries
    assert not any("IN (SELECT" in sql.upper() for sql in page_queries)
