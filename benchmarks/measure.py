"""One measuring round of one page against one database, run in a fresh process by ``benchmarks/run.py``.

Usage (DATABASE_URL names the database to measure)::

    DATABASE_URL=postgres://... python -m benchmarks.measure --page qa-lead --requests 30 --warmup 5
    DATABASE_URL=postgres://... python -m benchmarks.measure --usable --calls 200

Logs the page's user in with Django's test client (a superuser, or one of the QA leads that
``benchmarks/dataset.py`` generated with their queue and ad-hoc grants), warms the page up, then
times GETs of the recordings changelist page without recording SQL. Afterwards it loads the page a
few more times with the queries captured, to count them and find the page query, runs
``EXPLAIN (ANALYZE)`` on each captured query that reads the recordings table to see how many of
its rows they visit, and checks the page's rows and total against the same list computed
independently of the admin (for a QA lead: the access rules written out again in plain SQL, not
the selectors). Prints one JSON object on stdout.

``--usable`` instead times ``recordings.selectors.recording_usable_for`` for quality assurance on
one recording of each lawful basis (and on the ones consent withdrawals, later refusals and upheld
objections took out), counts its queries and checks its answer against the same SQL rules.
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

from benchmarks.dataset import FEW_GRANTS_QA_LEAD, MANY_GRANTS_QA_LEAD, TYPICAL_QA_LEAD

CHANGELIST_URL = "/admin/recordings/recording/"
BENCH_USERNAME = "bench-superuser"
TABLE = '"recordings_recording"'
LIST_PER_PAGE = 100
# The smaller page the QA lead's page is compared with: the query count must not follow it.
SMALL_LIST_PER_PAGE = 20


@dataclass(frozen=True)
class Page:
    """One kind of changelist page the benchmark measures."""

    key: str
    title: str
    user: str  # "superuser", or the username of a generated QA lead
    description: str
    list_per_page: int = LIST_PER_PAGE

    @property
    def qa_lead(self) -> bool:
        return self.user != "superuser"


_QA_LEAD_RULE = (
    "`recordings_visible_to` shows a recording only when it is in a granted queue or granted "
    "by an unexpired ad-hoc grant, active, within retention, and lawful for quality assurance "
    "now (stated purpose; consent given and not withdrawn nor overtaken by a later refusal, or "
    "an approved assessment and no objection the DPO has not overruled)."
)

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
            TYPICAL_QA_LEAD,
            f"The first page as `{TYPICAL_QA_LEAD}`, a typical generated QA lead: "
            "`review_queue` on 2 of the 50 queues (of 10 at 1k) and about 250 ad-hoc "
            f"`review_recording` grants at 1M (a quarter of them expired). {_QA_LEAD_RULE}",
        ),
        Page(
            "qa-lead-20",
            f"QA lead, first page, {SMALL_LIST_PER_PAGE} per page",
            TYPICAL_QA_LEAD,
            f"The same page of the same lead with `list_per_page = {SMALL_LIST_PER_PAGE}` (set on "
            "the registered `RecordingAdmin` in the measuring process) instead of "
            f"{LIST_PER_PAGE}: the query count must not follow the page size.",
            list_per_page=SMALL_LIST_PER_PAGE,
        ),
        Page(
            "qa-lead-few-grants",
            "QA lead with few ad-hoc grants, first page",
            FEW_GRANTS_QA_LEAD,
            f"The first page as `{FEW_GRANTS_QA_LEAD}`: 2 queues and the fewest ad-hoc grants (10 at 1M).",
        ),
        Page(
            "qa-lead-many-grants",
            "QA lead with many ad-hoc grants, first page",
            MANY_GRANTS_QA_LEAD,
            f"The first page as `{MANY_GRANTS_QA_LEAD}`: 2 queues and the most ad-hoc grants "
            "(1,000 at 1M): the query count must not follow the grant count.",
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

# The access rules of recordings/selectors.py written out again in plain SQL, without the ORM and
# without the selectors, as the reference the QA leads' pages and recording_usable_for are
# checked against. ``r`` is the recording; %(qa)s the quality assurance purpose.
LAWFUL_FOR_QA_SQL = """
EXISTS (
    SELECT 1 FROM recordings_recording_purposes rp
    WHERE rp.recording_id = r.id AND rp.purpose_id = %(qa)s
)
AND CASE r.lawful_basis
    WHEN 'consent' THEN EXISTS (
        SELECT 1 FROM recordings_consent c
        WHERE c.subject_id = r.subject_id AND c.purpose_id = %(qa)s
          AND (c.recording_id = r.id OR c.recording_id IS NULL)
          AND c.decision = 'given' AND c.withdrawn_at IS NULL
          AND NOT EXISTS (
              SELECT 1 FROM recordings_consent later
              WHERE later.subject_id = c.subject_id AND later.purpose_id = %(qa)s
                AND later.decision = 'refused' AND later.captured_at > c.captured_at
          )
    )
    WHEN 'legitimate_interests' THEN EXISTS (
        SELECT 1
        FROM recordings_legitimateinterestassessment a
        JOIN recordings_legitimateinterestassessment_purposes ap
          ON ap.legitimateinterestassessment_id = a.id
        WHERE a.id = r.legitimate_interest_assessment_id AND a.approved_at IS NOT NULL
          AND ap.purpose_id = %(qa)s
    ) AND NOT EXISTS (
        SELECT 1 FROM recordings_objection o
        WHERE o.subject_id = r.subject_id AND o.purpose_id = %(qa)s AND o.decision <> 'overruled'
    )
    ELSE true
END
"""

# A filter on ``r``, the recordings a QA lead may see: a granted queue (directly or through a
# group) or an unexpired ad-hoc grant, active, within retention, lawful for quality assurance.
VISIBLE_TO_LEAD_SQL = f"""
(
    r.queue_id IN (
        SELECT g.content_object_id FROM recordings_queueuserobjectpermission g
        JOIN auth_permission p ON p.id = g.permission_id
        WHERE g.user_id = %(user)s AND p.codename = 'review_queue'
        UNION
        SELECT g.content_object_id FROM recordings_queuegroupobjectpermission g
        JOIN auth_permission p ON p.id = g.permission_id
        JOIN custos_user_groups ug ON ug.group_id = g.group_id
        WHERE ug.user_id = %(user)s AND p.codename = 'review_queue'
    )
    OR r.id IN (
        SELECT g.content_object_id FROM recordings_recordinguserobjectpermission g
        JOIN auth_permission p ON p.id = g.permission_id
        WHERE g.user_id = %(user)s AND p.codename = 'review_recording'
          AND (g.expires_at IS NULL OR g.expires_at > %(now)s)
        UNION
        SELECT g.content_object_id FROM recordings_recordinggroupobjectpermission g
        JOIN auth_permission p ON p.id = g.permission_id
        JOIN custos_user_groups ug ON ug.group_id = g.group_id
        WHERE ug.user_id = %(user)s AND p.codename = 'review_recording'
          AND (g.expires_at IS NULL OR g.expires_at > %(now)s)
    )
)
AND r.status = 'active' AND (r.keep_until IS NULL OR r.keep_until > %(now)s)
AND {LAWFUL_FOR_QA_SQL}
"""

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


def _qa_lead(username: str) -> tuple[Any, dict[str, Any]]:
    """A QA lead generated by benchmarks/dataset.py, and what they were granted."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q
    from django.utils import timezone

    from compliance_site.roles import QA_LEAD
    from recordings.models import QueueUserObjectPermission, RecordingUserObjectPermission

    user = get_user_model().objects.filter(username=username).first()
    if user is None or not user.groups.filter(name=QA_LEAD).exists():
        raise RuntimeError(f"{username} is not a QA lead here: was the database filled by dataset.py?")
    now = timezone.now()
    grants = RecordingUserObjectPermission.objects.filter(user=user, permission__codename="review_recording")
    return user, {
        "username": username,
        "queues": QueueUserObjectPermission.objects.filter(
            user=user, permission__codename="review_queue"
        ).count(),
        "ad_hoc_grants": grants.count(),
        "ad_hoc_grants_unexpired": grants.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).count(),
    }


@dataclass(frozen=True)
class Expected:
    """The list a page should show, computed without the admin: its length and first references."""

    count: Callable[[], int]
    first: Callable[[int], list[str]]


def _expected_from_queryset(queryset) -> Expected:
    return Expected(
        count=queryset.count,
        first=lambda n: list(queryset.order_by("-started_at", "-pk").values_list("reference", flat=True)[:n]),
    )


def _quality_assurance_id() -> int | None:
    from recordings.models import Purpose

    return Purpose.objects.filter(code=Purpose.QUALITY_ASSURANCE).values_list("pk", flat=True).first()


def _expected_for_lead(user) -> Expected:
    """What the QA lead may see, by the access rules in plain SQL (VISIBLE_TO_LEAD_SQL)."""
    from django.db import connection
    from django.utils import timezone

    params = {"user": user.pk, "now": timezone.now(), "qa": _quality_assurance_id()}

    def count() -> int:
        with connection.cursor() as cursor:
            # The planner prices the per-row EXISTS probes high enough to JIT-compile this count,
            # which takes longer than running it; off for this query only (the pages keep the
            # server's setting).
            cursor.execute("SET jit = off")
            try:
                cursor.execute(
                    f"SELECT count(*) FROM recordings_recording r WHERE {VISIBLE_TO_LEAD_SQL}", params
                )
                return cursor.fetchone()[0]
            finally:
                cursor.execute("RESET jit")

    def first(n: int) -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.reference FROM recordings_recording r WHERE {VISIBLE_TO_LEAD_SQL} "
                "ORDER BY r.started_at DESC, r.id DESC LIMIT %(limit)s",
                {**params, "limit": n},
            )
            return [row[0] for row in cursor.fetchall()]

    return Expected(count=count, first=first)


def _middle_recording():
    """A recording from the middle of the table (by id), with its subject."""
    from django.db.models import Max, Min

    from recordings.models import Recording

    bounds = Recording.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        raise RuntimeError("the recordings table is empty")
    middle = (bounds["low"] + bounds["high"]) // 2
    return Recording.objects.filter(pk__gte=middle).select_related("subject").order_by("pk").first()


def page_setup(page: Page) -> tuple[Any, str, Expected, dict[str, Any]]:
    """The page's user, its path, and the list it should show, computed without the admin (nor
    the selectors) as the reference to check the page against."""
    from django.db.models import Q

    from recordings.models import Recording

    info: dict[str, Any] = {}
    if page.qa_lead:
        user, info = _qa_lead(page.user)
        return user, CHANGELIST_URL, _expected_for_lead(user), info
    user = _superuser()
    if page.key == "superuser":
        return user, CHANGELIST_URL, _expected_from_queryset(Recording.objects.all()), info
    if page.key == "filter":
        status = Recording.Status.ACTIVE
        path = f"{CHANGELIST_URL}?{urlencode({'status__exact': status})}"
        return user, path, _expected_from_queryset(Recording.objects.filter(status=status)), info
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
    return user, f"{CHANGELIST_URL}?{urlencode({'q': term})}", _expected_from_queryset(expected), info


def measure(page: Page, requests: int, warmup: int, captured: int) -> dict[str, Any]:
    import django

    django.setup()

    from django.contrib import admin
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from recordings.models import Recording

    # The admin's page size, as the page wants it (RecordingAdmin.list_per_page by default).
    admin.site._registry[Recording].list_per_page = page.list_per_page

    user, path, expected, info = page_setup(page)
    expected_total = expected.count()
    expected_refs = expected.first(page.list_per_page)

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
        "list_per_page": page.list_per_page,
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


# recording_usable_for is timed on the newest recording of each case: (lawful basis, what its
# ledger says, a filter on ``r`` picking such a recording; {lawful} is LAWFUL_FOR_QA_SQL).
USABLE_CASES: tuple[tuple[str, str, str], ...] = (
    ("consent", "consent given", "r.lawful_basis = 'consent' AND {lawful}"),
    (
        "consent",
        "consent withdrawn",
        "r.lawful_basis = 'consent' AND EXISTS (SELECT 1 FROM recordings_consent c WHERE "
        "c.recording_id = r.id AND c.purpose_id = %(qa)s AND c.withdrawn_at IS NOT NULL)",
    ),
    (
        "consent",
        "refused later, for all calls",
        "r.lawful_basis = 'consent' AND EXISTS (SELECT 1 FROM recordings_consent c "
        "JOIN recordings_consent later ON later.subject_id = c.subject_id "
        "AND later.purpose_id = c.purpose_id AND later.recording_id IS NULL "
        "AND later.decision = 'refused' AND later.captured_at > c.captured_at "
        "WHERE c.recording_id = r.id AND c.purpose_id = %(qa)s AND c.decision = 'given')",
    ),
    ("legitimate_interests", "assessment approved", "r.lawful_basis = 'legitimate_interests' AND {lawful}"),
    (
        "legitimate_interests",
        "objection upheld",
        "r.lawful_basis = 'legitimate_interests' AND EXISTS (SELECT 1 FROM recordings_objection o "
        "WHERE o.subject_id = r.subject_id AND o.purpose_id = %(qa)s AND o.decision = 'upheld')",
    ),
    ("contract", "stated purpose", "r.lawful_basis = 'contract'"),
    ("legal_obligation", "stated purpose", "r.lawful_basis = 'legal_obligation'"),
    ("vital_interests", "stated purpose", "r.lawful_basis = 'vital_interests'"),
    ("public_task", "stated purpose", "r.lawful_basis = 'public_task'"),
)


def measure_usable(calls: int, warmup: int) -> dict[str, Any]:
    """Queries and time of ``recording_usable_for(recording, quality assurance)`` per case, with
    the purpose given by its code (as the API and services pass it) and as a Purpose object (as
    the admin's consent story passes it)."""
    import django

    django.setup()

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from recordings.models import Purpose, Recording
    from recordings.selectors import recording_usable_for

    qa_id = _quality_assurance_id()
    if qa_id is None:
        raise RuntimeError("no quality assurance purpose: was the database filled by dataset.py?")
    purpose = Purpose.objects.get(pk=qa_id)
    cases: list[dict[str, Any]] = []
    for basis, case, where in USABLE_CASES:
        condition = where.format(lawful=LAWFUL_FOR_QA_SQL)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT r.id, r.reference, ({LAWFUL_FOR_QA_SQL}) FROM recordings_recording r "
                f"WHERE {condition} ORDER BY r.started_at DESC, r.id DESC LIMIT 1",
                {"qa": qa_id},
            )
            row = cursor.fetchone()
        if row is None:
            continue  # a small dataset may hold no recording of this case
        pk, reference, expected = row
        recording = Recording.objects.get(pk=pk)
        outcome: dict[str, Any] = {"basis": basis, "case": case, "reference": reference, "expected": expected}
        for label, argument in (("code", Purpose.QUALITY_ASSURANCE), ("object", purpose)):
            for _ in range(warmup):
                recording_usable_for(recording, argument)
            timings_ms: list[float] = []
            for _ in range(calls):
                started = time.perf_counter()
                recording_usable_for(recording, argument)
                timings_ms.append((time.perf_counter() - started) * 1000)
            with CaptureQueriesContext(connection) as ctx:
                answer = recording_usable_for(recording, argument)
            outcome[f"usable_by_{label}"] = answer
            outcome[f"queries_by_{label}"] = len(ctx.captured_queries)
            outcome[f"median_ms_by_{label}"] = statistics.median(timings_ms)
            outcome[f"sql_by_{label}"] = [q["sql"] for q in ctx.captured_queries]
        cases.append(outcome)
    return {"database": connection.settings_dict["NAME"], "calls": calls, "cases": cases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--page", choices=sorted(PAGES), default="superuser", help="page to measure")
    parser.add_argument(
        "--usable", action="store_true", help="measure recording_usable_for instead of a page"
    )
    parser.add_argument("--calls", type=int, default=200, help="timed calls per case with --usable (200)")
    parser.add_argument("--requests", type=int, default=30, help="timed GETs (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed GETs first (default 5)")
    parser.add_argument(
        "--captured", type=int, default=3, help="GETs with SQL captured, after timing (default 3)"
    )
    args = parser.parse_args(argv)
    if "DATABASE_URL" not in os.environ:
        parser.error("DATABASE_URL must name the database to measure")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
    if args.usable:
        result = measure_usable(max(1, args.calls), args.warmup)
    else:
        result = measure(PAGES[args.page], args.requests, args.warmup, max(1, args.captured))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
