"""One measuring round against one database, run in a fresh process by ``benchmarks/run.py``.

Usage (DATABASE_URL names the database to measure)::

    DATABASE_URL=postgres://... python -m benchmarks.measure --requests 30 --warmup 5

Logs a superuser in with Django's test client, warms the page up, then times GETs of the
recordings changelist (first page, default ordering) without recording SQL, and afterwards loads
it a few more times with the queries captured to count them and find the page query. Prints one
JSON object on stdout.
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
from typing import Any

CHANGELIST_URL = "/admin/recordings/recording/"
BENCH_USERNAME = "bench-superuser"
TABLE = '"recordings_recording"'

# The admin renders one action checkbox per row (a superuser has actions), and the total
# under the list.
ROW_MARKER = 'name="_selected_action"'
TOTAL_RE = re.compile(r'<p class="paginator">.*?(\d+)\s+recordings?', re.S)
SESSION_KEY_RE = re.compile(r"session_key\" = '[^']*'")


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def is_full_count(sql: str) -> bool:
    """True for a COUNT over the recordings table with no WHERE: a scan of every row."""
    upper = sql.upper()
    return "COUNT(" in upper and f"FROM {TABLE.upper()}" in upper and " WHERE " not in upper


def is_page_query(sql: str) -> bool:
    upper = sql.upper()
    return upper.startswith("SELECT") and f"FROM {TABLE.upper()}" in upper and " LIMIT " in upper


def redact(sql: str) -> str:
    """Hides the session key, the only secret a captured query of this page carries."""
    return SESSION_KEY_RE.sub("session_key\" = '<redacted>'", sql)


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


def measure(requests: int, warmup: int, captured: int, path: str = CHANGELIST_URL) -> dict[str, Any]:
    import django

    django.setup()

    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=BENCH_USERNAME)
    if not (user.is_superuser and user.is_staff and user.is_active):
        user.is_superuser = user.is_staff = user.is_active = True
        user.set_unusable_password()
        user.save()

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

    total = TOTAL_RE.search(html)
    page_queries = [q for q in queries if is_page_query(q)]
    return {
        "database": connection.settings_dict["NAME"],
        "path": path,
        "requests": requests,
        "median_ms": statistics.median(timings_ms),
        "p90_ms": percentile(timings_ms, 0.9),
        "timings_ms": timings_ms,
        "sql_ms_median": statistics.median(sql_ms),
        "query_count": max(query_counts),
        "query_count_stable": len(set(query_counts)) == 1,
        "full_count": any(is_full_count(q) for q in queries),
        "queries": [redact(q) for q in queries],
        "page_sql": page_queries[0] if page_queries else None,
        "rows_on_page": html.count(ROW_MARKER),
        "total_shown": int(total.group(1)) if total else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="timed GETs (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed GETs first (default 5)")
    parser.add_argument(
        "--captured", type=int, default=3, help="GETs with SQL captured, after timing (default 3)"
    )
    parser.add_argument("--path", default=CHANGELIST_URL, help=f"page to measure (default {CHANGELIST_URL})")
    args = parser.parse_args(argv)
    if "DATABASE_URL" not in os.environ:
        parser.error("DATABASE_URL must name the database to measure")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
    result = measure(args.requests, args.warmup, max(1, args.captured), args.path)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
