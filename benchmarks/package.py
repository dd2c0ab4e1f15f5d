"""Access packages (Art. 15): ``package_build`` against ``zipfile`` ZIP_STORED on CPU seconds per
GB, both archives into a discarding sink; the method and the targets are in docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/package.py            # full run: 500 x 5 MB, 5 rounds
    .venv/bin/python benchmarks/package.py --quick    # 20 x 1 MB, 1 round
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import MB, Bench, size_label


@dataclass(frozen=True)
class Scale:
    recordings: int = 500
    size: int = 5 * MB
    rounds: int = 5


BENCH = Bench(
    "dsr-package",
    script="package.py",
    title=lambda s: (
        f"DSR access package: {s.recordings} recordings of {size_label(s.size)} "
        f"({size_label(s.recordings * s.size)})"
    ),
    database="custos_bench_package",
    full=Scale(),
    quick=Scale(recordings=20, size=1 * MB, rounds=1),
    options=[("recordings", int, "recordings of the subject (500)")],
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import contextlib
import datetime
import gc
import hashlib
import io
import json
import os
import resource
import shutil
import tempfile
import time
import tracemalloc
import zipfile
from collections.abc import Iterator
from typing import Any
from unittest import mock

from django.contrib.auth import get_user_model
from django.utils import timezone

from benchmarks import harness as h
from dsr import packages
from dsr.models import DataPackage, DataSubjectRequest
from dsr.services import request_create
from recordings.models import Queue, Recording
from recordings.services import subject_create
from recordings.vault.keys import PersonalData, subject_key
from recordings.vault.storage import recordings_storage
from retention.models import RetentionPolicy

TARGET_CPU_RATIO = 1.5  # Custos's CPU seconds per GB over zipfile's, at most
TARGET_PEAK_MIB = 64
COPY_BLOCK = h.MIB  # the baseline copies 1 MiB at a time (ZipFile.write would copy 8 KiB)


class Sink(io.RawIOBase):
    """A seekable file that counts what is written and keeps none of it: the archives of the timed
    rounds go here, so that neither the kernel's write-back nor its page allocation (tmpfs) can
    stall or charge either side."""

    def __init__(self) -> None:
        self.position = self.size = 0

    def writable(self) -> bool:
        return True

    seekable = writable

    def write(self, data: Any) -> int:
        self.position += len(data)
        self.size = max(self.size, self.position)
        return len(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = (0, self.position, self.size)[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position


@contextlib.contextmanager
def archives_to(sink: Sink) -> Iterator[None]:
    """The recordings storage's ``save`` writes into ``sink``, as ``FileSystemStorage`` writes a file:
    each chunk of the content (the real ``ciphertext_save`` and its ``_CiphertextFile``) in turn."""

    def save(name: str, content: Any, max_length: int | None = None) -> str:
        for chunk in content.chunks():
            sink.write(chunk)
        return name

    with mock.patch.object(recordings_storage(), "save", save):
        yield


@dataclass
class Fixture:
    request_id: int
    actor_id: int
    plain: list[tuple[str, Path]]  # (arcname in the package, plaintext WAV)


SUBJECT, QUEUE, NOTICE = "BS-BENCH-PACKAGE", "bench-package", "2026.1"


def prepare(ctx: h.Context) -> Fixture:
    """One subject with ``scale.recordings`` calls stored by ``recording_ingest``, an hour apart."""
    scale = ctx.scale
    dpo = h.staff_user("bench-package-dpo", superuser=True)
    h.recording_notice(NOTICE)
    RetentionPolicy.objects.get_or_create(purpose=h.quality_assurance(), defaults={"keep_days": 365})
    Queue.objects.create(code=QUEUE, name="Benchmark queue")
    personal = PersonalData(full_name="Bench Caller", phone="+49 30 5550100", email="bench@example.org")
    subject, _ = subject_create(personal=personal, reference=SUBJECT)
    size, first_call, plain = h.wav_size(scale.size), timezone.now() - datetime.timedelta(days=60), []
    for number in range(scale.recordings):
        path = h.write_wav(ctx.workdir / "plain" / f"{number:05d}.wav", size, seed=number)
        ended = first_call + datetime.timedelta(hours=number)
        metadata = h.wav_call(subject=SUBJECT, queue=QUEUE, notice=NOTICE, size=size, ended=ended)
        plain.append((f"recordings/{h.ingest(path, metadata).reference}.wav", path))
    request = request_create(
        request_type="access", channel="email", received_at=timezone.now(), subject=subject
    )
    return Fixture(request.pk, dpo.pk, plain)


def _build(fx: Fixture) -> DataPackage:
    request = DataSubjectRequest.objects.select_related("subject").get(pk=fx.request_id)
    return packages.package_build(dsr=request, actor=get_user_model().objects.get(pk=fx.actor_id))


def _discard(package: DataPackage) -> None:
    recordings_storage().delete(package.storage_ref)
    package.delete()


def custos_once(fx: Fixture) -> dict[str, Any]:
    sink = Sink()
    with archives_to(sink):
        package, seconds, cpu = h.timed(lambda: _build(fx))
    _discard(package)
    return {"seconds": seconds, "cpu": cpu, "bytes": package.size_bytes, "ciphertext": sink.size}


def decrypt_once(fx: Fixture) -> dict[str, Any]:
    """The floor: every recording's audio decrypted as the build reads it, and nothing else."""

    def read() -> int:
        subject = DataSubjectRequest.objects.get(pk=fx.request_id).subject
        recordings = list(Recording.objects.filter(subject=subject))
        entries = packages._audio_entries(recordings, subject_key(subject))
        buffers = packages._chunk_buffers()
        return sum(len(chunk) for e in entries for chunk in packages._audio_chunks(e, buffers=buffers))

    size, seconds, cpu = h.timed(read)
    return {"seconds": seconds, "cpu": cpu, "bytes": size}


def zipfile_once(fx: Fixture) -> dict[str, Any]:
    sink = Sink()

    def build() -> None:
        with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive:
            for arcname, path in fx.plain:
                info = zipfile.ZipInfo.from_file(path, arcname)
                with path.open("rb") as source, archive.open(info, "w") as target:
                    shutil.copyfileobj(source, target, COPY_BLOCK)

    _, seconds, cpu = h.timed(build)
    return {"seconds": seconds, "cpu": cpu, "bytes": sink.size}


def child(kind: str, request: str, actor: str) -> dict[str, Any]:
    """Build the package in this fresh process: tracemalloc's peak and the growth of ru_maxrss."""
    fx = Fixture(int(request), int(actor), [])
    gc.collect()
    maxrss, rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, h.rss_kib()
    tracemalloc.start()
    package, seconds, _ = h.timed(lambda: _build(fx))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - maxrss
    _discard(package)
    return {"seconds": seconds, "peak_mib": peak / h.MIB, "growth_mib": growth / 1024, "rss_mib": rss / 1024}


# Where a build's time goes: the C functions doing the per-byte work, by their cProfile names.
PROFILE_PARTS = (
    ("AES-GCM decryption of the recordings", "decrypt_into' of 'cryptography"),
    ("AES-GCM encryption of the archive", "encrypt_into' of 'cryptography"),
    ("CRC-32 of the ZIP entries (ISA-L)", "<built-in method isal.isal_zlib.crc32>"),
    (
        "File reads (headers; the segments come from memory maps)",
        "<method 'read' of '_io.BufferedReader' objects>",
    ),
    ("File writes (the archive, to a discarding sink)", "write' of 'benchmarks"),
    ("Copies (segments straddling two chunks)", "<method 'join' of 'bytes' objects>"),
)


def profile_build(fx: Fixture) -> dict[str, Any]:
    """cProfile of one build: own time of the per-byte work, the rest (Python, queries) lumped."""
    package, stats = h.profiled(lambda: _build(fx))
    size = package.size_bytes
    _discard(package)
    total = stats.total_tt  # type: ignore[attr-defined]
    seconds = dict.fromkeys((label for label, _ in PROFILE_PARTS), 0.0)
    for (_, _, function), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        for label, needle in PROFILE_PARTS:
            if needle in function:
                seconds[label] += own
    seconds["Everything else (Python, queries, manifest)"] = total - sum(seconds.values())
    return {"bytes": size, "total": total, "parts": seconds}


def verify(fx: Fixture, package_id: int) -> int:
    """Decrypt the package as the download does and check it: every CRC, every recording equal to
    its plaintext, the manifest complete, the length as recorded. The number of entries."""
    package = DataPackage.objects.select_related("request__subject").get(pk=package_id)
    written = 0
    with tempfile.NamedTemporaryFile(suffix=".zip") as plain_zip:
        for chunk in packages.package_open(package=package):
            written += len(chunk)
            plain_zip.write(chunk)
        plain_zip.flush()
        with zipfile.ZipFile(plain_zip.name) as archive:
            names = archive.namelist()
            if sorted(names) != sorted(["manifest.json", "summary.html", *(a for a, _ in fx.plain)]):
                raise RuntimeError(f"the package holds {len(names)} entries, not the ones expected")
            if archive.testzip() is not None or len(
                json.loads(archive.read("manifest.json"))["recordings"]
            ) != len(fx.plain):
                raise RuntimeError("a CRC fails or the manifest is incomplete")
            for arcname, path in fx.plain:
                with archive.open(arcname) as member:
                    digest = hashlib.file_digest(member, "sha256").hexdigest()
                if digest != h.sha256_file(path):
                    raise RuntimeError(f"{arcname} differs from its original")
    if written != package.size_bytes:
        raise RuntimeError("the decrypted package is not as long as recorded")
    _discard(package)
    return len(names)


VARIANTS = {"custos": custos_once, "zipfile": zipfile_once, "decrypt": decrypt_once}


def run(ctx: h.Context) -> h.Outcome:
    scale = ctx.scale
    started = time.perf_counter()
    fx = prepare(ctx)
    setup = time.perf_counter() - started
    stored = sum(recordings_storage().size(r.storage_ref) for r in Recording.objects.all())
    ctx.log(f"  {scale.recordings} recordings stored ({stored:,} bytes of ciphertext) in {setup:.0f} s")
    for once in VARIANTS.values():
        once(fx)  # untimed warm-up
    rounds, memory = [], []
    for round_no in range(1, scale.rounds + 1):
        order = h.ordered(list(VARIANTS), round_no)
        row: dict[str, Any] = {"order_text": ", ".join(order), "load": os.getloadavg()[0]}
        for variant in order:
            row[variant] = figures = VARIANTS[variant](fx)
            row[f"{variant}_mbps"] = figures["bytes"] / figures["seconds"] / MB
            row[f"{variant}_cpu_gb"] = figures["cpu"] / (figures["bytes"] / 1e9)
        row["cpu_ratio"] = row["custos_cpu_gb"] / row["zipfile_cpu_gb"]
        row["floor_ratio"] = row["decrypt_cpu_gb"] / row["zipfile_cpu_gb"]
        row["share"] = row["custos_mbps"] / row["zipfile_mbps"]
        rounds.append(row)
        memory.append(h.run_child("package.py", "memory", request=fx.request_id, actor=fx.actor_id))
        ctx.log(
            f"round {round_no}/{scale.rounds}: CPU per GB Custos {row['custos_cpu_gb']:.2f} s, zipfile "
            f"{row['zipfile_cpu_gb']:.2f} s ({row['cpu_ratio']:.2f}x), decryption alone "
            f"{row['decrypt_cpu_gb']:.2f} s; wall clock {row['share']:.0%}"
        )
    with archives_to(Sink()):
        profile = profile_build(fx)
    entries = verify(fx, _build(fx).pk)  # one more package, stored for real, decrypted and checked
    return _report(ctx, rounds, memory, profile, entries, stored, setup)


def _report(ctx, rounds, memory, profile, entries, stored, setup) -> h.Outcome:
    scale = ctx.scale
    total, each = size_label(scale.recordings * scale.size), size_label(scale.size)
    ratio, zip_cpu = h.median_of(rounds, "cpu_ratio"), h.median_of(rounds, "zipfile_cpu_gb")
    peak, rss = max(m["peak_mib"] for m in memory), max(m["growth_mib"] for m in memory)
    wall = f"{h.median_of(rounds, 'share'):.0%} ({h.median_of(rounds, 'custos_mbps'):,.0f} vs "
    wall += f"{h.median_of(rounds, 'zipfile_mbps'):,.0f} MB/s)"
    cpu = (
        f"{ratio:.2f}x (Custos {h.median_of(rounds, 'custos_cpu_gb'):.2f} s, zipfile {zip_cpu:.2f} s per GB, "
    )
    cpu += f"median of {len(rounds)} rounds)"
    floor = f"{h.median_of(rounds, 'floor_ratio'):.2f}x zipfile's "
    floor += f"({h.median_of(rounds, 'decrypt_cpu_gb'):.2f} s per GB)"
    title = f"Access package of {scale.recordings} x {each} ({total}): CPU seconds per GB, Custos vs zipfile"
    verdicts = [
        h.Verdict("cpu", title, cpu, f"<= {TARGET_CPU_RATIO:g}x", ratio <= TARGET_CPU_RATIO),
        h.Verdict("floor", "Decryption alone, CPU per GB (the floor)", floor, "informational", None),
        h.Verdict("wall", "Wall-clock throughput, Custos vs zipfile ZIP_STORED", wall, "informational", None),
        h.Verdict(
            "memory",
            f"Peak memory while building it ({total})",
            f"{peak:.2f} MiB tracemalloc peak, RSS high-water mark +{rss:.1f} MiB",
            f"< {TARGET_PEAK_MIB} MiB",
            peak < TARGET_PEAK_MIB and rss < TARGET_PEAK_MIB,
        ),
    ]
    gb = profile["bytes"] / 1e9
    parts = [
        {"part": k, "s": s, "share": s / profile["total"], "gb": s / gb} for k, s in profile["parts"].items()
    ]
    built = rounds[0]["custos"]
    out = h.md(
        """
        One subject with {recordings} calls of {each} ({stored:,} bytes of ciphertext; set-up {setup:.0f} s,
        untimed); {built[bytes]:,} bytes of ZIP, {built[ciphertext]:,} of ciphertext. The method follows this
        section.

        ### Throughput and CPU
        """,
        recordings=scale.recordings,
        each=each,
        stored=stored,
        setup=setup,
        built=built,
    )
    out += h.table(
        rounds,
        """
        Round> {n}
        Order {order_text}
        Custos MB/s> {custos_mbps:,.0f}
        zipfile MB/s> {zipfile_mbps:,.0f}
        Custos / zipfile> {share:.0%}
        CPU s per GB, Custos> {custos_cpu_gb:.2f}
        CPU s per GB, zipfile> {zipfile_cpu_gb:.2f}
        CPU s per GB, decryption alone> {decrypt_cpu_gb:.2f}
        CPU, Custos / zipfile> {cpu_ratio:.2f}x
        CPU, decryption alone / zipfile> {floor_ratio:.2f}x
        Load average> {load:.1f}
        """,
    )
    under = f"{profile['total']:.1f} s under the profiler for {size_label(profile['bytes'])}"
    out += [
        f"Where a build's time goes: cProfile of one more build ({under}), own time of the per-byte work:",
        "",
    ]
    out += h.table(parts, "Part {part}\nSeconds> {s:.2f}\nShare> {share:.0%}\nSeconds per GB> {gb:.2f}")
    out += ["### Peak memory while building", ""]
    out += h.table(
        memory,
        """
        Run> {n}
        tracemalloc peak (MiB)> {peak_mib:.2f}
        RSS high-water mark growth (MiB)> {growth_mib:.1f}
        RSS before (MiB)> {rss_mib:.0f}
        Seconds (tracemalloc on)> {seconds:.1f}
        """,
    )
    out += h.md(
        """
        ### Check

        One more package, stored for real, was decrypted as the download does (`package_open`) and opened with
        `zipfile`: {entries} entries (manifest, summary, every recording), every CRC-32 correct, every
        recording equal to its original (SHA-256), the length as recorded.
        """,
        entries=entries,
    )
    return h.Outcome(verdicts, out, data={"rounds": rounds, "memory": memory, "profile": profile})
