"""Benchmark of the vault: encrypted audio at rest, its playback, its ingest and its keys (`make bench`).

A PostgreSQL database ``custos_bench_vault`` is created afresh and migrated, and a temporary
folder holds the recordings storage and the local keyring (``CUSTOS_VAR_DIR``). Custos itself
stores the recordings (``recording_ingest``: WAVs of 200 MB and 20 MB, encrypted under their
recording keys), and gunicorn serves the site against that database (sync workers on a free port,
stopped at the end whatever happens). Each round then measures every item below, the compared
variants side by side and their order alternating from round to round, so that the noise of a
shared machine hits both:

1. the decrypting reader (``audio_open`` + ``DecryptingReader.iter_range``, as playback reads)
   over the 200 MB recording, against ``cryptography``'s AESGCM decrypting the same bytes (the
   recording's ciphertext, read into memory before the clock starts) segment by segment. Target:
   the reader at least 50% of raw. Informational beside it: AESGCM decrypting one cache-resident
   segment as many times (the cipher with no memory traffic);
2. the peak memory of decrypting the 20 MB and the 200 MB recordings whole, each in a fresh
   process: tracemalloc's peak (the target: under 32 MiB) and how far the resident set rose while decrypting;
3. ``GET /recordings/<id>/audio`` of the whole 200 MB recording through gunicorn as a superuser
   (MB/s, informational), beside the reader's MB/s of the same round;
4. the store step of a 10 MB recording (the Recording row, the recording key wrapped under the
   subject key and its row, ``audio_store``), against ``FileSystemStorage.save`` of the same bytes
   with the same row. Target: within 1.3x. The whole ``recording_ingest`` is reported beside it;
5. ``POST /api/v1/recordings/`` of a 1 MB WAV through gunicorn with an integration's token, one
   client per worker (ingests/s, informational);
6. time to first byte of ``Range: bytes=<1 MB before the end>-`` against ``Range: bytes=0-`` on
   the 200 MB recording through gunicorn. Target: the end within 2x of the start;
7. ``rotate_master_key`` over 100,000 subject keys (keys/s, informational).

Prints the figures, writes them to docs/PERFORMANCE.md (full run only), exits 1 when a target
is missed.

    .venv/bin/python benchmarks/vault.py            # full run, 5 rounds, updates the doc
    .venv/bin/python benchmarks/vault.py --quick    # small sizes, 1 round: does it work? doc untouched
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402

from benchmarks import dataset, report, vault_report  # noqa: E402

DB_NAME = "custos_bench_vault"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DOC_PATH = ROOT / "docs" / "PERFORMANCE.md"
MB = 1_000_000
MIB = 1024 * 1024

TARGET_READER_SHARE = 0.5  # the decrypting reader's MB/s over raw AES-GCM's, at least
TARGET_PEAK_BYTES = 32 * MIB  # tracemalloc peak while decrypting a recording whole, below
TARGET_STORE_RATIO = 1.3  # Custos's store step over a plain save, at most
TARGET_SEEK_RATIO = 2.0  # time to first byte near the end over at the start, at most
SEEK_FROM_END = 1_000_000  # the "near the end" range starts this many bytes before the end


@dataclass(frozen=True)
class Scale:
    """Sizes and repetitions of one run."""

    big: int = 200 * MB  # reader, memory, HTTP, seek
    small: int = 20 * MB  # memory
    store: int = 10 * MB  # store step
    api: int = 1 * MB  # API ingest
    subject_keys: int = 100_000  # rotation
    reader_passes: int = 5  # per variant per round
    http_passes: int = 3  # whole GETs per round
    memory_runs: int = 1  # fresh processes per size per round
    store_repeats: int = 5  # per variant per round
    api_seconds: float = 10.0  # per round
    seek_pairs: int = 30  # per round
    rounds: int = 5


FULL = Scale()
QUICK = Scale(
    big=8 * MB,
    small=2 * MB,
    store=1 * MB,
    api=250_000,
    subject_keys=2_000,
    reader_passes=1,
    http_passes=1,
    store_repeats=2,
    api_seconds=2.0,
    seek_pairs=5,
    rounds=1,
)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- Set-up of the database, the environment and the server ------------------------------------


def recreate_database(server_url: str) -> str:
    """Drops and creates ``custos_bench_vault``; its URL."""
    with psycopg.connect(dataset.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DB_NAME)))
    return dataset.with_database(server_url, DB_NAME)


def drop_database(server_url: str) -> None:
    with psycopg.connect(dataset.with_database(server_url, "postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB_NAME)))


def bench_environment(var_dir: Path, db_url: str, scale: Scale) -> dict[str, str]:
    """The settings of this process, the memory processes and gunicorn (compliance_site.settings)."""
    return {
        "DJANGO_SETTINGS_MODULE": "compliance_site.settings",
        "CUSTOS_ENV": "development",
        "DATABASE_URL": db_url,
        # The keyring, the recordings storage and the demo's Celery folders go here.
        "CUSTOS_VAR_DIR": str(var_dir),
        "CUSTOS_KEYRING_PATH": str(var_dir / "keyring.json"),
        "KEY_PROVIDER": "local",
        "RECORDINGS_STORAGE": "local",
        "RECORDING_MAX_BYTES": str(max(500 * MIB, scale.big + MIB)),
        # The API's throttle (600/minute) would cap the ingest figure instead of measuring it.
        "API_INGEST_THROTTLE_RATE": "1000000/minute",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gunicorn_command(port: int, workers: int, log: Path) -> list[str]:
    executable = Path(sys.executable).parent / "gunicorn"
    launcher = [str(executable)] if executable.exists() else [sys.executable, "-m", "gunicorn"]
    return [
        *launcher,
        "compliance_site.wsgi",
        f"--workers={workers}",
        "--worker-class=sync",
        f"--bind=127.0.0.1:{port}",
        "--timeout=300",
        "--graceful-timeout=10",
        "--log-level=warning",
        f"--error-logfile={log}",
    ]


@dataclass
class Server:
    host: str
    port: int
    workers: int
    command: list[str]

    def connection(self, timeout: float = 300) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


@contextlib.contextmanager
def gunicorn(workers: int, log: Path) -> Iterator[Server]:
    """gunicorn serving ``compliance_site.wsgi`` with this process's environment; stopped (its
    process group: the master and its workers) when the block ends, however it ends."""
    port = free_port()
    command = gunicorn_command(port, workers, log)
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=os.environ.copy(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    server = Server("127.0.0.1", port, workers, command)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}:\n{_tail(log)}")
            try:
                conn = server.connection(timeout=5)
                conn.request("GET", "/admin/login/")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not answer within 60 s:\n{_tail(log)}")
            time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- HTTP clients --------------------------------------------------------------------------------


def http_get_whole(server: Server, path: str, cookie: str, expected: int) -> float:
    """Seconds to GET the whole body (read in 1 MiB blocks, not kept); checks its length."""
    buffer = bytearray(MIB)
    conn = server.connection()
    try:
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie})
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"GET {path} answered {response.status}: {response.read(500)!r}")
        received = 0
        while count := response.readinto(buffer):
            received += count
        elapsed = time.perf_counter() - started
    finally:
        conn.close()
    if received != expected:
        raise RuntimeError(f"GET {path} sent {received} bytes, not {expected}")
    return elapsed


def http_first_byte(server: Server, path: str, cookie: str, byte_range: str, expected_first: int) -> float:
    """Seconds from sending a Range request to its first body byte; the connection is then
    closed, abandoning the rest of the body (as a player that seeks again does)."""
    conn = server.connection()
    try:
        started = time.perf_counter()
        conn.request("GET", path, headers={"Cookie": cookie, "Range": byte_range})
        response = conn.getresponse()
        first = response.read(1)
        elapsed = time.perf_counter() - started
        content_range = response.getheader("Content-Range", "")
    finally:
        conn.close()
    if response.status != 206 or len(first) != 1 or not content_range.startswith(f"bytes {expected_first}-"):
        raise RuntimeError(f"GET {path} with {byte_range} answered {response.status} {content_range!r}")
    return elapsed


def multipart(fields: list[tuple[str, str | None, str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body from (name, filename or None, content type, content)."""
    boundary = f"custos-bench-{uuid.uuid4().hex}"
    parts = []
    for name, filename, content_type, content in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\nContent-Type: {content_type}\r\n\r\n"
        parts.append(head.encode() + content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def api_ingest_load(server: Server, token: str, body: bytes, content_type: str, seconds: float) -> dict:
    """One client per worker POSTing the same call for ``seconds``; every answer must be 201."""
    deadline = time.perf_counter() + seconds
    lock = threading.Lock()
    tally = {"ok": 0, "failed": 0, "error": ""}
    headers = {"Authorization": f"Token {token}", "Content-Type": content_type}

    def client() -> None:
        while time.perf_counter() < deadline:
            conn = server.connection()
            try:
                conn.request("POST", "/api/v1/recordings/", body=body, headers=headers)
                response = conn.getresponse()
                answer = response.read()
            except OSError as exc:
                status, answer = 0, str(exc).encode()
            else:
                status = response.status
            finally:
                conn.close()
            with lock:
                if status == 201:
                    tally["ok"] += 1
                else:
                    tally["failed"] += 1
                    tally["error"] = tally["error"] or f"{status}: {answer[:300]!r}"

    threads = [threading.Thread(target=client) for _ in range(server.workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return {"ingests": tally["ok"], "failed": tally["failed"], "error": tally["error"], "seconds": elapsed}


def create_integration_token(name: str) -> str:
    """``manage.py create_integration NAME``: the integration's token, from its stdout."""
    result = subprocess.run(
        [sys.executable, "manage.py", "create_integration", name],
        cwd=ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"create_integration failed ({result.returncode}):\n{result.stderr}")
    return result.stdout.strip().splitlines()[-1]


# --- The measurements, round by round -------------------------------------------------------------


@dataclass
class Results:
    """Every round's figures, per item (plain data, for the tables, the verdicts and JSON)."""

    reader: list[dict[str, Any]] = field(default_factory=list)
    memory: list[dict[str, Any]] = field(default_factory=list)
    http: list[dict[str, Any]] = field(default_factory=list)
    store: list[dict[str, Any]] = field(default_factory=list)
    api: list[dict[str, Any]] = field(default_factory=list)
    seek: list[dict[str, Any]] = field(default_factory=list)
    rotation: list[dict[str, Any]] = field(default_factory=list)
    store_profile: list[dict[str, Any]] = field(default_factory=list)
    rotation_profile: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0  # the whole run


def _ordered(variants: tuple[str, ...], round_no: int) -> tuple[str, ...]:
    """The variants in the order of this round: rotated by one every round."""
    shift = (round_no - 1) % len(variants)
    return variants[shift:] + variants[:shift]


def round_reader(vm: Any, recording_id: int, size: int, passes: int, round_no: int) -> dict[str, Any]:
    variants = ("custos", "raw", "raw_cached")
    order = _ordered(variants, round_no)
    times: dict[str, list[float]] = {variant: [] for variant in variants}
    cpu: dict[str, list[float]] = {variant: [] for variant in variants}
    done: dict[str, int] = {}
    for _ in range(passes):
        for variant in order:
            if variant == "custos":
                done[variant], seconds, cpu_seconds = vm.reader_pass(recording_id)
            elif variant == "raw":
                done[variant], seconds, cpu_seconds = vm.raw_pass(recording_id)
            else:
                done[variant], seconds, cpu_seconds = vm.raw_cached_pass(size)
            times[variant].append(seconds)
            cpu[variant].append(cpu_seconds)
    if done["custos"] != size or done["raw"] != size:
        raise RuntimeError(f"the reader decrypted {done['custos']} bytes and raw {done['raw']}, of {size}")
    mbps = {variant: done[variant] / _median(times[variant]) / MB for variant in variants}
    # Per CPU-second of the measuring thread: leaves out the time other processes had the core.
    cpu_mbps = {variant: done[variant] / _median(cpu[variant]) / MB for variant in ("custos", "raw")}
    return {
        "order": list(order),
        "custos_mbps": mbps["custos"],
        "raw_mbps": mbps["raw"],
        "share": mbps["custos"] / mbps["raw"],
        "custos_cpu_mbps": cpu_mbps["custos"],
        "raw_cpu_mbps": cpu_mbps["raw"],
        "cpu_share": cpu_mbps["custos"] / cpu_mbps["raw"],
        "raw_cached_mbps": mbps["raw_cached"],
        "cached_share": mbps["custos"] / mbps["raw_cached"],
        "custos_s": times["custos"],
        "raw_s": times["raw"],
        "raw_cached_s": times["raw_cached"],
        "custos_cpu_s": cpu["custos"],
        "raw_cpu_s": cpu["raw"],
    }


def round_memory(fx: Any, runs: int, round_no: int) -> list[dict[str, Any]]:
    out = []
    for label in _ordered(("small", "big"), round_no):
        for _ in range(runs):
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.vault_measure",
                    "memory",
                    f"--recording={fx.recordings[label]}",
                ],
                cwd=ROOT,
                env=os.environ.copy(),
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"the memory process failed ({result.returncode}):\n{result.stderr}")
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            if not figures["plaintext_ok"]:
                raise RuntimeError(f"decrypting recording {label} gave other bytes than were stored")
            out.append({"label": label, "size": fx.sizes[label], **figures})
    return out


def round_http(server: Server, fx: Any, cookie: str, passes: int, reader_mbps: float) -> dict[str, Any]:
    path = f"/recordings/{fx.recordings['big']}/audio"
    times = [http_get_whole(server, path, cookie, fx.sizes["big"]) for _ in range(passes)]
    mbps = fx.sizes["big"] / _median(times) / MB
    return {"http_mbps": mbps, "reader_mbps": reader_mbps, "share": mbps / reader_mbps, "seconds": times}


STORE_VARIANTS = ("custos", "plain", "ingest", "plain_sha256")


def round_store(vm: Any, fx: Any, repeats: int, round_no: int) -> dict[str, Any]:
    order = _ordered(STORE_VARIANTS, round_no)
    times: dict[str, list[float]] = {variant: [] for variant in STORE_VARIANTS}
    for repeat in range(repeats):
        # Every other repeat backwards: otherwise each variant would always run right after the
        # same one (whose traces in the caches it would inherit), whatever the round's rotation.
        for variant in order if repeat % 2 == 0 else order[::-1]:
            times[variant].append(vm.STORE_VARIANTS[variant](fx))
    ms = {variant: _median(values) * 1000 for variant, values in times.items()}
    ms.update(vm.subject_lookups(fx, repeats=10 * repeats))
    return {
        "order": list(order),
        "ms": ms,
        "ratio": ms["custos"] / ms["plain"],
        "ingest_ratio": ms["ingest"] / ms["plain"],
        "plain_sha256_ratio": ms["plain_sha256"] / ms["plain"],
        # What the caller's look-up costs over a plain one (the lock, the key row), which (a)
        # leaves out; counted in, the ratio is:
        "lookup_extra_ms": ms["lookup_custos"] - ms["lookup_plain"],
        "ratio_with_lookup": (ms["custos"] + ms["lookup_custos"] - ms["lookup_plain"]) / ms["plain"],
        "samples_ms": {variant: [t * 1000 for t in values] for variant, values in times.items()},
    }


def round_seek(server: Server, fx: Any, cookie: str, pairs: int, round_no: int) -> dict[str, Any]:
    path = f"/recordings/{fx.recordings['big']}/audio"
    near_end = fx.sizes["big"] - SEEK_FROM_END
    variants = {"start": ("bytes=0-", 0), "end": (f"bytes={near_end}-", near_end)}
    samples: dict[str, list[float]] = {"start": [], "end": []}
    for pair in range(pairs):
        for variant in _ordered(("start", "end"), round_no + pair):
            header, first = variants[variant]
            samples[variant].append(http_first_byte(server, path, cookie, header, first) * 1000)
    start, end = _median(samples["start"]), _median(samples["end"])
    return {"start_ms": start, "end_ms": end, "ratio": end / start, "samples_ms": samples}


# --- Verdicts --------------------------------------------------------------------------------------


@dataclass
class Verdict:
    key: str
    title: str
    measured: str
    target: str
    ok: bool | None  # None: informational
    note: str = ""


def verdicts(results: Results, scale: Scale) -> list[Verdict]:
    """The targets, judged on the median over the rounds of each round's side-by-side ratio."""
    out = []
    share = _median([r["share"] for r in results.reader])
    out.append(
        Verdict(
            "reader",
            f"Decrypting reader vs raw AES-256-GCM ({vault_report.size_label(scale.big)})",
            f"{share:.0%} of raw ({_median([r['custos_mbps'] for r in results.reader]):,.0f} vs "
            f"{_median([r['raw_mbps'] for r in results.reader]):,.0f} MB/s; per CPU-second "
            f"{_median([r['cpu_share'] for r in results.reader]):.0%})",
            f">= {TARGET_READER_SHARE:.0%} of raw",
            share >= TARGET_READER_SHARE,
        )
    )
    for label in ("small", "big"):
        runs = [m for m in results.memory if m["label"] == label]
        peak = max(m["tracemalloc_peak_bytes"] for m in runs)
        growth = max(m["rss_growth_peak_kib"] for m in runs) / 1024
        out.append(
            Verdict(
                f"memory-{label}",
                f"Peak memory, decrypting {vault_report.size_label(runs[0]['size'])} whole",
                f"{peak / MIB:.2f} MiB tracemalloc peak (resident set +{growth:.1f} MiB at most)",
                f"< {TARGET_PEAK_BYTES // MIB} MiB",
                peak < TARGET_PEAK_BYTES,
            )
        )
    ratio = _median([r["ratio"] for r in results.store])
    out.append(
        Verdict(
            "store",
            f"Store step of {vault_report.size_label(scale.store)}: Custos vs plain save",
            f"{ratio:.2f}x ({_median([r['ms']['custos'] for r in results.store]):.1f} vs "
            f"{_median([r['ms']['plain'] for r in results.store]):.1f} ms)",
            f"<= {TARGET_STORE_RATIO:g}x",
            ratio <= TARGET_STORE_RATIO,
        )
    )
    ratio = _median([r["ratio"] for r in results.seek])
    out.append(
        Verdict(
            "seek",
            f"Seek: time to first byte near the end vs at the start ({vault_report.size_label(scale.big)})",
            f"{ratio:.2f}x ({_median([r['end_ms'] for r in results.seek]):.1f} vs "
            f"{_median([r['start_ms'] for r in results.seek]):.1f} ms)",
            f"<= {TARGET_SEEK_RATIO:g}x",
            ratio <= TARGET_SEEK_RATIO,
        )
    )
    out.append(
        Verdict(
            "http",
            f"Playback over HTTP, gunicorn ({vault_report.size_label(scale.big)})",
            f"{_median([r['http_mbps'] for r in results.http]):,.0f} MB/s (reader alone: "
            f"{_median([r['reader_mbps'] for r in results.http]):,.0f} MB/s)",
            "informational",
            None,
        )
    )
    rates = [r["ingests"] / r["seconds"] for r in results.api]
    out.append(
        Verdict(
            "api",
            f"API ingests of {vault_report.size_label(scale.api)} WAVs, gunicorn",
            f"{_median(rates):.1f} ingests/s ({_median(rates) * scale.api / MB:.1f} MB/s of audio)",
            "informational",
            None,
        )
    )
    rates = [r["keys"] / r["seconds"] for r in results.rotation]
    out.append(
        Verdict(
            "rotation",
            f"Master-key rotation, {results.rotation[0]['keys']:,} subject keys",
            f"{_median(rates):,.0f} keys/s ({_median([r['seconds'] for r in results.rotation]):.1f} s)",
            "informational",
            None,
        )
    )
    return out


# --- Output ---------------------------------------------------------------------------------------


def print_summary(results: Results, found: list[Verdict]) -> None:
    def table(title: str, header: list[str], rows: list[list[str]]) -> None:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
        print()
        print(title)
        print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
        print("-" * (sum(widths) + 2 * (len(widths) - 1)))
        for row in rows:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))

    table(
        "1. Decrypting reader vs raw AES-256-GCM",
        [
            "round",
            "order",
            "reader MB/s",
            "raw MB/s",
            "reader/raw",
            "CPU: reader",
            "raw",
            "reader/raw",
            "cached segment MB/s",
            "reader/cached",
        ],
        [
            [
                str(i),
                "/".join(r["order"]),
                f"{r['custos_mbps']:,.0f}",
                f"{r['raw_mbps']:,.0f}",
                f"{r['share']:.0%}",
                f"{r['custos_cpu_mbps']:,.0f}",
                f"{r['raw_cpu_mbps']:,.0f}",
                f"{r['cpu_share']:.0%}",
                f"{r['raw_cached_mbps']:,.0f}",
                f"{r['cached_share']:.0%}",
            ]
            for i, r in enumerate(results.reader, 1)
        ],
    )
    table(
        "2. Peak memory of decrypting a recording whole (fresh process each)",
        ["recording", "tracemalloc peak MiB", "RSS growth MiB", "RSS before MiB", "seconds"],
        [
            [
                vault_report.size_label(m["size"]),
                f"{m['tracemalloc_peak_bytes'] / MIB:.2f}",
                f"{m['rss_growth_peak_kib'] / 1024:.1f}",
                f"{m['rss_before_kib'] / 1024:.0f}",
                f"{m['seconds']:.2f}",
            ]
            for m in results.memory
        ],
    )
    table(
        "3. GET /recordings/<id>/audio through gunicorn",
        ["round", "HTTP MB/s", "reader MB/s", "HTTP/reader"],
        [
            [str(i), f"{r['http_mbps']:,.0f}", f"{r['reader_mbps']:,.0f}", f"{r['share']:.0%}"]
            for i, r in enumerate(results.http, 1)
        ],
    )
    table(
        "4. Store step (median ms per round)",
        ["round", "custos (a)", "ingest (b)", "plain (c)", "plain+sha256 (d)", "a/c", "b/c"],
        [
            [
                str(i),
                f"{r['ms']['custos']:.1f}",
                f"{r['ms']['ingest']:.1f}",
                f"{r['ms']['plain']:.1f}",
                f"{r['ms']['plain_sha256']:.1f}",
                f"{r['ratio']:.2f}x",
                f"{r['ingest_ratio']:.2f}x",
            ]
            for i, r in enumerate(results.store, 1)
        ],
    )
    table(
        "5. POST /api/v1/recordings/ through gunicorn",
        ["round", "ingests", "seconds", "ingests/s", "failed"],
        [
            [
                str(i),
                str(r["ingests"]),
                f"{r['seconds']:.1f}",
                f"{r['ingests'] / r['seconds']:.1f}",
                str(r["failed"]),
            ]
            for i, r in enumerate(results.api, 1)
        ],
    )
    table(
        "6. Time to first byte (median ms per round)",
        ["round", "bytes=0-", "near the end", "end/start"],
        [
            [str(i), f"{r['start_ms']:.2f}", f"{r['end_ms']:.2f}", f"{r['ratio']:.2f}x"]
            for i, r in enumerate(results.seek, 1)
        ],
    )
    table(
        "7. rotate_master_key",
        ["round", "keys", "seconds", "keys/s"],
        [
            [str(i), f"{r['keys']:,}", f"{r['seconds']:.1f}", f"{r['keys'] / r['seconds']:,.0f}"]
            for i, r in enumerate(results.rotation, 1)
        ],
    )
    print()
    print("Where the store step's time goes (cProfile of one store step, own time):")
    for row in results.store_profile:
        print(f"  {row['own_ms']:7.2f} ms {row['share']:6.1%}  {row['calls']:>5} calls  {row['function']}")
    profile = results.rotation_profile
    print()
    print(f"Where a rotation's time goes (cProfile of one batch of {profile['keys']} keys, cumulative):")
    for part in profile["parts"]:
        print(f"  {part['ms']:7.1f} ms {part['share']:6.1%}  {part['part']}")
    print()
    for verdict in found:
        state = "info" if verdict.ok is None else ("met" if verdict.ok else "MISSED")
        print(f"[{state:>6}] {verdict.title}: {verdict.measured} (target {verdict.target})")


def extra_environment() -> dict[str, str]:
    import cryptography
    from cryptography.hazmat.backends.openssl import backend

    flags = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    return {
        "cryptography": cryptography.__version__,
        "openssl": backend.openssl_version_text(),
        "cpu_flags": ", ".join(f for f in ("aes", "vaes", "vpclmulqdq", "sha_ni", "avx2") if f in flags),
        "gunicorn": importlib.metadata.version("gunicorn"),
    }


# --- Main -----------------------------------------------------------------------------------------


def _raise_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # so that the finally blocks stop gunicorn and clean up


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, 1 round: a check that it works")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 5, --quick 1)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_SERVER_URL),
        help="any database URL on the PostgreSQL server to use; custos_bench_vault is created beside "
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
    scale = Scale(**{**asdict(base), "rounds": args.rounds or base.rounds})
    if scale.rounds < 1 or args.workers < 1:
        parser.error("--rounds and --workers must be at least 1")
    write_doc = args.doc if args.doc is not None else not args.quick
    command = ".venv/bin/python benchmarks/vault.py" + (" --quick" if args.quick else "")

    signal.signal(signal.SIGTERM, _raise_on_sigterm)
    workdir = Path(tempfile.mkdtemp(prefix="custos-bench-vault-"))
    results = Results()
    print(f"Preparing {DB_NAME} and {workdir} ...", flush=True)
    db_url = recreate_database(args.server_url)
    os.environ.update(bench_environment(workdir / "var", db_url, scale))
    try:
        started = time.perf_counter()
        dataset.migrate(dataset.BenchDatabase(size=0, name=DB_NAME, url=db_url))
        import django

        django.setup()
        from benchmarks import vault_measure as vm

        sizes = {"small": vm.wav_size(scale.small), "big": vm.wav_size(scale.big)}
        fx = vm.prepare(workdir=workdir, recording_sizes=sizes, store_size=vm.wav_size(scale.store))
        keys = vm.create_subject_keys(scale.subject_keys)
        cookie = vm.session_cookie(fx.admin_id)
        token = create_integration_token("bench-pbx")
        audio = workdir / "input" / "api.wav"
        vm.write_wav(audio, vm.wav_size(scale.api), seed=200)
        body, content_type = multipart(
            [
                ("audio", "call.wav", "audio/wav", audio.read_bytes()),
                ("metadata", None, "application/json", json.dumps(vm.call_metadata(minutes=1)).encode()),
            ]
        )
        print(
            f"  migrated, recordings of {sizes['small']:,} and {sizes['big']:,} bytes stored by "
            f"recording_ingest, {keys:,} live subject keys, in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        with gunicorn(args.workers, workdir / "gunicorn.log") as server:
            print(f"  gunicorn on port {server.port} ({args.workers} sync workers)", flush=True)
            # Untimed warm-up of every path; the whole GET is checked against the stored checksum.
            big_path = f"/recordings/{fx.recordings['big']}/audio"
            http_get_whole(server, big_path, cookie, sizes["big"])
            api_ingest_load(server, token, body, content_type, seconds=0.5)
            for variant in STORE_VARIANTS:
                vm.STORE_VARIANTS[variant](fx)
            vm.reader_pass(fx.recordings["big"])

            for round_no in range(1, scale.rounds + 1):
                tag = f"round {round_no}/{scale.rounds}"
                reader = round_reader(vm, fx.recordings["big"], sizes["big"], scale.reader_passes, round_no)
                results.reader.append(reader)
                print(
                    f"{tag} reader {reader['custos_mbps']:,.0f} MB/s, raw {reader['raw_mbps']:,.0f} MB/s: "
                    f"{reader['share']:.0%} (per CPU-second {reader['cpu_share']:.0%}); one cached segment "
                    f"{reader['raw_cached_mbps']:,.0f} MB/s ({reader['cached_share']:.0%})",
                    flush=True,
                )
                played = round_http(server, fx, cookie, scale.http_passes, reader["custos_mbps"])
                results.http.append(played)
                print(f"{tag} HTTP {played['http_mbps']:,.0f} MB/s", flush=True)
                seek = round_seek(server, fx, cookie, scale.seek_pairs, round_no)
                results.seek.append(seek)
                print(
                    f"{tag} first byte: start {seek['start_ms']:.2f} ms, end {seek['end_ms']:.2f} ms "
                    f"({seek['ratio']:.2f}x)",
                    flush=True,
                )
                store = round_store(vm, fx, scale.store_repeats, round_no)
                results.store.append(store)
                print(
                    f"{tag} store: Custos {store['ms']['custos']:.1f} ms, ingest {store['ms']['ingest']:.1f} "
                    f"ms, plain {store['ms']['plain']:.1f} ms ({store['ratio']:.2f}x; with the look-up's "
                    f"lock and key row, {store['ratio_with_lookup']:.2f}x)",
                    flush=True,
                )
                api = api_ingest_load(server, token, body, content_type, scale.api_seconds)
                results.api.append(api)
                if api["failed"]:
                    raise RuntimeError(f"{api['failed']} ingests failed, first: {api['error']}")
                print(f"{tag} API {api['ingests'] / api['seconds']:.1f} ingests/s", flush=True)
                memory = round_memory(fx, scale.memory_runs, round_no)
                results.memory.extend(memory)
                print(
                    f"{tag} memory: "
                    + ", ".join(
                        f"{vault_report.size_label(m['size'])} {m['tracemalloc_peak_bytes'] / MIB:.2f} MiB"
                        for m in memory
                    ),
                    flush=True,
                )
                rotated = vm.rotation()
                results.rotation.append(rotated)
                print(
                    f"{tag} rotation: {rotated['keys']:,} keys in {rotated['seconds']:.1f} s "
                    f"({rotated['keys'] / rotated['seconds']:,.0f}/s)",
                    flush=True,
                )
            results.store_profile = vm.profile_store_step(fx)
            results.rotation_profile = vm.profile_rotation_batch()
            extra = extra_environment()
            blob_bytes = vm.stored_blob_bytes(fx.recordings["big"])

        results.seconds = time.perf_counter() - started
        found = verdicts(results, scale)
        print_summary(results, found)
        missed = [v for v in found if v.ok is False]
        print()
        print(
            "PASS: every vault target met." if not missed else "FAIL: " + "; ".join(v.title for v in missed)
        )

        if args.json:
            args.json.write_text(json.dumps(asdict(results), indent=2) + "\n")
        if write_doc:
            from benchmarks.run import environment

            section = vault_report.render(
                results=results,
                verdicts=found,
                env={**environment(args.server_url), **extra},
                scale=scale,
                workers=args.workers,
                command=command,
                blob_bytes=blob_bytes,
                seek_from_end=SEEK_FROM_END,
            )
            report.update_doc(DOC_PATH, section, begin=vault_report.BEGIN, end=vault_report.END)
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
