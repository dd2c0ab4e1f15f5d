"""One measuring round of one page against one database, run in a fresh process by ``benchmarks/run.py``.

Usage (DATABASE_URL names the database to measure)::

    DATABASE_URL=postgres://... python -m benchmarks.measure --page qa-lead --requests 30 --warmup 5

Logs the page's user in with Django's test client (a superuser, or a QA lead whose object grants
are set up here, idempotently, with guardian's ``assign_perm``), warms the page up, then times GETs
of the recordings changelist page without recording SQL. Afterwards it loads the page a few more
times with the queries captured, to count them and find the page query, runs
``EXPLAIN (ANALYZE)`` on each captured query that reads the recordings table to see how many of
its rows they visit, and checks the page's rows and total against the same list computed
independently of the admin. Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

CHANGELIST_URL = "/admin/recordings/recording/"
BENCH_USERNAME = "bench-superuser"
QA_LEAD_USERNAME = "bench-qa-lead"
TABLE = '"recordings_recording"'
LIST_PER_PAGE = 100


@dataclass(frozen=True)
class Page:
    """One kind of changelist page the benchmark measures."""

    key: str
    title: str
    user: str  # "superuser" or "qa-lead"
    description: str


PAGES: dict[str, Page] = {
    page.key: page
    for page in (
        Page(
            "superuser",
            "Superuser, first page",
            "superuser",
            "The first page of `/admin/recordings/recording/` with default ordering, as a superuser "
            "(sees every recording).",
        ),
        Page(
            "qa-lead",
            "QA lead, first page",
            "qa-lead",
            "The first page as a staff user in the *QA lead* group holding the object permission "
            "`recordings.review_queue` on half of the queues (3 of 6) and "
            "`recordings.review_recording` on one recording of another queue (the newest one), "
            "both granted with guardian's `assign_perm`: `recordings_visible_to` limits the list "
            "to the active recordings of the granted queues plus the granted recording.",
        ),
        Page(
            "filter",
            "Superuser, filtered by status",
            "superuser",
            "The first page with the list filter `?status__exact=active`, as the superuser "
            "(every generated recording is active, so the filter keeps the whole table).",
        ),
        Page(
            "search-recording",
            "Superuser, search by recording reference",
            "superuser",
            "A search `?q=<reference>` for the reference of an existing recording from the middle "
            "of the table (one hit), as the superuser.",
        ),
        Page(
            "search-subject",
            "Superuser, search by subject reference",
            "superuser",
            "A search `?q=<reference>` for the reference of that recording's subject (about 5 "
            "hits: the subject's calls), as the superuser.",
        ),
    )
}

# Each row's first column links to the recording; the link text is its reference.
ROW_RE = re.compile(r'<th class="field-reference"><a href="[^"]*">([^<]+)</a></th>')
TOTAL_RE = re.compile(r'<p class="paginator">.*?(\d+)\s+recordings?', re.S)
SESSION_KEY_RE = re.compile(r"session_key\" = '[^']*'")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def reads_table(sql: str) -> bool:
    upper = sql.upper()
    return f"FROM {TABLE.upper()}" in upper or f"JOIN {TABLE.upper()}" in upper


def is_count_query(sql: str) -> bool:
    """A COUNT over the recordings table (the paginator's exact count)."""
    upper = sql.upper()
    return upper.startswith("SELECT") and "COUNT(" in upper and f"FROM {TABLE.upper()}" in upper


def is_full_count(sql: str) -> bool:
    """True for a COUNT over the recordings table with no WHERE: a scan of every row."""
    return is_count_query(sql) and " WHERE " not in sql.upper()


def is_estimate_query(sql: str) -> bool:
    """The paginator's estimate: ``pg_class.reltuples`` or the planner's row estimate."""
    upper = sql.upper()
    return "FROM PG_CLASS" in upper or upper.startswith("EXPLAIN")


def is_page_query(sql: str) -> bool:
    """The query reading the page's rows (it has no LIMIT when the whole result fits one page)."""
    upper = sql.upper()
    return (
        upper.startswith("SELECT")
        and f"FROM {TABLE.upper()}" in upper
        and " ORDER BY " in upper
        and not is_count_query(sql)
    )


def redact(sql: str) -> str:
    """Hides the session key, the only secret a captured query of this page carries."""
    return SESSION_KEY_RE.sub("session_key\" = '<redacted>'", sql)


def table_rows_read(plan: dict[str, Any], relation: str = "recordings_recording") -> int:
    """Rows of ``relation`` an ``EXPLAIN (ANALYZE, FORMAT JSON)`` plan visited: the rows each scan
    of it returned plus those its filters removed, over all loops."""
    total = 0
    if plan.get("Relation Name") == relation:
        per_loop = (
            plan.get("Actual Rows", 0)
            + plan.get("Rows Removed by Filter", 0)
            + plan.get("Rows Removed by Index Recheck", 0)
        )
        total += round(per_loop * plan.get("Actual Loops", 1))
    for child in plan.get("Plans", ()):
        total += table_rows_read(child, relation)
    return total


class _SqlTimer:
    """An execute wrapper adding up the database time of a request, to the microsecond (the
    captured queries' own "time" is rounded to the millisecond)."""

    def __init__(self) -> None:
        self.total_ms = 0.0

    def __call__(
        self,
        execute: Callable[[str, Any, bool, dict[str, Any]], Any],
        sql: str,
        params: Any,
        many: bool,
        context: dict[str, Any],
    ) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.total_ms += (time.perf_counter() - started) * 1000


def _superuser():
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username=BENCH_USERNAME)
    if not (user.is_superuser and user.is_staff and user.is_active):
        user.is_superuser = user.is_staff = user.is_active = True
        user.set_unusable_password()
        user.save()
    return user


def _qa_lead() -> tuple[Any, dict[str, Any]]:
    """The QA lead and their grants, made idempotently: review of the first half of the queues
    and of the newest active recording of another queue, and no other direct grant."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    from compliance_site.roles import QA_LEAD
    from recordings.models import Queue, QueueUserObjectPermission, Recording, RecordingUserObjectPermission

    user, _ = get_user_model().objects.get_or_create(username=QA_LEAD_USERNAME)
    if user.is_superuser or not (user.is_staff and user.is_active):
        user.is_superuser = False
        user.is_staff = user.is_active = True
        user.set_unusable_password()
        user.save()
    user.groups.set([Group.objects.get(name=QA_LEAD)])

    queues = list(Queue.objects.order_by("pk"))
    granted = queues[: len(queues) // 2]
    single = (
        Recording.objects.filter(status=Recording.Status.ACTIVE)
        .exclude(queue__in=granted)
        .order_by("-started_at", "-pk")
        .first()
    )
    for queue in granted:
        assign_perm("recordings.review_queue", user, queue)
    if single is not None:
        assign_perm("recordings.review_recording", user, single)
    # A previous dataset (or an older version of this benchmark) may have left other grants.
    QueueUserObjectPermission.objects.filter(user=user).exclude(content_object__in=granted).delete()
    stale = RecordingUserObjectPermission.objects.filter(user=user)
    if single is not None:
        stale = stale.exclude(content_object=single)
    stale.delete()
    return user, {
        "granted_queue_ids": [q.pk for q in granted],
        "single_grant": single.reference if single is not None else None,
        "single_grant_pk": single.pk if single is not None else None,
        "queues": len(queues),
    }


def _middle_recording():
    """A recording from the middle of the table (by id), with its subject."""
    from django.db.models import Max, Min

    from recordings.models import Recording

    bounds = Recording.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        raise RuntimeError("the recordings table is empty")
    middle = (bounds["low"] + bounds["high"]) // 2
    return Recording.objects.filter(pk__gte=middle).select_related("subject").order_by("pk").first()


def page_setup(page: Page) -> tuple[Any, str, Any, dict[str, Any]]:
    """The page's user, its path, and the list it should show, computed without the admin (nor
    the selectors) as the reference to check the page against."""
    from django.db.models import Q

    from recordings.models import Recording

    info: dict[str, Any] = {}
    if page.key == "qa-lead":
        user, info = _qa_lead()
        expected = Recording.objects.filter(
            Q(queue_id__in=info["granted_queue_ids"]) | Q(pk=info["single_grant_pk"]),
            status=Recording.Status.ACTIVE,
        )
        return user, CHANGELIST_URL, expected, info
    user = _superuser()
    if page.key == "superuser":
        return user, CHANGELIST_URL, Recording.objects.all(), info
    if page.key == "filter":
        status = Recording.Status.ACTIVE
        path = f"{CHANGELIST_URL}?{urlencode({'status__exact': status})}"
        return user, path, Recording.objects.filter(status=status), info
    middle = _middle_recording()
    if page.key == "search-recording":
        term = middle.reference
        expected = Recording.objects.filter(reference=term)
    elif page.key == "search-subject":
        term = middle.subject.reference
        expected = Recording.objects.filter(Q(reference=term) | Q(subject_id=middle.subject_id))
    else:
        raise ValueError(f"unknown page {page.key!r}")
    info["term"] = term
    return user, f"{CHANGELIST_URL}?{urlencode({'q': term})}", expected, info


def measure(page: Page, requests: int, warmup: int, captured: int) -> dict[str, Any]:
    import django

    django.setup()

    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user, path, expected, info = page_setup(page)
    expected_total = expected.count()
    expected_refs = list(
        expected.order_by("-started_at", "-pk").values_list("reference", flat=True)[:LIST_PER_PAGE]
    )

    client = Client()
    client.force_login(user)

    def get() -> str:
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} returned {response.status_code}")
        return response.content.decode()

    for _ in range(warmup):
        get()

    timings_ms: list[float] = []
    for _ in range(requests):
        started = time.perf_counter()
        get()
        timings_ms.append((time.perf_counter() - started) * 1000)

    query_counts: list[int] = []
    sql_ms: list[float] = []
    queries: list[str] = []
    html = ""
    for _ in range(captured):
        timer = _SqlTimer()
        with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(timer):
            html = get()
        query_counts.append(len(ctx.captured_queries))
        sql_ms.append(timer.total_ms)
        queries = [q["sql"] for q in ctx.captured_queries]

    # How many recordings rows each query on the table visits, from its actual execution plan.
    rows_read: list[int | None] = []
    with connection.cursor() as cursor:
        for sql in queries:
            if sql.upper().startswith("SELECT") and reads_table(sql):
                cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}")
                plan = cursor.fetchone()[0]
                plan = json.loads(plan) if isinstance(plan, str) else plan
                rows_read.append(table_rows_read(plan[0]["Plan"]))
            else:
                rows_read.append(None)

    refs = ROW_RE.findall(html)
    total = TOTAL_RE.search(html)
    page_index = next((i for i, q in enumerate(queries) if is_page_query(q)), None)
    counts = [
        {"where": not is_full_count(q), "rows_read": rows_read[i]}
        for i, q in enumerate(queries)
        if is_count_query(q)
    ]
    return {
        "database": connection.settings_dict["NAME"],
        "page": page.key,
        "path": path,
        "info": info,
        "requests": requests,
        "median_ms": statistics.median(timings_ms),
        "p90_ms": percentile(timings_ms, 0.9),
        "timings_ms": timings_ms,
        "sql_ms_median": statistics.median(sql_ms),
        "query_count": max(query_counts),
        "query_count_stable": len(set(query_counts)) == 1,
        "paginator_query_count": sum(1 for q in queries if is_estimate_query(q) or is_count_query(q)),
        "full_count": any(is_full_count(q) for q in queries),
        "counts": counts,
        "queries": [redact(q) for q in queries],
        "page_sql": queries[page_index] if page_index is not None else None,
        "page_rows_read": rows_read[page_index] if page_index is not None else None,
        "rows_on_page": len(refs),
        "rows_match": refs == expected_refs,
        "expected_rows": len(expected_refs),
        "total_shown": int(total.group(1)) if total else None,
        "expected_total": expected_total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=sorted(PAGES), default="superuser", help="page to measure")
    parser.add_argument("--requests", type=int, default=30, help="timed GETs (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed GETs first (default 5)")
    parser.add_argument(
        "--captured", type=int, default=3, help="GETs with SQL captured, after timing (default 3)"
    )
    args = parser.parse_args(argv)
    if "DATABASE_URL" not in os.environ:
        parser.error("DATABASE_URL must name the database to measure")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
    result = measure(PAGES[args.page], args.requests, args.warmup, max(1, args.captured))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
