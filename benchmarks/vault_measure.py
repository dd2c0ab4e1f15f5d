"""The Django side of the vault benchmark (``benchmarks/vault.py``): its data and its timed steps.

Imported by ``benchmarks/vault.py`` once Django is set up against the benchmark database, and run
as a module for the one measurement that needs a fresh process each time, the peak memory of
decrypting a stored recording whole::

    DATABASE_URL=postgres://... CUSTOS_VAR_DIR=... python -m benchmarks.vault_measure memory --recording 2

which prints one JSON object on stdout. Everything here goes through Custos's own code: audio is
stored by ``recording_ingest`` / ``audio_store``, read back by ``audio_open`` and
``DecryptingReader``, keys are made and wrapped by ``recordings.vault.keys`` and the keyring.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import hashlib
import json
import os
import pstats
import random
import resource
import statistics
import sys
import sysconfig
import time
import tracemalloc
import uuid
import wave
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a module: set Django up before the models are imported
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
    django.setup()

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.contrib.auth import get_user_model
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from compliance_site.keys import get_provider
from recordings.intake.serializers import RecordingMetadataSerializer
from recordings.intake.services import recording_ingest
from recordings.models import (
    DataSubject,
    Purpose,
    Queue,
    Recording,
    RecordingNotice,
    SubjectKey,
)
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

ROOT = Path(__file__).resolve().parent.parent
MB = 1_000_000
MIB = 1024 * 1024
WAV_HEADER_BYTES = 44  # RIFF + fmt + data chunk headers of a plain PCM WAV
SAMPLE_RATE = 8000  # telephony: 8 kHz, 16-bit, mono
PLAINTEXT_SEGMENT = SEGMENT_SIZE - TAG_SIZE  # plaintext bytes of a full segment (65,520)
ADMIN_USERNAME = "bench-vault-admin"
SUBJECT_REFERENCE = "BS-BENCH-VAULT"
QUEUE_CODE = "bench-vault"
PURPOSE_CODE = Purpose.QUALITY_ASSURANCE
NOTICE = ("2026.1", "en")
ROTATION_SUBJECT_PREFIX = "BK-"
BULK_BATCH = 5_000


# --- Data -------------------------------------------------------------------------------------


def write_wav(path: Path, size: int, *, seed: int) -> None:
    """A valid 8 kHz 16-bit mono PCM WAV of exactly ``size`` bytes, noise as samples (seeded)."""
    frames = (size - WAV_HEADER_BYTES) // 2
    if size < WAV_HEADER_BYTES + 2 or WAV_HEADER_BYTES + 2 * frames != size:
        raise ValueError(f"a 16-bit PCM WAV cannot be {size} bytes (header 44 + an even number)")
    rng = random.Random(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        remaining = frames * 2
        while remaining:
            block = min(remaining, 4 * MIB)
            wav.writeframesraw(rng.randbytes(block))
            remaining -= block
    if path.stat().st_size != size:
        raise RuntimeError(f"{path} has {path.stat().st_size} bytes, not {size}")


def wav_size(approximate: int) -> int:
    """``approximate`` rounded down to a size a 16-bit WAV can have."""
    return approximate - (approximate - WAV_HEADER_BYTES) % 2


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MIB):
            digest.update(block)
    return digest.hexdigest()


def call_metadata(*, minutes: float) -> dict[str, Any]:
    """The JSON metadata of one inbound call by the benchmark's subject, recorded with consent."""
    ended = timezone.now().replace(microsecond=0) - datetime.timedelta(hours=1)
    started = ended - datetime.timedelta(minutes=minutes)
    return {
        "subject": {"reference": SUBJECT_REFERENCE},
        "queue": QUEUE_CODE,
        "direction": "inbound",
        "started_at": started.isoformat(),
        "ended_at": ended.isoformat(),
        "lawful_basis": "consent",
        "purposes": [PURPOSE_CODE],
        "consents": [
            {
                "purpose": PURPOSE_CODE,
                "decision": "given",
                "method": "ivr_keypress",
                "notice_version": NOTICE[0],
                "notice_language": NOTICE[1],
                "captured_at": (started + datetime.timedelta(seconds=12)).isoformat(),
                "evidence_offset_seconds": 12,
                "jurisdiction": "DE",
            }
        ],
    }


def validated_metadata(size: int) -> dict[str, Any]:
    """``call_metadata`` through the one validator of recording metadata, as the API does."""
    serializer = RecordingMetadataSerializer(data=call_metadata(minutes=size / (2 * SAMPLE_RATE) / 60))
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@dataclass
class Fixture:
    """What the measurements work on."""

    admin_id: int
    subject_id: int
    queue_id: int
    recordings: dict[str, int]  # label -> id of a recording stored by recording_ingest
    sizes: dict[str, int]  # label -> its audio size in bytes
    store_input: Path
    store_checksum: str
    plain_storage_dir: Path


def prepare(*, workdir: Path, recording_sizes: dict[str, int], store_size: int) -> Fixture:
    """The benchmark's users and reference rows, and recordings stored by ``recording_ingest``."""
    user_model = get_user_model()
    admin = user_model(username=ADMIN_USERNAME, email=f"{ADMIN_USERNAME}@custos.example")
    admin.is_staff = admin.is_superuser = True
    admin.set_unusable_password()
    admin.save()
    RecordingNotice.objects.get_or_create(
        version=NOTICE[0],
        language=NOTICE[1],
        defaults={"text": "Calls are recorded for quality assurance.", "published_at": timezone.now()},
    )
    Purpose.objects.get_or_create(
        code=PURPOSE_CODE, defaults={"name": "Quality assurance", "description": "Reviewing calls."}
    )
    queue, _ = Queue.objects.get_or_create(code=QUEUE_CODE, defaults={"name": "Benchmark queue"})
    subject, _ = subject_create(personal=PersonalData(full_name="Bench Caller"), reference=SUBJECT_REFERENCE)

    recordings: dict[str, int] = {}
    for seed, (label, size) in enumerate(recording_sizes.items(), start=1):
        path = workdir / "input" / f"{label}.wav"
        write_wav(path, size, seed=seed)
        with path.open("rb") as audio:
            recording = recording_ingest(audio=audio, metadata=validated_metadata(size))
        recordings[label] = recording.pk
        path.unlink()  # the stored (encrypted) copy is what is measured
    store_input = workdir / "input" / "store.wav"
    write_wav(store_input, store_size, seed=100)
    plain_dir = workdir / "plain"
    return Fixture(
        admin_id=admin.pk,
        subject_id=subject.pk,
        queue_id=queue.pk,
        recordings=recordings,
        sizes=dict(recording_sizes),
        store_input=store_input,
        store_checksum=sha256_file(store_input),
        plain_storage_dir=plain_dir,
    )


def session_cookie(user_id: int) -> str:
    """A ``Cookie`` header value of a signed-in session of the user (Django's force_login)."""
    from django.conf import settings

    client = Client()
    client.force_login(get_user_model().objects.get(pk=user_id))
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def create_subject_keys(count: int) -> int:
    """``count`` subjects with a fresh subject key each, wrapped under the current master-key
    version by the keyring (``subject_key_aad`` as associated data, as ``subject_key_new`` does),
    bulk-inserted (setup, not measured). Returns how many live subject keys there are now."""
    provider = get_provider()
    made = 0
    while made < count:
        subjects = [
            DataSubject(reference=f"{ROTATION_SUBJECT_PREFIX}{number:07d}")
            for number in range(made, min(count, made + BULK_BATCH))
        ]
        DataSubject.objects.bulk_create(subjects)
        keys = []
        for subject in subjects:
            version, wrapped = provider.wrap(os.urandom(KEY_BYTES), associated_data=subject_key_aad(subject))
            keys.append(SubjectKey(subject=subject, master_version=version, wrapped_key=wrapped))
        SubjectKey.objects.bulk_create(keys)
        made += len(subjects)
    return SubjectKey.objects.filter(destroyed_at__isnull=True).count()


# --- 1. Decrypting reader against raw AES-GCM ---------------------------------------------------


def reader_pass(recording_id: int) -> tuple[int, float, float]:
    """Decrypt the whole stored recording as playback does (``audio_open`` then ``iter_range``
    over every byte, chunk by chunk); (plaintext bytes, wall-clock seconds, CPU seconds of this
    thread, system time of its reads included). The key is fetched untimed."""
    recording = Recording.objects.select_related("subject").get(pk=recording_id)
    key = recording_key(recording)
    total = 0
    started, cpu_started = time.perf_counter(), time.thread_time()
    with audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as reader:
        for chunk in reader.iter_range(0, reader.plaintext_size - 1):
            total += len(chunk)
    return total, time.perf_counter() - started, time.thread_time() - cpu_started


def raw_pass(recording_id: int) -> tuple[int, float, float]:
    """Raw AES-GCM over the same bytes: ``cryptography``'s AESGCM (AES-256) decrypting the stored
    recording's own ciphertext, segment after segment, from memory. The blob is read into memory,
    and its segment key (HKDF of the header's salt), nonces and slices prepared, before the clock
    starts: what is timed is the decryption alone, which like the reader's reads every byte from
    main memory. (bytes, wall-clock seconds, CPU seconds of this thread)."""
    recording = Recording.objects.select_related("subject").get(pk=recording_id)
    key = recording_key(recording)
    with recordings_storage().open(recording.storage_ref, "rb") as blob:
        ciphertext = memoryview(blob.read())
    if ciphertext[0] != HEADER_SIZE:
        raise RuntimeError("the stored blob does not start with the streaming AEAD header")
    # The format's own key derivation and nonces (recordings.vault.streaming_aead), not written again.
    salt, prefix = bytes(ciphertext[1 : 1 + KEY_SIZE]), bytes(ciphertext[1 + KEY_SIZE : HEADER_SIZE])
    aead = _segment_aead(key, salt, recording_aad(recording.pk))
    starts = [HEADER_SIZE, *range(SEGMENT_SIZE, len(ciphertext), SEGMENT_SIZE)]
    ends = [*starts[1:], len(ciphertext)]
    last = len(starts) - 1
    work = [
        (_nonce(prefix, index, index == last), ciphertext[start:end])
        for index, (start, end) in enumerate(zip(starts, ends, strict=True))
    ]
    decrypt = aead.decrypt
    total = 0
    started, cpu_started = time.perf_counter(), time.thread_time()
    for nonce, segment in work:
        total += len(decrypt(nonce, segment, None))
    elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu_started
    del work, ciphertext
    return total, elapsed, cpu


def raw_cached_pass(plaintext_bytes: int) -> tuple[int, float, float]:
    """Informational: AESGCM decrypting one 64 KiB segment (65,520 plaintext bytes + tag) again
    and again until as many bytes as the reader's. That segment stays in the CPU's cache, so this
    is the cipher's speed with no memory traffic at all. (bytes, wall-clock s, CPU s)."""
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    segment = aead.encrypt(nonce, os.urandom(PLAINTEXT_SEGMENT), None)
    segments = -(-plaintext_bytes // PLAINTEXT_SEGMENT)
    started, cpu_started = time.perf_counter(), time.thread_time()
    for _ in range(segments):
        aead.decrypt(nonce, segment, None)
    return segments * PLAINTEXT_SEGMENT, time.perf_counter() - started, time.thread_time() - cpu_started


# --- 4. Store step ------------------------------------------------------------------------------


def _recording_row(fx: Fixture, storage_ref: str, subject: DataSubject) -> Recording:
    """The same Recording row for every variant (saved with its history row, as the model does)."""
    now = timezone.now()
    return Recording(
        reference=f"REC-BENCH-{uuid.uuid4().hex[:12].upper()}",
        subject=subject,
        queue_id=fx.queue_id,
        direction=Recording.Direction.INBOUND,
        started_at=now - datetime.timedelta(minutes=10),
        ended_at=now,
        lawful_basis="consent",
        storage_ref=storage_ref,
        size_bytes=fx.store_input.stat().st_size,
        content_type="audio/wav",
        checksum_sha256=fx.store_checksum,
    )


def _subject_as_ingest_finds_it(fx: Fixture) -> tuple[DataSubject, SubjectKey]:
    """The caller's subject as ``recording_ingest`` has it before the store step: found,
    share-locked for the rest of the transaction, and its key row read after the lock
    (``_subject_for_call``). Inside the caller's transaction; untimed in (a): finding the caller
    is not storing the call (what it costs over a plain look-up is measured apart, (e) and (f))."""
    subject = DataSubject.objects.get(pk=fx.subject_id)
    subject_share_lock(subject)
    return subject, SubjectKey.objects.get(subject=subject)


def store_custos(fx: Fixture) -> float:
    """(a) Custos's store step, as inside ``recording_ingest``: the subject key unwrapped from its
    row, the Recording row, a new recording key wrapped under the subject key and its RecordingKey
    row, the audio encrypted into the recordings storage (``audio_store``), and the commit.
    Seconds."""
    name = audio_blob_name("wav")
    with fx.store_input.open("rb") as plaintext:
        with transaction.atomic():
            subject, key_row = _subject_as_ingest_finds_it(fx)
            recording = _recording_row(fx, name, subject)
            started = time.perf_counter()
            subject_key_bytes = subject_key_unwrap(key_row, subject)
            recording.save()
            key, recording_key_row = recording_key_new(recording, subject_key_bytes)
            recording_key_row.save()
            stored = audio_store(plaintext=plaintext, key=key, recording_id=recording.pk, name=name)
        elapsed = time.perf_counter() - started
    audio_delete(stored.name)
    if stored.plaintext_bytes != fx.store_input.stat().st_size:
        raise RuntimeError("the store step encrypted other bytes than the input")
    return elapsed


def store_ingest(fx: Fixture) -> float:
    """(b) The whole ``recording_ingest``: format check, SHA-256, subject look-up, rows, purposes,
    consent, store step, retention, access log. The metadata is validated untimed. Seconds."""
    metadata = validated_metadata(fx.store_input.stat().st_size)
    with fx.store_input.open("rb") as audio:
        started = time.perf_counter()
        recording = recording_ingest(audio=audio, metadata=metadata)
        elapsed = time.perf_counter() - started
    audio_delete(recording.storage_ref)
    return elapsed


def _plain_storage(fx: Fixture) -> FileSystemStorage:
    # The recordings storage's own options, in a folder of its own.
    return FileSystemStorage(
        location=str(fx.plain_storage_dir),
        base_url=None,
        file_permissions_mode=0o600,
        directory_permissions_mode=0o700,
    )


def store_plain(fx: Fixture, *, checksum: bool = False) -> float:
    """(c) What storing costs without the vault: the same Recording row and
    ``FileSystemStorage.save`` of the same bytes, and the commit; with ``checksum``, (d): the
    SHA-256 a plain server would compute for ``checksum_sha256`` too. The subject is looked up
    (untimed) without a lock or a key. Seconds."""
    storage = _plain_storage(fx)
    name = f"audio/{timezone.now():%Y/%m}/{uuid.uuid4().hex}.wav"
    with fx.store_input.open("rb") as plaintext:
        with transaction.atomic():
            recording = _recording_row(fx, name, DataSubject.objects.get(pk=fx.subject_id))
            started = time.perf_counter()
            if checksum:
                digest = hashlib.sha256()
                while block := plaintext.read(MIB):
                    digest.update(block)
                plaintext.seek(0)
            recording.save()
            stored_name = storage.save(name, File(plaintext, name=name))
        elapsed = time.perf_counter() - started
    storage.delete(stored_name)
    return elapsed


def subject_lookups(fx: Fixture, repeats: int) -> dict[str, float]:
    """(e) and (f), informational: the subject's look-up as ingest does it (locked, then its key
    row read; untimed in (a)) and a plain look-up by id (as (c) finds its subject), each in a
    transaction of its own, alternating ``repeats`` times, back to back so that both meet the same
    caches. Median milliseconds of each."""
    times: dict[str, list[float]] = {"lookup_custos": [], "lookup_plain": []}
    for _ in range(repeats):
        started = time.perf_counter()
        with transaction.atomic():
            _subject_as_ingest_finds_it(fx)
        middle = time.perf_counter()
        with transaction.atomic():
            DataSubject.objects.get(pk=fx.subject_id)
        times["lookup_custos"].append(middle - started)
        times["lookup_plain"].append(time.perf_counter() - middle)
    return {variant: statistics.median(values) * 1000 for variant, values in times.items()}


STORE_VARIANTS = {
    "custos": store_custos,
    "ingest": store_ingest,
    "plain": store_plain,
    "plain_sha256": lambda fx: store_plain(fx, checksum=True),
}


def profile_store_step(fx: Fixture, top: int = 8) -> list[dict[str, Any]]:
    """Where the store step's time goes: cProfile of one untimed store step, the functions with
    the most time of their own."""
    profiler = cProfile.Profile()
    profiler.enable()
    store_custos(fx)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    rows = []
    for (filename, line, function), (_, calls, own, _, _) in stats.stats.items():
        where = function if filename == "~" else f"{_short_path(filename)}:{line}({function})"
        rows.append({"function": where, "calls": calls, "own_ms": own * 1000, "share": own / total})
    rows.sort(key=lambda row: row["own_ms"], reverse=True)
    return rows[:top]


def _short_path(filename: str) -> str:
    """A module path relative to site-packages, the standard library or the project."""
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1]
    stdlib = sysconfig.get_paths()["stdlib"]
    if filename.startswith(f"{stdlib}/"):
        return filename.removeprefix(f"{stdlib}/")
    return filename.removeprefix(f"{ROOT}/")


# --- 7. Master-key rotation ---------------------------------------------------------------------

# Parts of one re-wrap batch, by cumulative time (they overlap: the SQL is inside the other two).
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
    """``manage.py rotate_master_key`` (its command, in this process): a new master-key version,
    every live subject key re-wrapped under it in batches of 500. Checks that none is left."""
    provider = get_provider()
    before = provider.current_version()
    live = SubjectKey.objects.filter(destroyed_at__isnull=True).count()
    out = StringIO()
    started = time.perf_counter()
    call_command("rotate_master_key", stdout=out)
    elapsed = time.perf_counter() - started
    after = provider.current_version()
    stale = subject_keys_stale_count()
    rewrapped = SubjectKey.objects.filter(destroyed_at__isnull=True, master_version=after).count()
    if after == before or stale or rewrapped != live:
        raise RuntimeError(f"rotation left {stale} keys behind ({rewrapped}/{live} under {after})")
    return {"keys": rewrapped, "seconds": elapsed, "from": before, "to": after}


def profile_rotation_batch() -> dict[str, Any]:
    """Where a rotation's time goes: a new master-key version and cProfile of its first batch of
    ``subject_keys_rewrap_batch`` (what ``rotate_master_key`` loops over). The rest of that
    rotation is left undone (it is resumable; the benchmark's database is dropped anyway)."""
    get_provider().create_version()
    profiler = cProfile.Profile()
    profiler.enable()
    keys = subject_keys_rewrap_batch()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    parts = []
    for label, (path, function) in ROTATION_PARTS.items():
        cumulative = sum(
            entry[3]
            for (filename, _, name), entry in stats.stats.items()
            if name == function and filename.endswith(path)
        )
        parts.append({"part": label, "ms": cumulative * 1000, "share": cumulative / total})
    return {"keys": keys, "total_ms": total * 1000, "parts": parts}


# --- 2. Peak memory, in a fresh process ---------------------------------------------------------


def _rss_kib() -> int:
    """The process's resident set now (KiB), from /proc."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def memory(recording_id: int) -> dict[str, Any]:
    """Decrypt one stored recording whole, as playback does, in this (fresh) process: the peak
    of Python allocations (tracemalloc) and the resident set's growth over its value just before,
    sampled while decrypting (``ru_maxrss`` too, kept in the JSON: a forked process inherits its
    parent's high-water mark, so it rarely moves). The key is fetched before the baseline."""
    recording = Recording.objects.select_related("subject").get(pk=recording_id)
    key = recording_key(recording)
    digest = hashlib.sha256()
    total = 0
    gc.collect()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    rss_before = _rss_kib()
    tracemalloc.start()
    started = time.perf_counter()
    rss_peak = rss_before
    with audio_open(name=recording.storage_ref, key=key, recording_id=recording.pk) as reader:
        for number, chunk in enumerate(reader.iter_range(0, reader.plaintext_size - 1)):
            digest.update(chunk)
            total += len(chunk)
            if number % 16 == 0:  # the resident set as it is, a memory-mapped blob's pages included
                rss_peak = max(rss_peak, _rss_kib())
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "recording": recording_id,
        "bytes": total,
        "size_bytes": recording.size_bytes,
        "seconds": elapsed,
        "tracemalloc_peak_bytes": peak,
        "maxrss_before_kib": maxrss_before,
        "maxrss_after_kib": maxrss_after,
        "rss_before_kib": rss_before,
        "rss_growth_peak_kib": rss_peak - rss_before,
        "plaintext_ok": total == recording.size_bytes and digest.hexdigest() == recording.checksum_sha256,
    }


def stored_blob_bytes(recording_id: int) -> int:
    """The ciphertext size of a stored recording."""
    return recordings_storage().size(Recording.objects.get(pk=recording_id).storage_ref)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mem = sub.add_parser("memory", help="peak memory of decrypting one stored recording whole")
    mem.add_argument("--recording", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "memory":
        print(json.dumps(memory(args.recording)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
