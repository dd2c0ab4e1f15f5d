"""Benchmark of the recordings changelist at 1k, 100k and 1M recordings (`make bench`).

For each size a PostgreSQL database ``custos_bench_<size>`` is created, migrated and filled in
SQL (reused when it already holds the dataset; ``migrate`` runs either way): 50 queues, 200 QA
leads with queue grants and ad-hoc recording grants (50,000 at 1M), purposes, the consent ledger,
an approved assessment and objections (see benchmarks/dataset.py). These pages are measured: the
superuser's first page; a typical QA lead's first page (2 queues, about 250 ad-hoc grants), the
same with 20 rows per page instead of 100, and the first page of the leads with the fewest and
the most ad-hoc grants; the superuser's list filtered by status, and the superuser's search by a
recording's reference and by a subject's reference. Each round measures every page on every
database in a fresh process, the sizes interleaved (1k, 100k, 1M, 1k, ...) so that the machine's
noise hits every size alike, and then ``recording_usable_for`` on one recording per lawful basis
on every database.

Targets, from the issues, for every page: the 1M page within 2x of the 1k page, and a query count
that does not grow with the row count (no exact COUNT(*) over the table on every page). The page
must also show the right rows, and an exact total where the result is small. For the QA lead: at
1M their first page within 1.5x of the superuser's in the same rounds, and a query count that
follows neither the page size nor the grant count; ``recording_usable_for`` at most 3 queries.
Prints one table per page and the comparisons, writes the figures to docs/PERFORMANCE.md, and
exits 1 when a target is missed.

    .venv/bin/python benchmarks/run.py                          # full run, updates the doc
    .venv/bin/python benchmarks/run.py --sizes 1000 --rounds 1  # quick check, doc left alone
    .venv/bin/python benchmarks/run.py --pages superuser,qa-lead --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from benchmarks import dataset, report  # noqa: E402
from benchmarks.measure import LIST_PER_PAGE, PAGES, SMALL_LIST_PER_PAGE, Page, percentile  # noqa: E402
from compliance_site.pagination import EXACT_COUNT_LIMIT  # noqa: E402

DEFAULT_SIZES = (1_000, 100_000, 1_000_000)
DEFAULT_PAGES = tuple(PAGES)
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 2.0
# The QA lead's first page against the superuser's, at the largest size, in the same rounds.
TARGET_QA_LEAD_RATIO = 1.5
# "May R be used for P now?" for one recording.
USABLE_MAX_QUERIES = 3
# The pages whose query counts must be equal: one lead at two page sizes, three leads' grants.
PAGE_SIZE_PAGES = ("qa-lead", "qa-lead-20")
GRANT_COUNT_PAGES = ("qa-lead-few-grants", "qa-lead", "qa-lead-many-grants")
# A COUNT that visits this share of the table's rows is a count of the whole table.
FULL_SCAN_SHARE = 0.9
# The pages whose plan on the largest database always goes into the doc; a page that misses its
# time or query target gets its plan there too (a wrong total is the paginator's, not the plan's).
PLANNED_PAGES = ("superuser", "qa-lead")
DOC_PATH = ROOT / "docs" / "PERFORMANCE.md"


@dataclass
class SizeResult:
    """Every round of one page measured on one database, and what they add up to."""

    db: dataset.BenchDatabase
    prepared: str
    page: Page
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.db.size

    @property
    def round_medians(self) -> list[float]:
        return [r["median_ms"] for r in self.rounds]

    @property
    def median_ms(self) -> float:
        """Median of the rounds' medians."""
        return statistics.median(self.round_medians)

    @property
    def p90_ms(self) -> float:
        """90th percentile over every timed request of every round."""
        return percentile([t for r in self.rounds for t in r["timings_ms"]], 0.9)

    @property
    def sql_ms(self) -> float:
        return statistics.median(r["sql_ms_median"] for r in self.rounds)

    @property
    def query_counts(self) -> set[int]:
        return {r["query_count"] for r in self.rounds}

    @property
    def query_count(self) -> int:
        return max(self.query_counts)

    @property
    def paginator_query_count(self) -> int:
        """Queries of the paginator's counting: the reltuples look-up, EXPLAIN, exact COUNT."""
        return max(r["paginator_query_count"] for r in self.rounds)

    @property
    def other_query_count(self) -> int:
        """Queries of the page besides the paginator's counting (session, user, permissions,
        filters, the page's rows)."""
        return self.query_count - self.paginator_query_count

    @property
    def query_count_stable(self) -> bool:
        return len(self.query_counts) == 1 and all(r["query_count_stable"] for r in self.rounds)

    @property
    def count_rows_read(self) -> int | None:
        """Rows of the table the page's exact COUNT queries visit (None: no exact count)."""
        counts = self.last["counts"]
        if not counts:
            return None
        return sum(c["rows_read"] or 0 for c in counts)

    @property
    def full_count(self) -> bool:
        """A COUNT without WHERE, or one that visits (nearly) every row of the table."""
        return any(r["full_count"] for r in self.rounds) or any(
            (c["rows_read"] or 0) >= FULL_SCAN_SHARE * self.size for r in self.rounds for c in r["counts"]
        )

    @property
    def page_rows_read(self) -> int | None:
        return self.last["page_rows_read"]

    @property
    def last(self) -> dict[str, Any]:
        return self.rounds[-1]


@dataclass
class Verdict:
    page: Page
    time_ok: bool
    queries_ok: bool
    page_ok: bool
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.time_ok and self.queries_ok and self.page_ok


@dataclass
class Comparison:
    """A target that compares pages (or measures something besides a page) rather than sizes."""

    key: str
    title: str
    ok: bool
    notes: list[str]


@dataclass
class UsableResult:
    """Every round of recording_usable_for on one database."""

    db: dataset.BenchDatabase
    rounds: list[dict[str, Any]] = field(default_factory=list)

    @property
    def size(self) -> int:
        return self.db.size

    def cases(self) -> list[dict[str, Any]]:
        """Per case: the queries (most over the rounds), the median of the rounds' medians, and
        whether every answer matched the SQL reference."""
        by_case: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for outcome in self.rounds:
            for case in outcome["cases"]:
                by_case.setdefault((case["basis"], case["case"]), []).append(case)
        out = []
        for (basis, case), runs in by_case.items():
            out.append(
                {
                    "basis": basis,
                    "case": case,
                    "reference": runs[-1]["reference"],
                    "expected": runs[-1]["expected"],
                    "right": all(
                        r["usable_by_code"] == r["expected"] and r["usable_by_object"] == r["expected"]
                        for r in runs
                    ),
                    "queries_by_code": max(r["queries_by_code"] for r in runs),
                    "queries_by_object": max(r["queries_by_object"] for r in runs),
                    "median_ms_by_code": statistics.median(r["median_ms_by_code"] for r in runs),
                    "median_ms_by_object": statistics.median(r["median_ms_by_object"] for r in runs),
                    "sql_by_code": runs[-1]["sql_by_code"],
                }
            )
        return out


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--sizes wants integers like 1000,100000: {exc}") from exc
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("--sizes wants at least one positive integer")
    return sizes


def parse_pages(text: str) -> list[str]:
    wanted = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [key for key in wanted if key not in PAGES]
    if unknown or not wanted:
        raise argparse.ArgumentTypeError(
            f"--pages wants some of {', '.join(PAGES)} (unknown: {', '.join(unknown) or 'none given'})"
        )
    return [key for key in PAGES if key in wanted]


def measure_once(db: dataset.BenchDatabase, page: Page, requests: int, warmup: int) -> dict[str, Any]:
    """One round of one page on one database, in a fresh Python process."""
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        # Production-like request handling; the SQL is captured explicitly where it is counted.
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.measure",
            f"--page={page.key}",
            f"--requests={requests}",
            f"--warmup={warmup}",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"measuring {page.key} on {db.name} failed (exit {result.returncode}):\n{result.stderr}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure_usable_once(db: dataset.BenchDatabase, calls: int, warmup: int) -> dict[str, Any]:
    """One round of recording_usable_for on one database, in a fresh Python process."""
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.measure", "--usable", f"--calls={calls}", f"--warmup={warmup}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"measuring recording_usable_for on {db.name} failed (exit {result.returncode}):\n{result.stderr}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def qa_lead_ratios(results: dict[str, list[SizeResult]]) -> list[dict[str, Any]]:
    """Per size: the QA lead's first page against the superuser's, from the same rounds."""
    if "superuser" not in results or "qa-lead" not in results:
        return []
    out = []
    for su, qa in zip(results["superuser"], results["qa-lead"], strict=True):
        per_round = [q["median_ms"] / s["median_ms"] for s, q in zip(su.rounds, qa.rounds, strict=True)]
        out.append(
            {
                "size": su.size,
                "superuser_ms": su.median_ms,
                "qa_lead_ms": qa.median_ms,
                "ratio": qa.median_ms / su.median_ms,
                "round_ratios": per_round,
                "superuser_sql_ms": su.sql_ms,
                "qa_lead_sql_ms": qa.sql_ms,
            }
        )
    return out


def compare(results: dict[str, list[SizeResult]], usable: list[UsableResult]) -> list[Comparison]:
    """The QA lead's targets that compare pages, and recording_usable_for's."""
    comparisons: list[Comparison] = []
    ratios = qa_lead_ratios(results)
    if ratios:
        largest = ratios[-1]
        ok = largest["ratio"] <= TARGET_QA_LEAD_RATIO
        notes = (
            []
            if ok
            else [
                f"{largest['size']:,} rows: the QA lead's page takes {largest['ratio']:.2f}x the "
                f"superuser's (target <= {TARGET_QA_LEAD_RATIO:g}x)"
            ]
        )
        comparisons.append(Comparison("qa-vs-superuser", "QA lead vs superuser, same rounds", ok, notes))
    for key, title, pages in (
        ("page-size", "QA lead's queries by page size", PAGE_SIZE_PAGES),
        ("grant-count", "QA lead's queries by grant count", GRANT_COUNT_PAGES),
    ):
        if not all(page in results for page in pages):
            continue
        notes = []
        for i, res in enumerate(results[pages[0]]):
            counts = {page: results[page][i].query_count for page in pages}
            if len(set(counts.values())) > 1 or not all(results[p][i].query_count_stable for p in pages):
                notes.append(
                    f"{res.size:,} rows: "
                    + ", ".join(f"{PAGES[p].title}: {n}" for p, n in counts.items())
                    + " queries"
                )
        comparisons.append(Comparison(key, title, not notes, notes))
    if usable:
        notes = []
        for res in usable:
            for case in res.cases():
                label = f"{res.size:,} rows, {case['basis']} ({case['case']})"
                most = max(case["queries_by_code"], case["queries_by_object"])
                if most > USABLE_MAX_QUERIES:
                    notes.append(f"{label}: {most} queries (target <= {USABLE_MAX_QUERIES})")
                if not case["right"]:
                    notes.append(f"{label}: answered otherwise than the access rules in SQL")
        comparisons.append(Comparison("usable", "recording_usable_for", not notes, notes))
    return comparisons


def judge(page: Page, results: list[SizeResult]) -> Verdict:
    """Checks one page's figures against the issue's targets."""
    notes: list[str] = []
    base = results[0]
    time_ok = True
    for res in results[1:]:
        ratio = res.median_ms / base.median_ms
        if ratio > TARGET_RATIO:
            time_ok = False
            notes.append(
                f"{res.size:,} rows: {ratio:.2f}x the {base.size:,}-row page (target <= {TARGET_RATIO:g}x)"
            )

    # Below EXACT_COUNT_LIMIT the paginator counts exactly, above it it estimates (and counts
    # exactly only a small filtered result): its own queries may differ across that limit, the
    # page's other queries may not, and above the limit nothing may differ at all.
    queries_ok = True
    big = [r for r in results if r.size > EXACT_COUNT_LIMIT]
    for res in results:
        if not res.query_count_stable:
            queries_ok = False
            notes.append(f"{res.size:,} rows: query count varies between requests")
    if len({r.other_query_count for r in results}) > 1:
        queries_ok = False
        notes.append(
            "the page's queries besides the paginator's count differ between sizes: "
            + ", ".join(f"{r.size:,}: {r.other_query_count}" for r in results)
        )
    if len({r.query_count for r in big}) > 1:
        queries_ok = False
        notes.append(
            "the query count differs between sizes above the exact-count limit: "
            + ", ".join(f"{r.size:,}: {r.query_count}" for r in big)
        )
    for res in big:
        if res.full_count:
            queries_ok = False
            notes.append(f"{res.size:,} rows: an exact COUNT(*) over the whole table ran")
        elif (res.count_rows_read or 0) > EXACT_COUNT_LIMIT:
            queries_ok = False
            notes.append(
                f"{res.size:,} rows: the exact COUNT visits {res.count_rows_read:,} rows "
                f"(more than the {EXACT_COUNT_LIMIT:,} it is meant for)"
            )

    page_ok = True
    for res in results:
        last = res.last
        if not all(r["rows_match"] for r in res.rounds):
            page_ok = False
            notes.append(
                f"{res.size:,} rows: the page shows {last['rows_on_page']} rows, not the "
                f"{last['expected_rows']} expected first rows of the list"
            )
        expected_total = last["expected_total"]
        if expected_total <= EXACT_COUNT_LIMIT and last["total_shown"] != expected_total:
            page_ok = False
            shown = last["total_shown"]
            notes.append(
                f"{res.size:,} rows: the page claims {f'{shown:,}' if shown is not None else '?'} "
                f"{'result' if shown == 1 else 'results'} where the list has {expected_total:,} "
                f"(a total under {EXACT_COUNT_LIMIT:,} should be exact)"
            )
    return Verdict(page=page, time_ok=time_ok, queries_ok=queries_ok, page_ok=page_ok, notes=notes)


def explain(db: dataset.BenchDatabase, sql: str) -> str:
    """The query's EXPLAIN (ANALYZE, BUFFERS) on a warm cache (the third of three runs)."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        plan: list[tuple[str]] = []
        for _ in range(3):
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
        return "\n".join(line for (line,) in plan)


def count_table_ms(db: dataset.BenchDatabase) -> float:
    """What an exact COUNT(*) of the table costs there (median of 3, warm cache, in ms)."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        count_ms: list[float] = []
        for _ in range(3):
            started = time.perf_counter()
            conn.execute("SELECT count(*) FROM recordings_recording").fetchone()
            count_ms.append((time.perf_counter() - started) * 1000)
        return statistics.median(count_ms)


def environment(server_url: str) -> dict[str, str]:
    """What the figures were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    with psycopg.connect(server_url) as conn:
        (pg_version,) = conn.execute("SHOW server_version").fetchone()
    import django

    return {
        "cores": str(os.cpu_count() or "?"),
        "cpu": cpu,
        "memory": memory,
        "postgres": pg_version.split()[0],
        "python": platform.python_version(),
        "django": django.get_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _rows(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def print_table(page: Page, results: list[SizeResult], rounds: int, requests: int) -> None:
    base = results[0]
    print()
    print(f"{page.title} ({results[-1].last['path']}), {rounds} round(s) x {requests} requests per size")
    header = (
        f"{'recordings':>11} {'median ms':>10} {'p90 ms':>8} {'ratio':>6} {'SQL ms':>7} "
        f"{'queries':>8} {'full COUNT(*)':>14} {'COUNT rows':>11} {'page rows':>10} "
        f"{'total shown':>12} {'actual':>10}  round medians (ms)"
    )
    print(header)
    print("-" * len(header))
    for res in results:
        medians = ", ".join(f"{m:.1f}" for m in res.round_medians)
        shown = res.last["total_shown"]
        print(
            f"{res.size:>11,} {res.median_ms:>10.1f} {res.p90_ms:>8.1f} "
            f"{res.median_ms / base.median_ms:>5.2f}x {res.sql_ms:>7.2f} "
            f"{res.query_count:>8} {'yes' if res.full_count else 'no':>14} "
            f"{_rows(res.count_rows_read):>11} {_rows(res.page_rows_read):>10} "
            f"{_rows(shown):>12} {res.last['expected_total']:>10,}  {medians}"
        )


def print_comparisons(results: dict[str, list[SizeResult]], usable: list[UsableResult]) -> None:
    ratios = qa_lead_ratios(results)
    if ratios:
        print()
        print("QA lead vs superuser, first page, same rounds")
        print(f"{'recordings':>11} {'superuser ms':>13} {'QA lead ms':>11} {'ratio':>6}  round ratios")
        for row in ratios:
            per_round = ", ".join(f"{r:.2f}" for r in row["round_ratios"])
            print(
                f"{row['size']:>11,} {row['superuser_ms']:>13.1f} {row['qa_lead_ms']:>11.1f} "
                f"{row['ratio']:>5.2f}x  {per_round}"
            )
    for title, keys in (("by page size", PAGE_SIZE_PAGES), ("by grant count", GRANT_COUNT_PAGES)):
        if all(key in results for key in keys):
            print()
            print(f"QA lead's query count {title}")
            print(f"{'recordings':>11} " + " ".join(f"{key:>20}" for key in keys))
            for i, res in enumerate(results[keys[0]]):
                print(f"{res.size:>11,} " + " ".join(f"{results[key][i].query_count:>20}" for key in keys))
    for res in usable:
        print()
        print(f"recording_usable_for(recording, quality assurance) on {res.db.name}")
        print(f"{'basis':<21} {'case':<30} {'answer':>7} {'queries':>8} {'median ms':>10}")
        for case in res.cases():
            queries = f"{case['queries_by_code']}/{case['queries_by_object']}"
            median = f"{case['median_ms_by_code']:.2f}/{case['median_ms_by_object']:.2f}"
            answer = ("yes" if case["expected"] else "no") + ("" if case["right"] else "!")
            print(f"{case['basis']:<21} {case['case']:<30} {answer:>7} {queries:>8} {median:>10}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(DEFAULT_SIZES),
        help="recordings per database, comma-separated (default 1000,100000,1000000)",
    )
    parser.add_argument(
        "--pages",
        type=parse_pages,
        default=list(DEFAULT_PAGES),
        help=f"pages to measure, comma-separated (default all: {','.join(DEFAULT_PAGES)})",
    )
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--requests", type=int, default=30, help="timed GETs per round (30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed GETs per round (5)")
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL),
        help="any database URL on the PostgreSQL server to use; the benchmark databases are "
        "created beside it (default $BENCH_DATABASE_URL or " + DEFAULT_SERVER_URL + ")",
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="refill the databases even if they hold the data"
    )
    parser.add_argument(
        "--usable-calls",
        type=int,
        default=200,
        help="timed recording_usable_for calls per case and round (200; 0 skips that measurement)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument(
        "--doc",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the figures to docs/PERFORMANCE.md (default: only with the default sizes and pages)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.requests < 1 or args.warmup < 0 or args.usable_calls < 0:
        parser.error("--rounds and --requests must be at least 1, --warmup and --usable-calls at least 0")
    write_doc = (
        args.doc
        if args.doc is not None
        else args.sizes == list(DEFAULT_SIZES) and args.pages == list(DEFAULT_PAGES) and args.usable_calls > 0
    )
    pages = [PAGES[key] for key in args.pages]

    databases: list[tuple[dataset.BenchDatabase, str]] = []
    for size in args.sizes:
        print(f"Preparing {size:,} recordings ...", flush=True)
        db, note = dataset.prepare(args.server_url, size, regenerate=args.regenerate)
        print(f"  {db.name}: {note}", flush=True)
        databases.append((db, note))
    results: dict[str, list[SizeResult]] = {
        page.key: [SizeResult(db=db, prepared=note, page=page) for db, note in databases] for page in pages
    }
    usable = [UsableResult(db=db) for db, _ in databases] if args.usable_calls else []

    for round_no in range(1, args.rounds + 1):
        for page in pages:
            for res in results[page.key]:
                outcome = measure_once(res.db, page, args.requests, args.warmup)
                res.rounds.append(outcome)
                print(
                    f"round {round_no}/{args.rounds} {page.key:<16} {res.size:>11,} rows: "
                    f"median {outcome['median_ms']:.1f} ms, p90 {outcome['p90_ms']:.1f} ms, "
                    f"{outcome['query_count']} queries",
                    flush=True,
                )
        for res in usable:
            outcome = measure_usable_once(res.db, args.usable_calls, args.warmup)
            res.rounds.append(outcome)
            worst = max(
                (max(c["queries_by_code"], c["queries_by_object"]) for c in outcome["cases"]), default=0
            )
            print(
                f"round {round_no}/{args.rounds} {'usable-for':<16} {res.size:>11,} rows: "
                f"{len(outcome['cases'])} recordings, at most {worst} queries",
                flush=True,
            )

    verdicts = {page.key: judge(page, results[page.key]) for page in pages}
    comparisons = compare(results, usable)
    for page in pages:
        print_table(page, results[page.key], args.rounds, args.requests)
    print_comparisons(results, usable)

    largest_db = databases[-1][0]
    plans: dict[str, str] = {}
    for page in pages:
        page_sql = results[page.key][-1].last["page_sql"]
        verdict = verdicts[page.key]
        if page.key in PLANNED_PAGES or not (verdict.time_ok and verdict.queries_ok):
            plans[page.key] = explain(largest_db, page_sql) if page_sql else "(page query not found)"
    count_ms = count_table_ms(largest_db)
    for key, plan in plans.items():
        print()
        print(f"Page query plan of {PAGES[key].title.lower()} on {largest_db.name}:")
        print(plan)
    print(f"\nAn exact COUNT(*) of {largest_db.size:,} rows takes {count_ms:.1f} ms there.")

    print()
    failed = [v for v in verdicts.values() if not v.ok]
    failed_comparisons = [c for c in comparisons if not c.ok]
    if not failed and not failed_comparisons:
        print("PASS: every target met on every page.")
    else:
        print("FAIL:")
        for verdict in failed:
            for note in verdict.notes:
                print(f"  - {verdict.page.title}: {note}")
        for comparison in failed_comparisons:
            for note in comparison.notes:
                print(f"  - {comparison.title}: {note}")

    if args.json:
        args.json.write_text(json.dumps(report.summary(results, usable), indent=2) + "\n")
    if write_doc:
        section = report.render(
            results=results,
            verdicts=verdicts,
            env=environment(args.server_url),
            rounds=args.rounds,
            requests=args.requests,
            warmup=args.warmup,
            plans=plans,
            count_ms=count_ms,
            target_ratio=TARGET_RATIO,
            exact_count_limit=EXACT_COUNT_LIMIT,
            list_per_page=LIST_PER_PAGE,
            comparisons=comparisons,
            qa_lead_ratios=qa_lead_ratios(results),
            usable=usable,
            target_qa_lead_ratio=TARGET_QA_LEAD_RATIO,
            usable_max_queries=USABLE_MAX_QUERIES,
            small_list_per_page=SMALL_LIST_PER_PAGE,
        )
        report.update_doc(DOC_PATH, section)
        print(f"\nFigures written to {DOC_PATH.relative_to(ROOT)}.")
    return 0 if not failed and not failed_comparisons else 1


if __name__ == "__main__":
    sys.exit(main())
