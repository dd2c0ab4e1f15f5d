"""The Django side of the package benchmark (``benchmarks/package.py``): its data and its timed steps.

Imported by ``benchmarks/package.py`` once Django is set up against the benchmark database, and run
as a module for the one measurement that needs a fresh process each time, the peak memory of
building a package::

    DATABASE_URL=postgres://... CUSTOS_VAR_DIR=... python -m benchmarks.package_measure memory \
        --request 1 --actor 1

which prints one JSON object on stdout. Everything goes through Custos's own code: each recording
is encrypted under its own recording key by ``audio_store``, the package is built by
``dsr.packages.package_build`` and read back by ``package_open``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import hashlib
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
import wave
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a module: set Django up before the models are imported
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "compliance_site.settings")
    django.setup()

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from simple_history.utils import bulk_create_with_history

from dsr.models import DataPackage, DataSubjectRequest
from dsr.packages import package_build, package_open
from dsr.services import request_create
from recordings.models import Consent, Purpose, Queue, Recording, RecordingNotice
from recordings.services import subject_create
from recordings.vault.keys import PersonalData, recording_key_new
from recordings.vault.storage import audio_blob_name, audio_store, recordings_storage
from retention.models import RetentionPolicy

MB = 1_000_000
MIB = 1024 * 1024
WAV_HEADER_BYTES = 44
SAMPLE_RATE = 8000  # telephony: 8 kHz, 16-bit, mono
COPY_BLOCK = MIB  # the baseline copies 1 MiB at a time (zipfile's own write() uses 8 KiB)
ADMIN_USERNAME = "bench-package-dpo"
SUBJECT_REFERENCE = "BS-BENCH-PACKAGE"
QUEUE_CODE = "bench-package"
NOTICE = ("2026.1", "en")


def wav_size(approximate: int) -> int:
    """``approximate`` rounded down to a size a 16-bit WAV can have."""
    return approximate - (approximate - WAV_HEADER_BYTES) % 2


def write_wav(path: Path, size: int, *, seed: int) -> None:
    """A valid 8 kHz 16-bit mono PCM WAV of exactly ``size`` bytes, seeded noise as samples."""
    frames = (size - WAV_HEADER_BYTES) // 2
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframesraw(random.Random(seed).randbytes(frames * 2))
    if path.stat().st_size != size:
        raise RuntimeError(f"{path} has {path.stat().st_size} bytes, not {size}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(MIB):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Fixture:
    """What the measurements work on."""

    request_id: int
    actor_id: int
    plain: list[tuple[str, Path]]  # (arcname in the package, the plaintext WAV on disk), in order
    audio_bytes: int  # all recordings' plaintext together


def prepare(*, workdir: Path, recordings: int, size: int) -> Fixture:
    """A DPO, a subject with ``recordings`` calls of ``size`` bytes (distinct noise each, each
    encrypted by ``audio_store`` under its own recording key, with its consent) and an access
    request. The plaintext WAVs stay on disk for the baseline."""
    user_model = get_user_model()
    dpo = user_model(username=ADMIN_USERNAME, email=f"{ADMIN_USERNAME}@custos.example")
    dpo.is_staff = dpo.is_superuser = True
    dpo.set_unusable_password()
    dpo.save()
    notice, _ = RecordingNotice.objects.get_or_create(
        version=NOTICE[0],
        language=NOTICE[1],
        defaults={"text": "Calls are recorded for quality assurance.", "published_at": timezone.now()},
    )
    purpose, _ = Purpose.objects.get_or_create(
        code=Purpose.QUALITY_ASSURANCE,
        defaults={"name": "Quality assurance", "description": "Reviewing calls."},
    )
    RetentionPolicy.objects.get_or_create(purpose=purpose, defaults={"keep_days": 365})
    queue, _ = Queue.objects.get_or_create(code=QUEUE_CODE, defaults={"name": "Benchmark queue"})
    subject, subject_key_bytes = subject_create(
        personal=PersonalData(full_name="Bench Caller", phone="+49 30 5550100", email="bench@example.org"),
        reference=SUBJECT_REFERENCE,
    )
    first_call = timezone.now() - datetime.timedelta(days=60)
    plain: list[tuple[str, Path]] = []
    for number in range(recordings):
        path = workdir / "plain" / f"{number:05d}.wav"
        write_wav(path, size, seed=number)
        started = first_call + datetime.timedelta(hours=number)
        with transaction.atomic():
            name = audio_blob_name("wav")
            recording = Recording.objects.create(
                reference=f"REC-BENCH-{number:05d}",
                subject=subject,
                queue=queue,
                direction=Recording.Direction.INBOUND,
                started_at=started,
                ended_at=started + datetime.timedelta(seconds=size / (2 * SAMPLE_RATE)),
                lawful_basis="consent",
                storage_ref=name,
                size_bytes=size,
                content_type="audio/wav",
                checksum_sha256=sha256_file(path),
                keep_until=started + datetime.timedelta(days=365),
            )
            recording.purposes.set([purpose])
            key, key_row = recording_key_new(recording, subject_key_bytes)
            key_row.save()
            with path.open("rb") as audio:
                audio_store(plaintext=audio, key=key, recording_id=recording.pk, name=name)
            bulk_create_with_history(
                [
                    Consent(
                        subject=subject,
                        recording=recording,
                        purpose=purpose,
                        decision="given",
                        method="ivr_keypress",
                        notice=notice,
                        captured_at=started + datetime.timedelta(seconds=12),
                        evidence_offset=datetime.timedelta(seconds=12),
                        jurisdiction="DE",
                    )
                ],
                Consent,
            )
        plain.append((f"recordings/{recording.reference}.wav", path))
    request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=subject
    )
    return Fixture(request.pk, dpo.pk, plain, recordings * size)


def stored_ciphertext_bytes() -> int:
    storage = recordings_storage()
    return sum(storage.size(r.storage_ref) for r in Recording.objects.exclude(storage_ref=""))


def _discard(package: DataPackage) -> None:
    recordings_storage().delete(package.storage_ref)
    package.delete()


def _cpu_seconds() -> float:
    """User and system CPU time of this process so far, all its threads together."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _build(request_id: int, actor_id: int) -> tuple[DataPackage, float, float]:
    request = DataSubjectRequest.objects.select_related("subject").get(pk=request_id)
    actor = get_user_model().objects.get(pk=actor_id)
    cpu, started = _cpu_seconds(), time.perf_counter()
    package = package_build(request=request, actor=actor)
    return package, time.perf_counter() - started, _cpu_seconds() - cpu


def custos_once(fx: Fixture, *, keep: bool = False) -> dict[str, Any]:
    """(a) ``package_build`` of the whole access package, timed end to end: its queries, the
    manifest and summary, every recording decrypted into the ZIP stream, the stream encrypted
    into the recordings storage, the row and the access event. The package is then deleted
    (untimed) unless ``keep``."""
    package, elapsed, cpu = _build(fx.request_id, fx.actor_id)
    figures = {
        "seconds": elapsed,
        "cpu_seconds": cpu,
        "bytes": package.size_bytes,
        "ciphertext_bytes": recordings_storage().size(package.storage_ref),
        "recordings": package.recordings,
        "package_id": package.pk,
    }
    if not keep:
        _discard(package)
    return figures


def baseline_once(fx: Fixture, out: Path) -> dict[str, Any]:
    """(b) The same plaintext audio written into ``zipfile.ZipFile(out, "w", ZIP_STORED)`` on the
    same disk, each file copied in 1 MiB blocks; the archive is then deleted (untimed)."""
    cpu, started = _cpu_seconds(), time.perf_counter()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname, path in fx.plain:
            info = zipfile.ZipInfo.from_file(path, arcname)
            with path.open("rb") as source, archive.open(info, "w") as target:
                shutil.copyfileobj(source, target, COPY_BLOCK)
    elapsed, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    size = out.stat().st_size
    out.unlink()
    return {"seconds": elapsed, "cpu_seconds": cpu, "bytes": size}


# Where a build's time goes: the C functions that do the per-byte work, by their cProfile names.
_PROFILE_PARTS = (
    ("AES-GCM decryption of the recordings", "decrypt' of 'cryptography"),
    ("AES-GCM encryption of the archive", "encrypt_into' of 'cryptography"),
    ("CRC-32 of the ZIP entries (zlib)", "<built-in method zlib.crc32>"),
    (
        "File reads (headers; the recordings' segments come from their memory maps)",
        "<method 'read' of '_io.BufferedReader' objects>",
    ),
    ("File writes (ciphertext of the archive)", "<method 'write' of '_io.BufferedWriter' objects>"),
)


def profile_build(fx: Fixture) -> dict[str, Any]:
    """cProfile of one whole build, the archive run inline (cProfile sees one thread only; the
    encryption runs in the caller's already), grouped into the per-byte work of ``_PROFILE_PARTS``
    and the rest (Python: the readers, the ZIP stream, copies between them; the queries and the
    manifest). The package is deleted."""
    import cProfile
    import pstats

    from dsr import packages

    def inline(chunks, **options):
        return iter(chunks)

    threaded = packages.prefetched
    packages.prefetched = inline
    profiler = cProfile.Profile()
    try:
        profiler.enable()
        package, _, _ = _build(fx.request_id, fx.actor_id)
        profiler.disable()
    finally:
        packages.prefetched = threaded
    size = package.size_bytes
    _discard(package)
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    seconds = dict.fromkeys((label for label, _ in _PROFILE_PARTS), 0.0)
    for (_, _, function), (_, _, own, _, _) in stats.stats.items():
        for label, needle in _PROFILE_PARTS:
            if needle in function:
                seconds[label] += own
    parts = [{"part": label, "seconds": own, "share": own / total} for label, own in seconds.items()]
    rest = total - sum(seconds.values())
    parts.append(
        {"part": "Everything else (Python, queries, manifest)", "seconds": rest, "share": rest / total}
    )
    return {"bytes": size, "total_seconds": total, "parts": parts}


def verify(fx: Fixture, package_id: int, workdir: Path) -> dict[str, Any]:
    """Decrypt a built package to a temporary file (``package_open``, as the download does) and
    check it: a ZIP whose every CRC holds, with the manifest, the summary and every recording,
    each equal to its plaintext (SHA-256). The file and the package are deleted afterwards."""
    package = DataPackage.objects.select_related("request__subject").get(pk=package_id)
    plain_bytes = 0
    with tempfile.NamedTemporaryFile(dir=workdir, suffix=".zip") as plain_zip:
        for chunk in package_open(package=package):
            plain_bytes += len(chunk)
            plain_zip.write(chunk)
        plain_zip.flush()
        with zipfile.ZipFile(plain_zip.name) as archive:
            names = archive.namelist()
            expected = {"manifest.json", "summary.html", *(arcname for arcname, _ in fx.plain)}
            if set(names) != expected or len(names) != len(expected):
                raise RuntimeError(
                    f"the package holds {len(names)} entries, not the {len(expected)} expected"
                )
            bad = archive.testzip()
            if bad is not None:
                raise RuntimeError(f"{bad} fails its CRC in the package")
            manifest = json.loads(archive.read("manifest.json"))
            if len(manifest["recordings"]) != len(fx.plain):
                raise RuntimeError("the manifest does not list every recording")
            for arcname, path in fx.plain:
                entry = hashlib.sha256()
                with archive.open(arcname) as member:
                    while block := member.read(MIB):
                        entry.update(block)
                if entry.hexdigest() != sha256_file(path):
                    raise RuntimeError(f"{arcname} differs from its original")
    if plain_bytes != package.size_bytes:
        raise RuntimeError("the decrypted package is not as long as recorded at build time")
    _discard(package)
    return {"entries": len(names), "manifest_bytes": len(json.dumps(manifest)), "ok": True}


# --- Peak memory, in a fresh process ----------------------------------------------------------


def _rss_kib() -> int:
    """The process's resident set now (KiB), from /proc."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return 0


def memory(request_id: int, actor_id: int) -> dict[str, Any]:
    """Build the package in this (fresh) process: the peak of Python allocations (tracemalloc)
    and the growth of the resident set's high-water mark (ru_maxrss) over its value just before.
    The request and the actor are loaded before the baseline; the package is deleted after."""
    request = DataSubjectRequest.objects.select_related("subject").get(pk=request_id)
    actor = get_user_model().objects.get(pk=actor_id)
    gc.collect()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    rss_before = _rss_kib()
    tracemalloc.start()
    started = time.perf_counter()
    package = package_build(request=request, actor=actor)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures = {
        "bytes": package.size_bytes,
        "seconds": elapsed,
        "tracemalloc_peak_bytes": peak,
        "maxrss_before_kib": maxrss_before,
        "maxrss_after_kib": maxrss_after,
        "rss_before_kib": rss_before,
    }
    _discard(package)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    mem = sub.add_parser("memory", help="peak memory of building one package")
    mem.add_argument("--request", type=int, required=True)
    mem.add_argument("--actor", type=int, required=True)
    args = parser.parse_args(argv)
    if args.command == "memory":
        print(json.dumps(memory(args.request, args.actor)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
