"""Benchmark of access packages (Art. 15): building the ZIP of a subject's recordings (`make bench`).

A PostgreSQL database ``custos_bench_package`` is created afresh and migrated, and a temporary
folder holds the recordings storage and the local keyring (``CUSTOS_VAR_DIR``). One subject gets
500 calls of 5 MB (distinct noise each, each encrypted by ``audio_store`` under its own recording
key, with its consent) and an access request; the plaintext WAVs stay in the folder. Each round
then measures, side by side and in alternating order so that the noise of a shared machine hits
both:

1. ``package_build`` of the subject's access package (2.5 GB: manifest, summary, every recording
   decrypted into a streamed ZIP, the ZIP encrypted into the recordings storage), against the same
   plaintext audio written into a ``zipfile.ZipFile(..., ZIP_STORED)`` archive on the same disk.
   Target: Custos at least 50% of zipfile's MB/s;
2. the peak memory of building the package in a fresh process: tracemalloc's peak and the growth
   of ru_maxrss. Target: both under 64 MiB.

After the rounds one package is decrypted as the download does and checked entry by entry
against the plaintext. Prints the figures, writes them to docs/PERFORMANCE.md (full run only),
exits 1 when a target is missed. Everything it generated is deleted at the end.

    .venv/bin/python benchmarks/package.py            # full run: 500 x 5 MB, 5 rounds, updates the doc
    .venv/bin/python benchmarks/package.py --quick    # 20 x 1 MB, 1 round: does it work? doc untouched
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
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

from benchmarks import dataset, package_report, report  # noqa: E402

DB_NAME = "custos_bench_package"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DOC_PATH = ROOT / "docs" / "PERFORMANCE.md"
MB = 1_000_000
MIB = 1024 * 1024

TARGET_SHARE = 0.5  # Custos's MB/s over zipfile's, at least
TARGET_PEAK_BYTES = 64 * MIB  # tracemalloc peak and ru_maxrss growth while building, below


@dataclass(frozen=True)
class Scale:
    recordings: int = 500
    size: int = 5 * MB
    rounds: int = 5
    memory_runs: int = 1  # fresh processes per round


FULL = Scale()
QUICK = Scale(recordings=20, size=1 * MB, rounds=1)


@dataclass
class Verdict:
    key: str
    title: str
    measured: str
    target: str
    ok: bool | None


@dataclass
class Results:
    build: list[dict[str, Any]] = field(default_factory=list)  # one per round: custos and baseline
    memory: list[dict[str, Any]] = field(default_factory=list)
    check: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    setup_seconds: float = 0.0
    seconds: float = 0.0


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def recreate_database(server_url: str) -> str:
    with psycopg.connect(dataset.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    return dataset.with_database(server_url, DB_NAME)


def drop_database(server_url: str) -> None:
    with psycopg.connect(dataset.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))


def bench_environment(var_dir: Path, db_url: str) -> dict[str, str]:
    return {
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "CUSTOS_ENV": "development",
        "DATABASE_URL": db_url,
        "CUSTOS_VAR_DIR": str(var_dir),
        "CUSTOS_KEYRING_PATH": str(var_dir / "keyring.json"),
        "KEY_PROVIDER": "local",
        "RECORDINGS_STORAGE": "local",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }


def round_build(pm: Any, fx: Any, workdir: Path, round_no: int, keep: bool) -> dict[str, Any]:
    order = ("custos", "zipfile") if round_no % 2 else ("zipfile", "custos")
    figures: dict[str, dict[str, Any]] = {}
    for variant in order:
        if variant == "custos":
            figures["custos"] = pm.custos_once(fx, keep=keep)
        else:
            figures["zipfile"] = pm.baseline_once(fx, workdir / "baseline.zip")
    custos = figures["custos"]["bytes"] / figures["custos"]["seconds"] / MB
    baseline = figures["zipfile"]["bytes"] / figures["zipfile"]["seconds"] / MB
    # CPU seconds per GB (all threads): what each variant costs whatever else the machine runs.
    cpu = {v: figures[v]["cpu_seconds"] / (figures[v]["bytes"] / 1e9) for v in figures}
    return {
        "order": list(order),
        **figures,
        "custos_mbps": custos,
        "zipfile_mbps": baseline,
        "share": custos / baseline,
        "custos_cpu_per_gb": cpu["custos"],
        "zipfile_cpu_per_gb": cpu["zipfile"],
        "load": os.getloadavg()[0],
    }


def round_memory(fx: Any, runs: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(runs):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.package_measure",
                "memory",
                f"--request={fx.request_id}",
                f"--actor={fx.actor_id}",
            ],
            cwd=ROOT,
            env=os.environ.copy(),
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"the memory process failed ({result.returncode}):\n{result.stderr}")
        out.append(json.loads(result.stdout.strip().splitlines()[-1]))
    return out


def verdicts(results: Results, scale: Scale) -> list[Verdict]:
    share = _median([r["share"] for r in results.build])
    custos = _median([r["custos_mbps"] for r in results.build])
    baseline = _median([r["zipfile_mbps"] for r in results.build])
    size = package_report.size_label(scale.recordings * scale.size)
    peak = max(m["tracemalloc_peak_bytes"] for m in results.memory)
    rss = max((m["maxrss_after_kib"] - m["maxrss_before_kib"]) * 1024 for m in results.memory)
    return [
        Verdict(
            "throughput",
            f"Access package of {scale.recordings} x {package_report.size_label(scale.size)} ({size}): "
            "Custos vs zipfile ZIP_STORED",
            f"{share:.0%} ({custos:,.0f} vs {baseline:,.0f} MB/s)",
            f">= {TARGET_SHARE:.0%}",
            share >= TARGET_SHARE,
        ),
        Verdict(
            "cpu",
            "CPU time per GB of package, all threads (informational)",
            f"Custos {_median([r['custos_cpu_per_gb'] for r in results.build]):.2f} s, zipfile "
            f"{_median([r['zipfile_cpu_per_gb'] for r in results.build]):.2f} s",
            "informational",
            None,
        ),
        Verdict(
            "memory",
            f"Peak memory while building it ({size})",
            f"{peak / MIB:.2f} MiB tracemalloc peak, RSS high-water mark +{rss / MIB:.1f} MiB",
            f"< {TARGET_PEAK_BYTES // MIB} MiB",
            peak < TARGET_PEAK_BYTES and rss < TARGET_PEAK_BYTES,
        ),
    ]


def print_summary(results: Results, found: list[Verdict]) -> None:
    print()
    print(
        "round  order            Custos MB/s  zipfile MB/s  Custos/zipfile  Custos s  zipfile s  "
        "CPU s/GB Custos  zipfile  load"
    )
    for number, r in enumerate(results.build, 1):
        print(
            f"{number:>5}  {'/'.join(r['order']):<15}  {r['custos_mbps']:>11,.0f}  "
            f"{r['zipfile_mbps']:>12,.0f}  {r['share']:>14.0%}  {r['custos']['seconds']:>8.1f}  "
            f"{r['zipfile']['seconds']:>9.1f}  {r['custos_cpu_per_gb']:>15.2f}  "
            f"{r['zipfile_cpu_per_gb']:>7.2f}  {r['load']:>4.1f}"
        )
    print()
    print("memory run  tracemalloc peak MiB  ru_maxrss growth MiB  RSS before MiB  seconds")
    for number, m in enumerate(results.memory, 1):
        print(
            f"{number:>10}  {m['tracemalloc_peak_bytes'] / MIB:>20.2f}  "
            f"{(m['maxrss_after_kib'] - m['maxrss_before_kib']) / 1024:>20.1f}  "
            f"{m['rss_before_kib'] / 1024:>14.0f}  {m['seconds']:>7.1f}"
        )
    print()
    for verdict in found:
        state = "info" if verdict.ok is None else ("met" if verdict.ok else "MISSED")
        print(f"[{state:>6}] {verdict.title}: {verdict.measured} (target {verdict.target})")


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that the finally block cleans up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="20 x 1 MB, 1 round: a check that it works")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, --quick 1)")
    parser.add_argument("--recordings", type=int, help="recordings of the subject (default 500, --quick 20)")
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL),
        help="any database URL on the PostgreSQL server to use; custos_bench_package is created beside "
        "it (default $BENCH_DATABASE_URL or " + DEFAULT_SERVER_URL + ")",
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
        recordings=args.recordings or base.recordings,
        size=base.size,
        rounds=args.rounds or base.rounds,
        memory_runs=base.memory_runs,
    )
    if scale.rounds < 1 or scale.recordings < 1:
        parser.error("--rounds and --recordings must be at least 1")
    write_doc = args.doc if args.doc is not None else not args.quick
    command = ".venv/bin/python benchmarks/package.py" + (" --quick" if args.quick else "")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="custos-bench-package-"))
    results = Results()
    print(f"Preparing {DB_NAME} and {workdir} ...", flush=True)
    db_url = recreate_database(args.server_url)
    os.environ.update(bench_environment(workdir / "var", db_url))
    try:
        started = time.perf_counter()
        dataset.migrate(dataset.BenchDatabase(size=0, name=DB_NAME, url=db_url))
        import django

        django.setup()
        from benchmarks import package_measure as pm

        fx = pm.prepare(workdir=workdir, recordings=scale.recordings, size=pm.wav_size(scale.size))
        stored = pm.stored_ciphertext_bytes()
        results.setup_seconds = time.perf_counter() - started
        print(
            f"  {scale.recordings} recordings of {pm.wav_size(scale.size):,} bytes stored "
            f"({stored:,} bytes of ciphertext) in {results.setup_seconds:.0f} s",
            flush=True,
        )
        # Untimed warm-up of both paths on the data just written.
        pm.baseline_once(fx, workdir / "baseline.zip")
        pm.custos_once(fx)

        kept = None
        for round_no in range(1, scale.rounds + 1):
            tag = f"round {round_no}/{scale.rounds}"
            last = round_no == scale.rounds
            row = round_build(pm, fx, workdir, round_no, keep=last)
            results.build.append(row)
            if last:
                kept = row["custos"]["package_id"]
            print(
                f"{tag} Custos {row['custos_mbps']:,.0f} MB/s ({row['custos']['seconds']:.1f} s), zipfile "
                f"{row['zipfile_mbps']:,.0f} MB/s ({row['zipfile']['seconds']:.1f} s): {row['share']:.0%}",
                flush=True,
            )
            memory = round_memory(fx, scale.memory_runs)
            results.memory.extend(memory)
            print(
                f"{tag} memory: "
                + ", ".join(
                    f"{m['tracemalloc_peak_bytes'] / MIB:.2f} MiB tracemalloc peak, ru_maxrss +"
                    f"{(m['maxrss_after_kib'] - m['maxrss_before_kib']) / 1024:.1f} MiB"
                    for m in memory
                ),
                flush=True,
            )
        results.profile = pm.profile_build(fx)
        results.check = pm.verify(fx, kept, workdir)
        print(f"  checked: {results.check['entries']} entries, every one equal to its original", flush=True)
        results.seconds = time.perf_counter() - started

        found = verdicts(results, scale)
        print_summary(results, found)
        missed = [v for v in found if v.ok is False]
        print()
        print(
            "PASS: every package target met." if not missed else "FAIL: " + "; ".join(v.title for v in missed)
        )
        if args.json:
            args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")
        if write_doc:
            from benchmarks.run import environment

            section = package_report.render(
                results=results,
                verdicts=found,
                env=environment(args.server_url),
                scale=scale,
                command=command,
                stored_bytes=stored,
            )
            report.update_doc(DOC_PATH, section, begin=package_report.BEGIN, end=package_report.END)
            print(f"\nFigures written to {DOC_PATH.relative_to(ROOT)}.")
        return 1 if missed else 0
    finally:
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
