"""The vault: the decrypting reader, peak memory, playback and ingest through gunicorn, the store
step, seeking and key rotation; the method and the targets are in docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/vault.py            # full run, 5 rounds, updates the doc
    .venv/bin/python benchmarks/vault.py --quick    # small sizes, 1 round
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import MB, Bench


@dataclass(frozen=True)
class Scale:
    big: int = 200 * MB  # reader, memory, HTTP, seek
    small: int = 20 * MB  # memory
    store: int = 10 * MB
    api: int = 1 * MB
    subject_keys: int = 100_000
    reader_passes: int = 5  # per variant and round
    http_passes: int = 3
    store_repeats: int = 5
    api_seconds: float = 10.0
    seek_pairs: int = 30
    workers: int = 2  # gunicorn sync workers
    rounds: int = 5


BENCH = Bench(
    "vault",
    script="vault.py",
    title="Vault: encrypted audio, playback, ingest and keys",
    database="custos_bench_vault",
    full=Scale(),
    quick=Scale(
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
    ),
    options=[("workers", int, "gunicorn sync workers (2)")],
    # The API's throttle (600/minute) would cap the ingest figure instead of measuring it.
    env={"RECORDING_MAX_BYTES": str(500 * MB), "API_INGEST_THROTTLE_RATE": "1000000/minute"},
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import contextlib
import datetime
import functools
import gc
import hashlib
import http.client
import importlib.metadata
import json
import os
import signal
import socket
import subprocess
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from io import StringIO
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone
from urllib3 import encode_multipart_formdata

from benchmarks import harness as h
from compliance_site.keys import get_provider
from recordings.intake.services import recording_ingest
from recordings.models import DataSubject, Queue, Recording, SubjectKey
from recordings.services import subject_create, subject_share_lock
from recordings.vault.keys import (
    KEY_BYTES,
    PersonalData,
    recording_aad,
    recording_key,
    recording_key_new,
    subject_key_aad,
    subject_key_unwrap,
)
from recordings.vault.services import subject_keys_rewrap_batch, subject_keys_stale_count
from recordings.vault.storage import (
    audio_blob_name,
    audio_delete,
    audio_open,
    audio_store,
    recordings_storage,
)
from recordings.vault.streaming_aead import (
    HEADER_SIZE,
    KEY_SIZE,
    SEGMENT_SIZE,
    TAG_SIZE,
    _nonce,
    _segment_aead,
)

TARGET_READER_SHARE = 0.5
TARGET_PEAK_BYTES = 32 * h.MIB
TARGET_STORE_RATIO = 1.3
TARGET_SEEK_RATIO = 2.0
SEEK_FROM_END = 1_000_000
SUBJECT_REFERENCE, QUEUE_CODE, NOTICE_VERSION = "BS-BENCH-VAULT", "bench-vault", "2026.1"

# --- Data -----------------------------------------------------------------------------------------


def call(size: int) -> dict[str, Any]:
    return h.wav_call(subject=SUBJECT_REFERENCE, queue=QUEUE_CODE, notice=NOTICE_VERSION, size=size)


@dataclass
class Fixture:
    admin_id: int
    subject_id: int
    queue_id: int
    recordings: dict[str, int]  # label -> recording stored by recording_ingest
    sizes: dict[str, int]
    store_input: Path
    store_checksum: str
    plain_dir: Path


def prepare(ctx: h.Context) -> Fixture:
    scale, workdir = ctx.scale, ctx.workdir
    admin = h.staff_user("bench-vault-admin", superuser=True)
    h.recording_notice(NOTICE_VERSION)
    h.quality_assurance("QA")
    queue = Queue.objects.create(code=QUEUE_CODE, name="Benchmark queue")
    subject, _ = subject_create(personal=PersonalData(full_name="Bench Caller"), reference=SUBJECT_REFERENCE)
    sizes = {"small": h.wav_size(scale.small), "big": h.wav_size(scale.big)}
    recordings = {}
    for seed, (label, size) in enumerate(sizes.items(), start=1):
        path = h.write_wav(workdir / "input" / f"{label}.wav", size, seed=seed)
        recordings[label] = h.ingest(path, call(size)).pk
        path.unlink()  # the stored, encrypted copy is what is measured
    store_input = h.write_wav(workdir / "input" / "store.wav", h.wav_size(scale.store), seed=100)
    # Subjects with a fresh subject key each, wrapped by the keyring as subject_key_new does.
    provider, made = get_provider(), 0
    while made < scale.subject_keys:
        batch = range(made, min(scale.subject_keys, made + 5_000))
        subjects = DataSubject.objects.bulk_create(DataSubject(reference=f"BK-{n:07d}") for n in batch)
        keys = []
        for s in subjects:
            version, wrapped = provider.wrap(os.urandom(KEY_BYTES), associated_data=subject_key_aad(s))
            keys.append(SubjectKey(subject=s, master_version=version, wrapped_key=wrapped))
        h.copy_rows(SubjectKey, keys)
        made += len(batch)
    checksum = h.sha256_file(store_input)
    return Fixture(
        admin.pk, subject.pk, queue.pk, recordings, sizes, store_input, checksum, workdir / "plain"
    )


# --- 1. Reader against raw AES-GCM ----------------------------------------------------------------


def _recording(pk: int) -> tuple[Recording, bytes]:
    recording = Recording.objects.select_related("subject").get(pk=pk)
    return recording, recording_key(recording)


def reader_pass(pk: int, size: int) -> tuple[int, float, float]:
    """The whole recording decrypted as playback does; (bytes, seconds, CPU seconds of this thread)."""
    recording, key = _recording(pk)
    total, started, cpu = 0, time.perf_counter(), time.thread_time()
    with audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as reader:
        for chunk in reader.iter_range(0, reader.plaintext_size - 1):
            total += len(chunk)
    return total, time.perf_counter() - started, time.thread_time() - cpu


def raw_pass(pk: int, size: int) -> tuple[int, float, float]:
    """AESGCM decrypting the stored ciphertext segment after segment, from memory: the blob read,
    its key derived and its nonces prepared (streaming_aead's own) before the clock starts."""
    recording, key = _recording(pk)
    with recordings_storage().open(recording.storage_ref, "rb") as blob:
        data = memoryview(blob.read())
    salt, prefix = bytes(data[1 : 1 + KEY_SIZE]), bytes(data[1 + KEY_SIZE : HEADER_SIZE])
    decrypt = _segment_aead(key, salt, recording_aad(recording.pk)).decrypt
    starts = [HEADER_SIZE, *range(SEGMENT_SIZE, len(data), SEGMENT_SIZE)]
    work = [
        (_nonce(prefix, i, i == len(starts) - 1), data[a:b])
        for i, (a, b) in enumerate(zip(starts, [*starts[1:], len(data)], strict=True))
    ]
    total, started, cpu = 0, time.perf_counter(), time.thread_time()
    for nonce, segment in work:
        total += len(decrypt(nonce, segment, None))
    return total, time.perf_counter() - started, time.thread_time() - cpu


def cached_pass(pk: int, size: int) -> tuple[int, float, float]:
    """Informational: one 64 KiB segment decrypted again and again (stays in the CPU's cache)."""
    aead, nonce = AESGCM(AESGCM.generate_key(bit_length=256)), os.urandom(12)
    plain = SEGMENT_SIZE - TAG_SIZE
    segment, count = aead.encrypt(nonce, os.urandom(plain), None), -(-size // plain)
    started, cpu = time.perf_counter(), time.thread_time()
    for _ in range(count):
        aead.decrypt(nonce, segment, None)
    return count * plain, time.perf_counter() - started, time.thread_time() - cpu


def round_reader(fx: Fixture, passes: int, round_no: int) -> dict[str, Any]:
    passes_of = {"custos": reader_pass, "raw": raw_pass, "raw_cached": cached_pass}
    order = h.ordered(list(passes_of), round_no)
    runs: dict[str, list[tuple[int, float, float]]] = {v: [] for v in passes_of}
    for _ in range(passes):
        for variant in order:
            runs[variant].append(passes_of[variant](fx.recordings["big"], fx.sizes["big"]))
    if {runs["custos"][0][0], runs["raw"][0][0]} != {fx.sizes["big"]}:
        raise RuntimeError("the reader or the raw pass decrypted another number of bytes")
    mbps = {v: r[0][0] / h.median(x[1] for x in r) / MB for v, r in runs.items()}
    cpu = {v: r[0][0] / h.median(x[2] for x in r) / MB for v, r in runs.items()}
    out = {"order": order, "order_text": " then ".join(order), "cached": mbps["raw_cached"]}
    out |= {"custos": mbps["custos"], "raw": mbps["raw"], "share": mbps["custos"] / mbps["raw"]}
    out |= {"custos_cpu": cpu["custos"], "raw_cpu": cpu["raw"], "cpu_share": cpu["custos"] / cpu["raw"]}
    return out | {"cached_share": mbps["custos"] / mbps["raw_cached"]}


# --- 2. Peak memory, in a fresh process -------------------------------------------------------------


def child(kind: str, recording: str) -> dict[str, Any]:
    """Decrypt one recording whole (key fetched first): tracemalloc's peak and how far the
    resident set rose, read every 16 chunks (a forked process inherits ru_maxrss)."""
    rec, key = _recording(int(recording))
    digest, total = hashlib.sha256(), 0
    gc.collect()
    rss_before = rss_peak = h.rss_kib()
    tracemalloc.start()
    started = time.perf_counter()
    with audio_open(name=rec.storage_ref, key=key, recording_id=rec.pk) as reader:
        for number, chunk in enumerate(reader.iter_range(0, reader.plaintext_size - 1)):
            digest.update(chunk)
            total += len(chunk)
            if number % 16 == 0:
                rss_peak = max(rss_peak, h.rss_kib())
    elapsed, (_, peak) = time.perf_counter() - started, tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ok = total == rec.size_bytes and digest.hexdigest() == rec.checksum_sha256
    return {
        "seconds": elapsed,
        "peak": peak,
        "rss_before_kib": rss_before,
        "rss_growth_kib": rss_peak - rss_before,
        "ok": ok,
    }


# --- 4. Store step -----------------------------------------------------------------------------------


def _row(fx: Fixture, name: str, subject: DataSubject) -> Recording:
    now = timezone.now()
    return Recording(
        reference=f"REC-BENCH-{uuid.uuid4().hex[:12].upper()}",
        subject=subject,
        queue_id=fx.queue_id,
        direction="inbound",
        started_at=now - datetime.timedelta(minutes=10),
        ended_at=now,
        lawful_basis="consent",
        storage_ref=name,
        size_bytes=fx.store_input.stat().st_size,
        content_type="audio/wav",
        checksum_sha256=fx.store_checksum,
    )


def _subject_as_ingest_finds_it(fx: Fixture) -> tuple[DataSubject, SubjectKey]:
    """Found, share-locked, its key row read after the lock (as ``recording_ingest`` has it)."""
    subject = DataSubject.objects.get(pk=fx.subject_id)
    subject_share_lock(subject)
    return subject, SubjectKey.objects.get(subject=subject)


def store_custos(fx: Fixture) -> float:
    """(a) The store step inside ``recording_ingest``: subject key unwrapped, the row, a recording
    key wrapped and its row, ``audio_store``, the commit."""
    name = audio_blob_name("wav")
    with fx.store_input.open("rb") as plaintext:
        with transaction.atomic():
            subject, key_row = _subject_as_ingest_finds_it(fx)
            recording = _row(fx, name, subject)
            started = time.perf_counter()
            subject_key_bytes = subject_key_unwrap(key_row, subject)
            recording.save()
            key, key_row = recording_key_new(recording, subject_key_bytes)
            key_row.save()
            stored = audio_store(plaintext=plaintext, key=key, recording_id=recording.pk, name=name)
        elapsed = time.perf_counter() - started
    audio_delete(stored.name)
    return elapsed


def store_ingest(fx: Fixture) -> float:
    """(b) The whole ``recording_ingest`` (metadata validated untimed)."""
    metadata = h.validated(call(fx.store_input.stat().st_size))
    with fx.store_input.open("rb") as audio:
        started = time.perf_counter()
        recording = recording_ingest(audio=audio, metadata=metadata)
        elapsed = time.perf_counter() - started
    audio_delete(recording.storage_ref)
    return elapsed


def store_plain(fx: Fixture, checksum: bool = False) -> float:
    """(c) The same row and ``FileSystemStorage.save`` of the same bytes; (d) with a SHA-256."""
    storage = FileSystemStorage(
        location=str(fx.plain_dir), file_permissions_mode=0o600, directory_permissions_mode=0o700
    )
    name = f"audio/{uuid.uuid4().hex}.wav"
    with fx.store_input.open("rb") as plaintext, transaction.atomic():
        recording = _row(fx, name, DataSubject.objects.get(pk=fx.subject_id))
        started = time.perf_counter()
        if checksum:
            digest = hashlib.sha256()
            while block := plaintext.read(h.MIB):
                digest.update(block)
            plaintext.seek(0)
        recording.save()
        stored = storage.save(name, File(plaintext, name=name))
    elapsed = time.perf_counter() - started
    storage.delete(stored)
    return elapsed


STORE = {
    "custos": store_custos,
    "plain": store_plain,
    "ingest": store_ingest,
    "plain_sha256": lambda fx: store_plain(fx, checksum=True),
}


def round_store(fx: Fixture, repeats: int, round_no: int) -> dict[str, Any]:
    order = h.ordered(list(STORE), round_no)
    times: dict[str, list[float]] = {v: [] for v in STORE}
    for repeat in range(repeats):
        # Every other repeat backwards, so that no variant always follows the same one.
        for variant in order if repeat % 2 == 0 else order[::-1]:
            times[variant].append(STORE[variant](fx))
    ms = {v: h.median(t) * 1000 for v, t in times.items()}
    # (e) and (f): the subject's look-up as ingest does it, and a plain one.
    lookup = {
        "custos": lambda: _subject_as_ingest_finds_it(fx),
        "plain": lambda: DataSubject.objects.get(pk=fx.subject_id),
    }
    lookups: dict[str, list[float]] = {"custos": [], "plain": []}
    for _ in range(10 * repeats):
        for variant, find in lookup.items():
            started = time.perf_counter()
            with transaction.atomic():
                find()
            lookups[variant].append((time.perf_counter() - started) * 1000)
    custos, plain = h.median(lookups["custos"]), h.median(lookups["plain"])
    out = {
        "order": order,
        "ms": ms,
        "ratio": ms["custos"] / ms["plain"],
        "ingest_ratio": ms["ingest"] / ms["plain"],
    }
    out |= {"sha_ratio": ms["plain_sha256"] / ms["plain"], "lookup_ms": custos, "lookup_plain_ms": plain}
    return out | {"with_lookup": (ms["custos"] + custos - plain) / ms["plain"]}


# --- HTTP: gunicorn and its clients ----------------------------------------------------------------------


@dataclass
class Server:
    port: int
    workers: int

    def request(self, method: str, path: str, **kw: Any) -> tuple[http.client.HTTPConnection, Any]:
        """A new connection, its request sent; (the connection, its response)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=kw.pop("timeout", 300))
        conn.request(method, path, **kw)
        return conn, conn.getresponse()


@contextlib.contextmanager
def gunicorn(workers: int, log: Path) -> Iterator[Server]:
    """gunicorn serving ``compliance_site.wsgi`` with this process's environment; its process
    group stopped when the block ends, however it ends."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        server = Server(sock.getsockname()[1], workers)
    options = f"--workers={workers} --worker-class=sync --bind=127.0.0.1:{server.port} --timeout=300"
    options += f" --log-level=warning --error-logfile={log}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "compliance_site.wsgi", *options.split()],
        cwd=h.ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text() if log.exists() else ''}")
            with contextlib.suppress(OSError):
                if server.request("GET", "/admin/login/", timeout=5)[1].status == 200:
                    break
            time.sleep(0.2)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def get_whole(server: Server, path: str, cookie: str, expected: int) -> float:
    """Seconds to GET the whole body, read in 1 MiB blocks; its length checked."""
    buffer, received, started = bytearray(h.MIB), 0, time.perf_counter()
    conn, response = server.request("GET", path, headers={"Cookie": cookie})
    with contextlib.closing(conn):
        while count := response.readinto(buffer):
            received += count
        elapsed = time.perf_counter() - started
    if response.status != 200 or received != expected:
        raise RuntimeError(f"GET {path}: {response.status}, {received} bytes of {expected}")
    return elapsed


def first_byte(server: Server, path: str, cookie: str, start: int) -> float:
    """Seconds from a Range request to its first body byte; then the connection is dropped."""
    started = time.perf_counter()
    conn, response = server.request("GET", path, headers={"Cookie": cookie, "Range": f"bytes={start}-"})
    with contextlib.closing(conn):
        first = response.read(1)
        elapsed = time.perf_counter() - started
    if (
        response.status != 206
        or len(first) != 1
        or not response.getheader("Content-Range", "").startswith(f"bytes {start}-")
    ):
        raise RuntimeError(f"GET {path} from {start} answered {response.status}")
    return elapsed


def api_load(server: Server, token: str, body: bytes, content_type: str, seconds: float) -> dict[str, Any]:
    """One client per worker POSTing the same call for ``seconds``; every answer must be 201."""
    deadline, headers = (
        time.perf_counter() + seconds,
        {"Authorization": f"Token {token}", "Content-Type": content_type},
    )

    def client(_: int) -> tuple[int, list[str]]:
        ok, failures = 0, []
        while time.perf_counter() < deadline:
            try:
                conn, response = server.request("POST", "/api/v1/recordings/", body=body, headers=headers)
                with contextlib.closing(conn):
                    status, answer = response.status, response.read()
            except OSError as exc:
                status, answer = 0, str(exc).encode()
            ok += status == 201
            failures += [] if status == 201 else [f"{status}: {answer[:300]!r}"]
        return ok, failures

    started = time.perf_counter()
    with ThreadPoolExecutor(server.workers) as pool:
        tallies = list(pool.map(client, range(server.workers)))
    if failures := [f for _, fs in tallies for f in fs]:
        raise RuntimeError(f"{len(failures)} ingests failed, first: {failures[0]}")
    return {"ingests": sum(ok for ok, _ in tallies), "seconds": time.perf_counter() - started}


# --- 7. Rotation ---------------------------------------------------------------------------------------

ROTATION_PARTS = {
    "`bulk_update` of the batch (building and running its UPDATE)": (
        "django/db/models/query.py",
        "bulk_update",
    ),
    "`SELECT ... FOR UPDATE` of the batch, rows to objects": ("django/db/models/query.py", "_fetch_all"),
    "unwrapping under the old version (keyring)": ("compliance_site/keys.py", "unwrap"),
    "wrapping under the new version (keyring)": ("compliance_site/keys.py", "wrap"),
    "SQL sent and answered, every statement": ("django/db/backends/utils.py", "_execute"),
}


def rotation() -> dict[str, Any]:
    """``rotate_master_key`` through ``call_command``, checked complete."""
    provider = get_provider()
    before = provider.current_version()
    started = time.perf_counter()
    call_command("rotate_master_key", stdout=StringIO())
    elapsed, after = time.perf_counter() - started, provider.current_version()
    live = SubjectKey.objects.filter(destroyed_at__isnull=True)
    if after == before or subject_keys_stale_count() or live.exclude(master_version=after).exists():
        raise RuntimeError("the rotation left keys behind")
    return {"keys": live.count(), "seconds": elapsed, "from": before, "to": after}


# --- The run -----------------------------------------------------------------------------------------------


def run(ctx: h.Context) -> h.Outcome:
    scale, started = ctx.scale, time.perf_counter()
    fx = prepare(ctx)
    big, big_path = fx.sizes["big"], f"/recordings/{fx.recordings['big']}/audio"
    client = Client()
    client.force_login(get_user_model().objects.get(pk=fx.admin_id))
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    call_command("create_integration", "bench-pbx", stdout=(printed := StringIO()), stderr=StringIO())
    token = printed.getvalue().strip().splitlines()[-1]
    api_wav = h.write_wav(ctx.workdir / "input" / "api.wav", h.wav_size(scale.api), seed=200)
    metadata = (None, json.dumps(call(60 * 2 * h.SAMPLE_RATE)), "application/json")  # a 1-minute call
    body, content_type = encode_multipart_formdata(
        {"audio": ("call.wav", api_wav.read_bytes(), "audio/wav"), "metadata": metadata}
    )
    ctx.log(
        f"  recordings stored, {scale.subject_keys:,} subject keys, in {time.perf_counter() - started:.0f} s"
    )
    r: dict[str, list] = {k: [] for k in ("reader", "memory", "http", "store", "api", "seek", "rotation")}
    with gunicorn(scale.workers, ctx.workdir / "gunicorn.log") as server:
        get_whole(server, big_path, cookie, big)  # untimed warm-up of every path
        api_load(server, token, body, content_type, 0.5)
        for variant in STORE.values():
            variant(fx)
        for round_no in range(1, scale.rounds + 1):
            reader = round_reader(fx, scale.reader_passes, round_no)
            r["reader"].append(reader)
            mbps = (
                big
                / h.median(get_whole(server, big_path, cookie, big) for _ in range(scale.http_passes))
                / MB
            )
            r["http"].append({"mbps": mbps, "reader": reader["custos"], "share": mbps / reader["custos"]})
            samples: dict[str, list[float]] = {"start": [], "end": []}
            for pair in range(scale.seek_pairs):
                for variant in h.ordered(["start", "end"], round_no + pair):
                    at = 0 if variant == "start" else big - SEEK_FROM_END
                    samples[variant].append(first_byte(server, big_path, cookie, at) * 1000)
            start, end = h.median(samples["start"]), h.median(samples["end"])
            r["seek"].append({"start": start, "end": end, "samples": samples, "ratio": end / start})
            r["store"].append(round_store(fx, scale.store_repeats, round_no))
            api = api_load(server, token, body, content_type, scale.api_seconds)
            rate = api["ingests"] / api["seconds"]
            r["api"].append({**api, "rate": rate, "mb": rate * scale.api / MB})
            for label in h.ordered(["small", "big"], round_no):
                figures = h.run_child("vault.py", "memory", recording=fx.recordings[label])
                if not figures["ok"]:
                    raise RuntimeError(f"decrypting the {label} recording gave other bytes than were stored")
                r["memory"].append({"label": label, "size_text": h.size_label(fx.sizes[label]), **figures})
            r["rotation"].append(rotation())
            ctx.log(
                f"round {round_no}/{scale.rounds}: reader {reader['share']:.0%} of raw, store "
                f"{r['store'][-1]['ratio']:.2f}x, seek {end / start:.2f}x, rotation "
                f"{r['rotation'][-1]['seconds']:.1f} s"
            )
    _, stats = h.profiled(lambda: store_custos(fx))
    entries = stats.stats.items()  # type: ignore[attr-defined]
    own = sorted(((v[2], v[1], key) for key, v in entries), reverse=True)[:8]
    store_profile = [
        {
            "fn": f"`{fn}`" if path == "~" else f"`{Path(path).name}:{line}({fn})`",
            "calls": calls,
            "ms": seconds * 1000,
            "share": seconds / stats.total_tt,  # type: ignore[attr-defined]
        }
        for seconds, calls, (path, line, fn) in own
    ]
    get_provider().create_version()
    batch, stats = h.profiled(subject_keys_rewrap_batch)
    batch_ms = stats.total_tt * 1000  # type: ignore[attr-defined]
    rotation_profile = (batch, batch_ms, h.profile_parts(stats, ROTATION_PARTS))
    return _report(ctx, r, store_profile, rotation_profile)


READER_COLUMNS = """
Round> {n}
Order {order_text}
Reader MB/s> {custos:,.0f}
Raw AES-GCM MB/s> {raw:,.0f}
Reader / raw> {share:.0%}
Reader MB per CPU-s> {custos_cpu:,.0f}
Raw MB per CPU-s> {raw_cpu:,.0f}
Reader / raw, CPU time> {cpu_share:.0%}
One cached segment MB/s> {cached:,.0f}
Reader / cached> {cached_share:.0%}
"""
MEMORY_COLUMNS = """
Recording {size_text}
tracemalloc peak (MiB)> {peak_mib:.2f}
Resident set growth, peak (MiB)> {growth_mib:.1f}
RSS before (MiB)> {rss_mib:.0f}
Seconds (tracemalloc on)> {seconds:.2f}
Plaintext = stored SHA-256^ {ok_text}
"""
STORE_COLUMNS = """
Round> {n}
Order {order_text}
(a) Custos store step ms> {custos_ms:.1f}
(b) `recording_ingest` ms> {ingest_ms:.1f}
(c) plain save ms> {plain_ms:.1f}
(d) plain save + SHA-256 ms> {plain_sha256_ms:.1f}
(a) / (c)> {ratio:.2f}x
(b) / (c)> {ingest_ratio:.2f}x
(d) / (c)> {sha_ratio:.2f}x
"""
SEEK_COLUMNS = """
Round> {n}
`bytes=0-` median ms> {start:.2f}
p90 ms> {start_p90:.2f}
Near the end median ms> {end:.2f}
p90 ms> {end_p90:.2f}
End / start> {ratio:.2f}x
"""
HTTP_COLUMNS = "Round> {n}\nHTTP MB/s> {mbps:,.0f}\nReader MB/s> {reader:,.0f}\nHTTP / reader> {share:.0%}"
API_COLUMNS = (
    "Round> {n}\nIngests> {ingests}\nSeconds> {seconds:.1f}\nIngests/s> {rate:.1f}\nMB/s of audio> {mb:.1f}"
)
ROTATION_COLUMNS = """
Round> {n}
Keys re-wrapped> {keys:,}
Seconds> {seconds:.1f}
Keys/s> {rate:,.0f}
Versions {from} to {to}
"""


def _report(ctx: h.Context, r: dict, store_profile: list, rotation_profile: tuple) -> h.Outcome:
    scale = ctx.scale
    big, small, store, api = (h.size_label(x) for x in (scale.big, scale.small, scale.store, scale.api))
    m = {key: functools.partial(h.median_of, r[key]) for key in r}
    runs = {label: [x for x in r["memory"] if x["label"] == label] for label in ("small", "big")}
    for x in r["store"]:
        x.update({f"{k}_ms": v for k, v in x["ms"].items()}, order_text=", ".join(x["order"]))
    for x in r["seek"]:
        x.update(
            start_p90=h.percentile(x["samples"]["start"], 0.9), end_p90=h.percentile(x["samples"]["end"], 0.9)
        )
    for x in r["rotation"]:
        x["rate"] = x["keys"] / x["seconds"]
    for x in r["memory"]:
        x.update(
            peak_mib=x["peak"] / h.MIB,
            growth_mib=x["rss_growth_kib"] / 1024,
            rss_mib=x["rss_before_kib"] / 1024,
        )
        x["ok_text"] = "yes" if x["ok"] else "no"
    reader = (
        f"{m['reader']('share'):.0%} of raw ({m['reader']('custos'):,.0f} vs {m['reader']('raw'):,.0f} MB/s; "
    )
    reader += f"per CPU-second {m['reader']('cpu_share'):.0%})"
    share = m["reader"]("share")
    verdicts = [
        h.Verdict(
            "reader",
            f"Decrypting reader vs raw AES-256-GCM ({big})",
            reader,
            ">= 50% of raw",
            share >= TARGET_READER_SHARE,
        )
    ]
    for label, x in runs.items():
        peak, rss = max(y["peak"] for y in x) / h.MIB, max(y["rss_growth_kib"] for y in x) / 1024
        measured = f"{peak:.2f} MiB tracemalloc peak (resident set +{rss:.1f} MiB at most)"
        title = f"Peak memory, decrypting {x[0]['size_text']} whole"
        verdicts.append(
            h.Verdict(f"memory-{label}", title, measured, "< 32 MiB", peak * h.MIB < TARGET_PEAK_BYTES)
        )
    store_ratio, seek_ratio, rate = m["store"]("ratio"), m["seek"]("ratio"), m["api"]("rate")
    store_ms = f"{store_ratio:.2f}x ({m['store']('custos_ms'):.1f} vs {m['store']('plain_ms'):.1f} ms)"
    seek_ms = f"{seek_ratio:.2f}x ({m['seek']('end'):.1f} vs {m['seek']('start'):.1f} ms)"
    http = f"{m['http']('mbps'):,.0f} MB/s (reader alone: {m['http']('reader'):,.0f} MB/s)"
    api_rate = f"{rate:.1f} ingests/s ({rate * scale.api / MB:.1f} MB/s of audio)"
    keys = r["rotation"][0]["keys"]
    rotation = f"{m['rotation']('rate'):,.0f} keys/s ({m['rotation']('seconds'):.1f} s)"
    verdicts += [
        h.Verdict(
            "store",
            f"Store step of {store}: Custos vs plain save",
            store_ms,
            "<= 1.3x",
            store_ratio <= TARGET_STORE_RATIO,
        ),
        h.Verdict(
            "seek",
            f"Seek: time to first byte near the end vs at the start ({big})",
            seek_ms,
            "<= 2x",
            seek_ratio <= TARGET_SEEK_RATIO,
        ),
        h.Verdict("http", f"Playback over HTTP, gunicorn ({big})", http, "informational", None),
        h.Verdict("api", f"API ingests of {api} WAVs, gunicorn", api_rate, "informational", None),
        h.Verdict("rotation", f"Master-key rotation, {keys:,} subject keys", rotation, "informational", None),
    ]
    v = {x.key: x for x in verdicts}
    batch, batch_ms, parts = rotation_profile
    out = [
        f"### 1. Decrypting reader against raw AES-256-GCM, {big}",
        "",
        *h.table(r["reader"], READER_COLUMNS),
    ]
    out += h.target_line(v["reader"], "the reader at least 50% of raw (wall clock)")
    out += [f"### 2. Peak memory of decrypting a recording whole, {small} and {big}", ""]
    out += h.table(runs["small"] + runs["big"], MEMORY_COLUMNS)
    cells = f"{small}: {v['memory-small'].cell}; {big}: {v['memory-big'].cell}"
    out += [f"Target: under 32 MiB (tracemalloc). {cells}.", ""]
    out += [f"### 3. Playback over HTTP through gunicorn, {big}", "", *h.table(r["http"], HTTP_COLUMNS)]
    out += [f"### 4. Store step of a {store} recording", "", *h.table(r["store"], STORE_COLUMNS)]
    out += h.md(
        """
        Target: (a) within 1.3x of (c). {v[store].measured}: {v[store].cell}. The whole ingest (b) is
        {ingest:.2f}x (c). The look-up as ingest does it (e) takes {lookup:.2f} ms, a plain one (f)
        {plain:.2f} ms; counted into (a), the store step is {with_lookup:.2f}x (c).

        Where the store step's time goes (cProfile of one store step, own time):
        """,
        v=v,
        ingest=m["store"]("ingest_ratio"),
        lookup=m["store"]("lookup_ms"),
        plain=m["store"]("lookup_plain_ms"),
        with_lookup=m["store"]("with_lookup"),
    )
    out += h.table(store_profile, "Function {fn}\nCalls> {calls}\nOwn ms> {ms:.2f}\nShare> {share:.0%}")
    out += [f"### 5. API ingests of {api} WAVs through gunicorn", "", *h.table(r["api"], API_COLUMNS)]
    out += [f"### 6. Seek: time to first byte, {big}", "", *h.table(r["seek"], SEEK_COLUMNS)]
    out += h.target_line(v["seek"], "the end within 2x of the start")
    out += [
        f"### 7. Master-key rotation of {keys:,} subject keys",
        "",
        *h.table(r["rotation"], ROTATION_COLUMNS),
    ]
    out += [f"cProfile of one batch of {batch} keys ({batch_ms:.0f} ms under the profiler), cumulative:", ""]
    out += h.table(parts, "Part {part}\nms> {ms:.1f}\nShare of the batch> {share:.0%}")
    import cryptography
    from cryptography.hazmat.backends.openssl import backend

    setting = f", cryptography {cryptography.__version__} ({backend.openssl_version_text()}), gunicorn "
    return h.Outcome(verdicts, out, setting=setting + importlib.metadata.version("gunicorn"), data=r)
