"""The total under the recordings list: exact for a QA lead (up to a cap), the table's estimate
for those who may know its size, and never the table's size on a QA lead's page."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from compliance_site import pagination
from compliance_site.pagination import CappedCountPaginator, EstimatedCountPaginator
from recordings.models import Recording
from tests.factories import RecordingFactory

pytestmark = pytest.mark.django_db

URL = reverse("admin:recordings_recording_changelist")
# What the estimate would say of the table, planted in pg_class: a number no page shows otherwise.
PLANTED_TABLE_SIZE = 7_654_321
ON_POSTGRES = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the estimate comes from PostgreSQL's statistics"
)


@pytest.fixture
def calls(queue_a, queue_b):
    """Queue A: 7 reviewable calls, 1 restricted; queue B: 4 calls."""
    return {
        "a": RecordingFactory.create_batch(7, queue=queue_a),
        "a_restricted": RecordingFactory(queue=queue_a, status=Recording.Status.RESTRICTED),
        "b": RecordingFactory.create_batch(4, queue=queue_b),
    }


@pytest.fixture
def planted_estimate(monkeypatch):
    """On PostgreSQL: statistics that call the table 7,654,321 rows, and an estimate taken above 5
    rows (SQLite has no estimate: nothing to plant)."""
    if connection.vendor != "postgresql":
        return
    monkeypatch.setattr(pagination, "EXACT_COUNT_LIMIT", 5)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE recordings_recording")
        cursor.execute(
            "UPDATE pg_class SET reltuples = %s WHERE oid = 'recordings_recording'::regclass",
            [PLANTED_TABLE_SIZE],
        )


@pytest.fixture
def per_page(monkeypatch):
    def set_to(rows: int) -> None:
        monkeypatch.setattr(admin.site._registry[Recording], "list_per_page", rows)

    return set_to


def _list(client, user, **params):
    client.force_login(user)
    return client.get(URL, params)


def _total_line(html: str) -> str:
    paginator = re.search(r'<p class="paginator">(.*?)</p>', html, re.S)
    assert paginator, "no paginator on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", paginator.group(1)).split())


def test_qa_lead_sees_the_exact_number_of_recordings_they_may_see(client, qa_lead_a, qa_lead_b, calls):
    # when
    lead_a, lead_b = _list(client, qa_lead_a), _list(client, qa_lead_b)

    # then: queue A's active calls only (not the restricted one, not queue B's)
    cl = lead_a.context["cl"]
    assert isinstance(cl.paginator, CappedCountPaginator)
    assert cl.result_count == 7 and not cl.paginator.capped
    assert _total_line(lead_a.content.decode()) == "7 recordings"
    assert lead_b.context["cl"].result_count == 4


def test_count_is_one_bounded_query(client, qa_lead_a, calls, settings):
    settings.CUSTOS_LIST_COUNT_CAP = 5
    client.force_login(qa_lead_a)

    with CaptureQueriesContext(connection) as queries:
        client.get(URL)

    counts = [
        q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and "recordings_recording" in q["sql"]
    ]
    assert len(counts) == 1
    assert re.search(r"LIMIT 6\b", counts[0])  # the cap and one more, and no further


def test_above_the_cap_the_total_reads_cap_plus_and_the_pages_stop_there(
    client, qa_lead_a, calls, settings, per_page
):
    # given: a cap of 5 and 2 rows a page; the lead may see 7
    settings.CUSTOS_LIST_COUNT_CAP = 5
    per_page(2)

    # when
    first = _list(client, qa_lead_a)
    third = _list(client, qa_lead_a, p=3)
    fourth = _list(client, qa_lead_a, p=4)

    # then: "5+", three pages of the first 5 (the newest), and a word on how to reach the rest
    cl = first.context["cl"]
    assert cl.paginator.capped and cl.result_count == 5 and cl.paginator.num_pages == 3
    assert _total_line(first.content.decode()) == (
        "1 2 3 5+ recordings (counted up to 5, and the pages end there: filter or search to narrow the list)"
    )
    assert len(third.context["cl"].result_list) == 1
    assert fourth.status_code == 302 and fourth["Location"].endswith("?e=1")


def test_above_the_cap_show_all_and_one_page_never_list_more_than_the_cap(
    client, qa_lead_a, calls, settings, per_page
):
    # given: a cap below what one page and "Show all" would hold
    settings.CUSTOS_LIST_COUNT_CAP = 5
    per_page(100)

    # when
    page = _list(client, qa_lead_a)
    show_all = _list(client, qa_lead_a, all="")

    # then
    for response in (page, show_all):
        cl = response.context["cl"]
        assert len(cl.result_list) < 5
        assert not cl.can_show_all
        assert 'class="showall"' not in response.content.decode()


def test_below_the_cap_show_all_lists_everything_the_lead_may_see(client, qa_lead_a, calls, per_page):
    per_page(2)

    response = _list(client, qa_lead_a, all="")

    assert len(response.context["cl"].result_list) == 7


def test_search_and_filters_count_exactly_too(client, qa_lead_a, calls, queue_a, settings):
    settings.CUSTOS_LIST_COUNT_CAP = 5
    reference = calls["a"][0].reference

    searched = _list(client, qa_lead_a, q=reference)
    filtered = _list(client, qa_lead_a, queue=queue_a.pk)

    assert searched.context["cl"].result_count == 1
    assert "1 result" in searched.content.decode()
    assert filtered.context["cl"].paginator.capped
    assert "5+ results" in filtered.content.decode()  # the search bar's count, beside the filter
    assert "5+ recordings (counted up to 5" in _total_line(filtered.content.decode())


def test_search_above_the_cap_reads_cap_plus_results(client, qa_lead_a, calls, settings):
    settings.CUSTOS_LIST_COUNT_CAP = 5
    subject = calls["a"][0].subject
    for _ in range(5):
        RecordingFactory(queue=calls["a"][0].queue, subject=subject)

    response = _list(client, qa_lead_a, q=subject.reference)

    assert "5+ results" in response.content.decode()


def test_qa_lead_gets_no_filter_counts(client, qa_lead_a, calls):
    response = _list(client, qa_lead_a, _facets="1")

    cl = response.context["cl"]
    assert not cl.add_facets and not cl.is_facets_optional
    assert "Show counts" not in response.content.decode()


@pytest.mark.parametrize("persona", ["dpo", "auditor"])
def test_dpo_and_auditor_keep_the_table_count_and_facets(client, request, persona, calls):
    response = _list(client, request.getfixturevalue(persona), _facets="1")

    cl = response.context["cl"]
    assert isinstance(cl.paginator, EstimatedCountPaginator)
    assert cl.result_count == 12  # a small table is counted exactly
    assert cl.add_facets


@ON_POSTGRES
def test_dpo_still_gets_the_estimate_on_postgres(client, dpo, calls, planted_estimate):
    response = _list(client, dpo)

    assert response.context["cl"].result_count == PLANTED_TABLE_SIZE
    assert f"{PLANTED_TABLE_SIZE} recordings" in response.content.decode()


def test_stranger_is_refused_the_list(client, stranger, calls):
    assert _list(client, stranger).status_code == 403


QA_LEAD_PAGES = [
    {},
    {"p": "2"},
    {"all": ""},
    {"_facets": "1"},
    {"status__exact": "active"},
    {"lawful_basis__exact": "consent", "_facets": "1"},
    {"o": "2"},
]


@pytest.mark.parametrize("params", QA_LEAD_PAGES, ids=lambda p: "&".join(p) or "first-page")
def test_the_table_size_appears_nowhere_on_a_qa_leads_page(
    client, qa_lead_a, calls, per_page, monkeypatch, planted_estimate, params
):
    # given: the estimate path refuses to run for anyone, and on PostgreSQL the statistics say
    # the table is 7,654,321 rows
    def no_estimate(self):
        raise AssertionError("the table's estimate was asked for a QA lead's page")

    monkeypatch.setattr(EstimatedCountPaginator, "_estimate", no_estimate)
    per_page(5)

    # when
    response = _list(client, qa_lead_a, **params)

    # then: the whole page, not only its total line
    html = response.content.decode()
    assert response.status_code == 200
    for written in (str(PLANTED_TABLE_SIZE), f"{PLANTED_TABLE_SIZE:,}"):
        assert written not in html
    assert response.context["cl"].result_count == 7
