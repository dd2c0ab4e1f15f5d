"""Benchmark of retention: the sweep of 100,000 expired recordings and a reminder tick over 1,000,000
requests (`make bench`).

A PostgreSQL database ``custos_bench_retention`` is created afresh and migrated, and a temporary
folder holds the recordings storage (``FileSystemStorage``, as a local deployment has it) and the
keyring (``CUSTOS_VAR_DIR``). Then:

1. **Sweep.** Before every timed run the dataset is rebuilt in SQL: 100,000 expired recordings
   (each with its recording key, its subject and subject key, its purpose) that the sweep must
   delete, and 12,000 it must keep (1% under a subject's legal hold, 1% waiting for a
   disposition review, 10% not yet expired), and one 64 KiB file per recording in the storage,
   flushed to disk. In each round, side by side and in alternating order, so that the noise of
   a shared machine hits both:
   (a) Custos: ``retention_sweep(now=...)`` with the default batch size (key shredded, chained
       audit event, tombstone, recording marked erased, history rows, blob deleted and confirmed);
   (b) baseline: the same rows selected in one SQL statement, one bulk ``DELETE`` per table
       (purposes, keys, recordings) in one transaction, then ``os.unlink`` of every blob.
   Both are checked afterwards (rows, keys, tombstones, events, history, files left).
   Target: Custos's time within 3x of the baseline's (the median of the rounds' ratios).
   The statements of sweeps of 1,000, 5,000 and 20,000 recordings are counted (by kind) and those
   of the timed sweeps: the queries per 1,000 deletions must not grow with the sweep (spread of
   at most 1%). One sweep of 5,000 runs under cProfile: where the time goes.
2. **Reminder tick.** 1,000,000 data-subject requests in SQL (99% closed over ten years, 1% open
   with deadlines spread from 60 days ago to 60 days ahead, a tenth of them extended), then
   ``reminders_send_due(now=...)`` once per round (locmem e-mail backend; the reminders are
   emptied between rounds): its time, statements and reminders sent, a second tick at the same
   ``now`` (which must send none), and ``EXPLAIN (ANALYZE, BUFFERS)`` of its query. Target: the
   query uses an index, no sequential scan of the requests.

Prints the figures, writes them to docs/PERFORMANCE.md (full run only), exits 1 when a target is
missed. The database and the temporary folder (about 7.5 GB of blobs) are removed at the end.

    .venv/bin/python benchmarks/retention.py            # full run, 3 rounds, updates the doc
    .venv/bin/python benchmarks/retention.py --quick    # small sizes, 1 round: does it work? doc untouched
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from benchmarks import dataset, report, retention_report  # noqa: E402

DB_NAME = "custos_bench_retention"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DOC_PATH = ROOT / "docs" / "PERFORMANCE.md"
GIB = 1024**3

TARGET_SWEEP_RATIO = 3.0  # Custos's sweep time over the baseline's, at most
# Statements per 1,000 deletions beyond a sweep's fixed ones: (max - min) / min across sweep sizes
# (multiples of the batch size, so every batch is full), at most.
TARGET_QUERY_SPREAD = 0.01
DISK_HEADROOM = 2 * GIB  # left free besides the blobs (WAL, the database, other users of the disk)
BLOB_FOOTPRINT = 64 * 1024 + 4096  # a blob's bytes on disk, with its inode and directory entry


@dataclass(frozen=True)
class Scale:
    """Sizes and repetitions of one run."""

    sweep: int = 100_000  # expired recordings the timed sweeps delete
    query_sizes: tuple[int, ...] = (1_000, 5_000, 20_000)  # sweeps whose statements are counted
    profile: int = 5_000  # the sweep run under cProfile
    # Recordings erased by earlier sweeps ahead of the batch query, probed with EXPLAIN ANALYZE.
    batch_probe: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    requests: int = 1_000_000  # data-subject requests of the reminder tick
    open_share: float = 0.01  # of them open
    rounds: int = 3


FULL = Scale()
QUICK = Scale(
    sweep=2_000,
    query_sizes=(500, 1_000, 1_500),
    profile=500,
    batch_probe=(1_000, 10_000),
    requests=20_000,
    rounds=1,
)


@dataclass
class Results:
    """Every round's figures (plain data, for the tables, the verdicts and JSON)."""

    sweep: list[dict[str, Any]] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)
    profile: dict[str, Any] = field(default_factory=dict)
    batch_query: list[dict[str, Any]] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)
    ticks: list[dict[str, Any]] = field(default_factory=list)
    repeat_tick: dict[str, Any] = field(default_factory=dict)
    explain: dict[str, Any] = field(default_factory=dict)
    due: int = 0
    disk: dict[str, Any] = field(default_factory=dict)
    sweep_size: int = 0
    scaled_from: int | None = None  # the size asked for, when the disk could not hold it
    batch_size: int = 0
    unlink_probe: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # said in the doc under "How it is measured"
    seconds: float = 0.0


@dataclass
class Verdict:
    key: str
    title: str
    measured: str
    target: str
    ok: bool | None  # None: informational


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _seconds(value: float) -> str:
    return f"{value:,.0f} s" if value >= 10 else f"{value:.1f} s"


# --- Set-up --------------------------------------------------------------------------------------


def recreate_database(server_url: str) -> str:
    with psycopg.connect(dataset.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    return dataset.with_database(server_url, DB_NAME)


def drop_database(server_url: str) -> None:
    with psycopg.connect(dataset.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))


def bench_environment(var_dir: Path, db_url: str) -> dict[str, str]:
    """The settings of this process (compliance_site.settings)."""
    return {
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "CUSTOS_ENV": "development",
        "DATABASE_URL": db_url,
        "CUSTOS_VAR_DIR": str(var_dir),
        "CUSTOS_KEYRING_PATH": str(var_dir / "keyring.json"),
        "KEY_PROVIDER": "local",
        "RECORDINGS_STORAGE": "local",
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }


def disk_of(path: Path) -> dict[str, Any]:
    """Free space, and the file system the blobs live on (from /proc/mounts)."""
    usage = shutil.disk_usage(path)
    device, fstype, options, mountpoint = "?", "?", "", "/"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            mount = parts[1]
            inside = str(path) == mount or str(path).startswith(mount.rstrip("/") + "/")
            if inside and len(mount) >= len(mountpoint):
                device, mountpoint, fstype, options = parts[0], mount, parts[2], parts[3]
    return {
        "free_bytes": usage.free,
        "total_bytes": usage.total,
        "device": device,
        "mountpoint": mountpoint,
        "fstype": fstype,
        "options": options,
    }


def fitting_size(asked: int, free_bytes: int) -> int:
    """The largest sweep size (a multiple of 10,000, or ``asked``) whose blobs fit on the disk."""
    from benchmarks.retention_dataset import Layout

    def needed(size: int) -> int:
        return Layout(size).total * BLOB_FOOTPRINT + DISK_HEADROOM

    if needed(asked) <= free_bytes:
        return asked
    size = asked - asked % 10_000
    while size > 10_000 and needed(size) > free_bytes:
        size -= 10_000
    return size


# --- The measurements ------------------------------------------------------------------------------


def round_sweep(rm: Any, size: int, now: Any, round_no: int) -> dict[str, Any]:
    """Both variants on a freshly rebuilt dataset each, in this round's order."""
    order = ("custos", "baseline") if round_no % 2 else ("baseline", "custos")
    layout = rm.Layout(size)
    figures: dict[str, Any] = {"round": round_no, "order": list(order)}
    for variant in order:
        prepared = rm.fill(layout, now)
        roundtrip_us = rm.roundtrip_probe()
        run = rm.run_custos(layout, now) if variant == "custos" else rm.run_baseline(layout, now)
        figures[variant] = {**run, "fill": prepared, "roundtrip_us": roundtrip_us}
    figures["ratio"] = figures["custos"]["seconds"] / figures["baseline"]["seconds"]
    return figures


def query_scaling(rm: Any, sizes: tuple[int, ...], now: Any) -> list[dict[str, Any]]:
    """Sweeps of each size with their statements counted by kind (untimed figures: the counting
    classifies every statement)."""
    out = []
    for size in sizes:
        layout = rm.Layout(size)
        rm.fill(layout, now)
        roundtrip_us = rm.roundtrip_probe()
        run = rm.run_custos(layout, now, by_kind=True)
        out.append({"size": size, **run, "roundtrip_us": roundtrip_us})
        print(
            f"  sweep of {size:,}: {run['queries']:,} statements ({run['fixed_queries']} fixed) in "
            f"{run['seconds']:.1f} s",
            flush=True,
        )
    return out


def unlink_probe(location: Path, files: int = 500) -> dict[str, Any]:
    """What one unlink costs on this disk: 64 KiB files flushed to disk against files still in the
    page cache (not yet allocated). Explains the baseline's unlink time."""
    probe = location / "unlink-probe"
    probe.mkdir(parents=True, exist_ok=True)
    blob = os.urandom(64 * 1024)
    out = {}
    for label, flush in (("flushed", True), ("cached", False)):
        for number in range(files):
            (probe / str(number)).write_bytes(blob)
        if flush:
            os.sync()
        started = time.perf_counter()
        for number in range(files):
            os.unlink(probe / str(number))
        out[f"{label}_us"] = (time.perf_counter() - started) / files * 1e6
    probe.rmdir()
    os.sync()
    return out


# --- Verdicts and summary -------------------------------------------------------------------------


def per_thousand(run: dict[str, Any]) -> float:
    """Statements per 1,000 deletions, the sweep's fixed statements (those of a sweep with
    nothing to delete) left out: what grows with the deletions."""
    return (run["queries"] - run["fixed_queries"]) / run["deleted"] * 1000


def scaling_points(results: Results) -> list[dict[str, Any]]:
    """(size, statements, per 1,000) of the counted sweeps and of the timed Custos sweeps."""
    runs = [*results.scaling, *(r["custos"] for r in results.sweep)]
    return [
        {"size": run["deleted"], "queries": run["queries"], "per_1000": per_thousand(run)} for run in runs
    ]


def verdicts(results: Results, scale: Scale) -> list[Verdict]:
    size = results.sweep_size
    ratio = _median([r["ratio"] for r in results.sweep])
    custos_s = _median([r["custos"]["seconds"] for r in results.sweep])
    baseline_s = _median([r["baseline"]["seconds"] for r in results.sweep])
    points = scaling_points(results)
    rates = [p["per_1000"] for p in points]
    spread = (max(rates) - min(rates)) / min(rates)
    sizes = sorted({p["size"] for p in points})
    tick_s = _median([t["seconds"] for t in results.ticks])
    tick = results.ticks[-1]
    scaled = f" (scaled down from {results.scaled_from:,}: disk)" if results.scaled_from else ""
    explain = results.explain
    return [
        Verdict(
            "sweep",
            f"Sweep of {size:,} expired recordings{scaled}: Custos time / baseline time",
            f"{ratio:.2f}x ({_seconds(custos_s)} = {size / custos_s:,.0f}/s vs {_seconds(baseline_s)} = "
            f"{size / baseline_s:,.0f}/s)",
            f"<= {TARGET_SWEEP_RATIO:g}x",
            ratio <= TARGET_SWEEP_RATIO,
        ),
        Verdict(
            "queries",
            "Statements per 1,000 deletions beyond a sweep's fixed ones, sweeps of "
            + ", ".join(f"{s:,}" for s in sizes),
            f"{min(rates):,.1f} to {max(rates):,.1f} (spread {spread:.2%})",
            f"constant (spread <= {TARGET_QUERY_SPREAD:.0%})",
            spread <= TARGET_QUERY_SPREAD,
        ),
        Verdict(
            "index",
            f"Reminder tick over {results.requests['rows']:,} requests: its query's plan",
            (
                "sequential scan of the requests"
                if explain["seq_scan"]
                else "no sequential scan of the requests"
            )
            + (
                "; index " + ", ".join(f"`{i}`" for i in explain["indexes"])
                if explain["indexes"]
                else "; no index"
            ),
            "an index, no sequential scan",
            bool(explain["indexes"]) and not explain["seq_scan"],
        ),
        Verdict(
            "tick",
            f"Reminder tick over {results.requests['rows']:,} requests ({results.requests['open']:,} open)",
            f"{tick_s:.1f} s, {tick['queries']:,} statements, {tick['sent']:,} reminders sent",
            "informational",
            None,
        ),
    ]


def print_summary(results: Results, found: list[Verdict]) -> None:
    print()
    print(
        "round  order              Custos s  Custos/s  baseline s (SQL + unlink)  baseline/s  Custos/baseline"
    )
    for r in results.sweep:
        c, b = r["custos"], r["baseline"]
        print(
            f"{r['round']:>5}  {'/'.join(r['order']):<17}  {c['seconds']:>8.1f}  "
            f"{c['deleted'] / c['seconds']:>8,.0f}  "
            f"{b['seconds']:>8.1f} ({b['sql_seconds']:.1f} + {b['unlink_seconds']:.1f})"
            f"{'':>6}  {b['deleted'] / b['seconds']:>10,.0f}  {r['ratio']:>15.2f}"
        )
    print()
    print("sweep size  statements  per 1,000 deletions  seconds  ms per deletion")
    for p, s in zip(
        scaling_points(results), [*results.scaling, *[r["custos"] for r in results.sweep]], strict=True
    ):
        print(
            f"{p['size']:>10,}  {p['queries']:>10,}  {p['per_1000']:>19,.1f}  {s['seconds']:>7.1f}  "
            f"{s['seconds'] / p['size'] * 1000:>15.2f}"
        )
    if results.profile:
        print()
        print(
            f"Where a sweep's time goes (cProfile of {results.profile['deleted']:,} deletions, cumulative):"
        )
        for part in results.profile["parts"]:
            print(f"  {part['ms']:9.0f} ms {part['share']:6.1%}  {part['part']}")
    print()
    for t in results.ticks:
        print(
            f"reminder tick: {t['sent']:,} sent ({t['emails']:,} e-mails) in {t['seconds']:.1f} s, "
            f"{t['queries']:,} statements"
        )
    print(
        f"second tick at the same now: {results.repeat_tick['sent']} sent, "
        f"{results.repeat_tick['queries']:,} statements, {results.repeat_tick['seconds']:.1f} s"
    )
    print(results.explain["plan"])
    print()
    for verdict in found:
        state = "info" if verdict.ok is None else ("met" if verdict.ok else "MISSED")
        print(f"[{state:>6}] {verdict.title}: {verdict.measured} (target {verdict.target})")


# --- Main ------------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that the finally block cleans up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round: a check that it works")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, --quick 1)")
    parser.add_argument(
        "--size", type=int, help="expired recordings of the timed sweeps (default 100,000, --quick 2,000)"
    )
    parser.add_argument(
        "--requests", type=int, help="requests of the reminder tick (default 1,000,000, --quick 20,000)"
    )
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL),
        help="any database URL on the PostgreSQL server to use; custos_bench_retention is created "
        "beside it (default $BENCH_DATABASE_URL or " + DEFAULT_SERVER_URL + ")",
    )
    parser.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    parser.add_argument(
        "--doc",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="write the figures to docs/PERFORMANCE.md (default: on a full run, not with --quick)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the database and the temporary folder afterwards"
    )
    args = parser.parse_args(argv)
    base = QUICK if args.quick else FULL
    scale = Scale(
        **{
            **asdict(base),
            "rounds": args.rounds or base.rounds,
            "sweep": args.size or base.sweep,
            "requests": args.requests or base.requests,
        }
    )
    if scale.rounds < 1 or scale.sweep < 100 or scale.requests < 1_000:
        parser.error("--rounds must be at least 1, --size at least 100, --requests at least 1,000")
    write_doc = args.doc if args.doc is not None else not args.quick
    command = ".venv/bin/python benchmarks/retention.py" + (" --quick" if args.quick else "")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="custos-bench-retention-"))
    results = Results()
    results.disk = disk_of(workdir)
    size = fitting_size(scale.sweep, results.disk["free_bytes"])
    if size != scale.sweep:
        results.scaled_from = scale.sweep
        print(
            f"Only {results.disk['free_bytes'] / GIB:.1f} GiB free on {results.disk['mountpoint']}: the "
            f"blobs of {scale.sweep:,} recordings do not fit, so the timed sweeps delete {size:,}.",
            flush=True,
        )
    if size < 1_000:
        print("Not enough disk for a meaningful sweep; giving up.", file=sys.stderr)
        return 1
    results.sweep_size = size
    print(f"Preparing {DB_NAME} and {workdir} ...", flush=True)
    db_url = recreate_database(args.server_url)
    os.environ.update(bench_environment(workdir / "var", db_url))
    try:
        started = time.perf_counter()
        dataset.migrate(dataset.BenchDatabase(size=0, name=DB_NAME, url=db_url))
        import django

        django.setup()
        from django.conf import settings

        from benchmarks import retention_measure as rm

        results.batch_size = settings.RETENTION_SWEEP_BATCH_SIZE
        now = rm.now()
        location = rm.storage_location()
        location.mkdir(parents=True, exist_ok=True)
        results.unlink_probe = unlink_probe(location)
        print(
            f"  migrated in {time.perf_counter() - started:.0f} s; one unlink costs "
            f"{results.unlink_probe['flushed_us']:,.0f} us (file on disk) / "
            f"{results.unlink_probe['cached_us']:,.0f} us (page cache only)",
            flush=True,
        )

        print("Statements of sweeps of " + ", ".join(f"{s:,}" for s in scale.query_sizes), flush=True)
        results.scaling = query_scaling(rm, scale.query_sizes, now)

        for round_no in range(1, scale.rounds + 1):
            figures = round_sweep(rm, size, now, round_no)
            results.sweep.append(figures)
            c, b = figures["custos"], figures["baseline"]
            print(
                f"round {round_no}/{scale.rounds} sweep of {size:,}: Custos {c['seconds']:.1f} s "
                f"({c['queries']:,} statements), baseline {b['seconds']:.1f} s "
                f"(SQL {b['sql_seconds']:.1f} s, "
                f"unlink {b['unlink_seconds']:.1f} s): {figures['ratio']:.2f}x",
                flush=True,
            )

        print(f"cProfile of a sweep of {scale.profile:,} ...", flush=True)
        results.profile = rm.profile_sweep(rm.Layout(scale.profile), now)
        for erased in scale.batch_probe:
            probe = rm.batch_query_probe(erased, now)
            results.batch_query.append(probe)
            print(
                f"batch query behind {probe['erased']:,} erased recordings: {probe['ms']:,.1f} ms "
                f"({probe['rows_removed']:,} rows filtered out)",
                flush=True,
            )

        print(f"Filling {scale.requests:,} requests ...", flush=True)
        results.requests = rm.fill_requests(scale.requests, scale.open_share, now)
        results.due = rm.due_for_reminder_count(now)
        results.explain = rm.reminder_explain(now)
        for round_no in range(1, scale.rounds + 1):
            rm.reminders_reset()
            tick = rm.reminder_tick(now)
            results.ticks.append(tick)
            print(
                f"round {round_no}/{scale.rounds} reminder tick: {tick['sent']:,} sent in "
                f"{tick['seconds']:.1f} s, "
                f"{tick['queries']:,} statements",
                flush=True,
            )
        results.repeat_tick = rm.reminder_tick(now)
        if results.repeat_tick["sent"]:
            raise RuntimeError(f"a second tick at the same now sent {results.repeat_tick['sent']} reminders")

        results.seconds = time.perf_counter() - started
        found = verdicts(results, scale)
        print_summary(results, found)
        missed = [v for v in found if v.ok is False]
        print()
        print(
            "PASS: every retention target met."
            if not missed
            else "FAIL: " + "; ".join(v.title for v in missed)
        )
        if args.json:
            args.json.write_text(json.dumps(asdict(results), indent=2, default=str) + "\n")
        if write_doc:
            from benchmarks.run import environment

            section = retention_report.render(
                results=results,
                verdicts=found,
                env=environment(args.server_url),
                scale=scale,
                command=command,
                now=now,
            )
            report.update_doc(DOC_PATH, section, begin=retention_report.BEGIN, end=retention_report.END)
            print(f"\nFigures written to {DOC_PATH.relative_to(ROOT)}.")
        return 1 if missed else 0
    finally:
        if args.json and not args.json.exists():  # a run that failed half-way: what it measured
            with contextlib.suppress(Exception):
                args.json.write_text(json.dumps(asdict(results), indent=2, default=str) + "\n")
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if args.keep:
            print(f"Kept {DB_NAME} and {workdir}.")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            with contextlib.suppress(psycopg.Error):
                drop_database(args.server_url)


if __name__ == "__main__":
    sys.exit(main())
