"""Benchmark of the superuser's recordings changelist at 1k, 100k and 1M recordings (`make bench`).

For each size a PostgreSQL database ``custos_bench_<size>`` is created, migrated and filled in
SQL (reused when it already holds the dataset). Each round then measures the first page of
``/admin/recordings/recording/`` in a fresh process per database, the sizes interleaved
(1k, 100k, 1M, 1k, ...) so that the machine's noise hits every size alike.

Targets, from the issue: the 1M page within 2x of the 1k page, and a query count that does not
grow with the row count (no exact COUNT(*) over the table on every page). Prints a table, writes
the figures to docs/PERFORMANCE.md, and exits 1 when a target is missed.

    .venv/bin/python benchmarks/run.py                          # full run, updates the doc
    .venv/bin/python benchmarks/run.py --sizes 1000 --rounds 1  # quick check, doc left alone
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
from benchmarks.measure import CHANGELIST_URL, percentile  # noqa: E402
from compliance_site.pagination import EXACT_COUNT_LIMIT  # noqa: E402

DEFAULT_SIZES = (1_000, 100_000, 1_000_000)
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
TARGET_RATIO = 2.0
LIST_PER_PAGE = 100
DOC_PATH = ROOT / "docs" / "PERFORMANCE.md"


@dataclass
class SizeResult:
    """Every round measured on one database, and what they add up to."""

    db: dataset.BenchDatabase
    prepared: str
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
    def query_count_stable(self) -> bool:
        return len(self.query_counts) == 1 and all(r["query_count_stable"] for r in self.rounds)

    @property
    def full_count(self) -> bool:
        return any(r["full_count"] for r in self.rounds)

    @property
    def last(self) -> dict[str, Any]:
        return self.rounds[-1]


@dataclass
class Verdict:
    time_ok: bool
    queries_ok: bool
    page_ok: bool
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.time_ok and self.queries_ok and self.page_ok


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--sizes wants integers like 1000,100000: {exc}") from exc
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("--sizes wants at least one positive integer")
    return sizes


def measure_once(db: dataset.BenchDatabase, requests: int, warmup: int) -> dict[str, Any]:
    """One round on one database, in a fresh Python process."""
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
        raise RuntimeError(f"measuring {db.name} failed (exit {result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def judge(results: list[SizeResult]) -> Verdict:
    """Checks the figures against the issue's targets."""
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

    queries_ok = True
    big = [r for r in results if r.size > EXACT_COUNT_LIMIT]
    for res in results:
        if not res.query_count_stable:
            queries_ok = False
            notes.append(f"{res.size:,} rows: query count varies between requests")
    for res in big:
        if res.full_count:
            queries_ok = False
            notes.append(f"{res.size:,} rows: an exact COUNT(*) over the whole table ran")
        if res.query_count > base.query_count:
            queries_ok = False
            notes.append(
                f"{res.size:,} rows: {res.query_count} queries, more than the "
                f"{base.query_count} at {base.size:,} rows"
            )
    if len({r.query_count for r in big}) > 1:
        queries_ok = False
        notes.append("the query count differs between sizes above the exact-count limit")

    page_ok = True
    for res in results:
        expected = min(res.size, LIST_PER_PAGE)
        if res.last["rows_on_page"] != expected:
            page_ok = False
            notes.append(
                f"{res.size:,} rows: page shows {res.last['rows_on_page']} rows, expected {expected}"
            )
    return Verdict(time_ok=time_ok, queries_ok=queries_ok, page_ok=page_ok, notes=notes)


def explain(db: dataset.BenchDatabase, page_sql: str) -> tuple[str, float]:
    """The page query's EXPLAIN (ANALYZE, BUFFERS) on a warm cache, and what an exact COUNT(*)
    of the table would cost there (median of 3, in ms)."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        plan: list[tuple[str]] = []
        for _ in range(3):
            plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {page_sql}").fetchall()
        count_ms: list[float] = []
        for _ in range(3):
            started = time.perf_counter()
            conn.execute("SELECT count(*) FROM recordings_recording").fetchone()
            count_ms.append((time.perf_counter() - started) * 1000)
        return "\n".join(line for (line,) in plan), statistics.median(count_ms)


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


def print_table(results: list[SizeResult], rounds: int, requests: int) -> None:
    base = results[0]
    print()
    print(
        f"Recordings changelist, first page ({CHANGELIST_URL}), superuser, "
        f"{rounds} round(s) x {requests} requests per size"
    )
    header = (
        f"{'recordings':>11} {'median ms':>10} {'p90 ms':>8} {'ratio':>6} {'SQL ms':>7} "
        f"{'queries':>8} {'full COUNT(*)':>14} {'total shown':>12}  round medians (ms)"
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
            f"{shown if shown is not None else '?':>12}  {medians}"
        )


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
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument(
        "--doc",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the figures to docs/PERFORMANCE.md (default: only with the default sizes)",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.requests < 1 or args.warmup < 0:
        parser.error("--rounds and --requests must be at least 1, --warmup at least 0")
    write_doc = args.doc if args.doc is not None else args.sizes == list(DEFAULT_SIZES)

    results: list[SizeResult] = []
    for size in args.sizes:
        print(f"Preparing {size:,} recordings ...", flush=True)
        db, note = dataset.prepare(args.server_url, size, regenerate=args.regenerate)
        print(f"  {db.name}: {note}", flush=True)
        results.append(SizeResult(db=db, prepared=note))

    for round_no in range(1, args.rounds + 1):
        for res in results:
            outcome = measure_once(res.db, args.requests, args.warmup)
            res.rounds.append(outcome)
            print(
                f"round {round_no}/{args.rounds} {res.size:>11,} rows: "
                f"median {outcome['median_ms']:.1f} ms, p90 {outcome['p90_ms']:.1f} ms, "
                f"{outcome['query_count']} queries",
                flush=True,
            )

    print_table(results, args.rounds, args.requests)
    verdict = judge(results)
    largest = results[-1]
    page_sql = largest.last["page_sql"]
    plan, count_ms = explain(largest.db, page_sql) if page_sql else ("(page query not found)", 0.0)
    print()
    print(f"Page query plan on {largest.db.name}:")
    print(plan)
    print(f"\nAn exact COUNT(*) of {largest.size:,} rows takes {count_ms:.1f} ms there.")

    print()
    if verdict.ok:
        print("PASS: every target met.")
    else:
        print("FAIL:")
        for note in verdict.notes:
            print(f"  - {note}")

    if args.json:
        args.json.write_text(json.dumps(report.summary(results), indent=2) + "\n")
    if write_doc:
        section = report.render(
            results=results,
            verdict=verdict,
            env=environment(args.server_url),
            rounds=args.rounds,
            requests=args.requests,
            warmup=args.warmup,
            page_sql=page_sql or "",
            plan=plan,
            count_ms=count_ms,
            target_ratio=TARGET_RATIO,
            exact_count_limit=EXACT_COUNT_LIMIT,
        )
        report.update_doc(DOC_PATH, section)
        print(f"\nFigures written to {DOC_PATH.relative_to(ROOT)}.")
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
