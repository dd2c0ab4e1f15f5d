"""Redaction at rest: a 30-minute call in each format rewritten by the worker's service with its
payment segments silenced under a new key, against the floor of the same work in the same run
(PyAV's plain decode and encode of the same file; for WAV, muted as it streams, a plain decrypt
and encrypt copy of the blob), and the rewrite's peak memory at two lengths; docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/redaction_at_rest.py            # full run, updates the doc
    .venv/bin/python benchmarks/redaction_at_rest.py --quick    # 1-minute calls, 1 round
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import Bench


@dataclass(frozen=True)
class Scale:
    minutes: int = 30  # timed, and the longer of the memory runs
    short_minutes: int = 10  # the shorter memory run: growth with the length would show
    rounds: int = 2
    memory_all: bool = True  # False (--quick): one WAV and one re-encoded format, in seconds


BENCH = Bench(
    "redaction-at-rest",
    script="redaction_at_rest.py",
    title=lambda scale: f"Redaction at rest: a {scale.minutes}-minute call in each format",
    database="custos_bench_redaction_at_rest",
    full=Scale(),
    quick=Scale(minutes=1, short_minutes=1, rounds=1, memory_all=False),
    options=[
        ("minutes", int, "the timed call's length in minutes (30)"),
        ("short_minutes", int, "the shorter call's length for memory (10)"),
    ],
    env={"RECORDING_MAX_BYTES": str(1024 * 1024 * 1024)},
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import contextlib
import gc
import os
import resource
import time
import tracemalloc
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest import mock

import av

from benchmarks import harness as h
from benchmarks.formats import FORMATS as COMPRESSED_FORMATS
from benchmarks.formats import plain_transcode, write_call
from recordings import redaction_at_rest
from recordings.models import AtRestRedaction, Queue, Recording, SensitiveSegment
from recordings.redaction_at_rest import redaction_at_rest_request, redaction_at_rest_run
from recordings.vault.chunks import ChunksReader
from recordings.vault.keys import recording_aad, recording_key
from recordings.vault.storage import audio_blob_name, audio_open, ciphertext_save, recordings_storage
from recordings.vault.streaming_aead import EncryptingReader

MIB = 1024 * 1024
# (label, muxer, encoder, sample rate, file extension): what telephony platforms deliver. The
# WAVs are silenced as they stream; the others are decoded and re-encoded.
FORMATS = [
    ("PCM WAV", "wav", "pcm_s16le", 8000, "wav"),
    ("G.711 µ-law WAV", "wav", "pcm_mulaw", 8000, "wav"),
    *COMPRESSED_FORMATS,
]
WAVS = {label for label, muxer, *_ in FORMATS if muxer == "wav"}
# What --quick measures the memory of: one format of each path (streamed, re-encoded).
QUICK_MEMORY = ("PCM WAV", "MP3")
# A payment card read out every five minutes, 15 seconds each (as the formats benchmark).
SEGMENT_EVERY, SEGMENT_SECONDS = 300, 15
RATIO_TARGET, MEMORY_TARGET_MIB = 1.5, 64
# Segments decrypted per chunk by the WAV floor: what the rewrite of a WAV uses.
_WAV_CHUNK_SEGMENTS = 8


def stored_call(path: Path, seconds: int, subject: str) -> AtRestRedaction:
    """``path`` ingested as the API stores a call, a payment-card segment marked every five
    minutes, and its redaction at rest requested (pending: nobody runs it but the benchmark)."""
    metadata = h.wav_call(subject=subject, queue="bench-redaction", notice="bench-1", size=2 * 8000 * seconds)
    recording = h.ingest(path, metadata)
    SensitiveSegment.objects.bulk_create(
        SensitiveSegment(
            recording=recording,
            start_seconds=Decimal(start),
            end_seconds=Decimal(start + SEGMENT_SECONDS),
            kind="payment_card",
        )
        for start in range(min(60, seconds // 3), seconds - SEGMENT_SECONDS, SEGMENT_EVERY)
    )
    redaction = redaction_at_rest_request(recording=recording)
    assert redaction is not None and redaction.status == AtRestRedaction.Status.PENDING
    return redaction


def plain_copy(name: str, key: bytes, recording_id: int) -> None:
    """The stored blob ``name`` decrypted and encrypted again under a fresh key into a new blob,
    then deleted: the floor of a WAV's rewrite (the same chunks; no hash, no database, the key
    unwrapped before)."""
    with audio_open(name=name, key=key, recording_id=recording_id) as reader:
        encrypting = EncryptingReader(
            ChunksReader(reader.iter_range(0, None, _WAV_CHUNK_SEGMENTS)),  # type: ignore[arg-type]
            key=os.urandom(32),
            associated_data=recording_aad(recording_id),
            digest=False,
        )
        copy = ciphertext_save(audio_blob_name("wav"), encrypting)
    recordings_storage().delete(copy)


@contextlib.contextmanager
def rewrites_timed() -> Iterator[list[float]]:
    """The seconds of each ``_rewrite`` (decrypt, silence, re-encode, hash, encrypt, write) run
    meanwhile: the rest of a redaction is its database work (claim, swap, finish)."""
    seconds: list[float] = []
    original = redaction_at_rest._rewrite

    def timed_rewrite(claim: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(claim)
        finally:
            seconds.append(time.perf_counter() - started)

    with mock.patch.object(redaction_at_rest, "_rewrite", timed_rewrite):
        yield seconds


def redacted(redaction_id: int) -> AtRestRedaction:
    done = redaction_at_rest_run(redaction_id=redaction_id)
    assert done is not None and done.status == AtRestRedaction.Status.DONE, done and done.error
    return done


def _floor_timed(label: str, recording_id: int, path: Path, target: Path) -> float:
    """The seconds of the floor of ``label``'s rewrite: a WAV's stored blob copied under a new
    key, else ``path`` decoded and encoded again into ``target``."""
    if label in WAVS:
        recording = Recording.objects.get(pk=recording_id)
        key = recording_key(recording)
        return h.timed(lambda: plain_copy(recording.storage_ref, key, recording_id))[1]
    return h.timed(lambda: plain_transcode(path, target))[1]


def child(kind: str, redaction: str) -> dict[str, Any]:
    """``memory``: run one redaction at rest in this fresh process; its tracemalloc peak and the
    growth of its resident set (PyAV's, FFmpeg's and the AEAD's allocations are C)."""
    import django.db

    AtRestRedaction.objects.filter(pk=int(redaction)).exists()  # connect and import before measuring
    from recordings.audio import render  # noqa: F401  (PyAV, as a worker has it loaded)

    gc.collect()
    before = h.rss_kib()
    # The peak from here: ru_maxrss would hold the parent's resident set at the spawn.
    reset = h.peak_rss_reset()
    tracemalloc.start()
    done = redaction_at_rest_run(redaction_id=int(redaction))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak_rss = h.peak_rss_kib() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    django.db.connections.close_all()
    return {
        "status": done.status if done else None,
        "traced_mib": peak / MIB,
        "rss_mib": (peak_rss - before) / 1024,
    }


def run(ctx: h.Context) -> h.Outcome:
    lengths = sorted({ctx.scale.short_minutes, ctx.scale.minutes})
    seconds = ctx.scale.minutes * 60
    h.recording_notice("bench-1")
    h.quality_assurance("QA")
    Queue.objects.create(code="bench-redaction", name="Benchmark queue")
    inputs = ctx.workdir / "input"
    inputs.mkdir(parents=True)
    files: dict[tuple[str, int], Path] = {}
    for label, muxer, encoder, rate, extension in FORMATS:
        for minutes in lengths:
            ctx.log(f"Encoding a {minutes}-minute call in {label} ...")
            path = inputs / f"call-{encoder}-{minutes}.{extension}"
            write_call(path, muxer, encoder, rate, minutes * 60)
            files[label, minutes] = path
    subjects = iter(range(1, 10_000))
    rows: list[dict[str, Any]] = []
    for round_no in range(1, ctx.scale.rounds + 1):
        for label in h.ordered([label for label, *_ in FORMATS], round_no):
            path = files[label, ctx.scale.minutes]
            redaction = stored_call(path, seconds, f"BS-R{next(subjects)}")  # untimed
            target = ctx.workdir / f"plain{path.suffix}"
            if round_no % 2:  # the two side by side, which goes first alternating by round
                plain_s = _floor_timed(label, redaction.recording_id, path, target)
            with rewrites_timed() as parts:
                done, rewrite_s, _ = h.timed(lambda rid=redaction.pk: redacted(rid))
            if not round_no % 2:
                plain_s = _floor_timed(label, redaction.recording_id, path, target)
            target.unlink(missing_ok=True)
            rows.append(
                {
                    "round": round_no,
                    "label": label,
                    "rewrite": rewrite_s,
                    "streamed": parts[0],
                    "plain": plain_s,
                    "muted": float(done.muted_seconds or 0),
                }
            )
            ctx.log(
                f"  round {round_no} {label}: redaction {rewrite_s:.2f} s (rewrite {parts[0]:.2f} s), "
                f"floor {plain_s:.2f} s"
            )
    memory: dict[tuple[str, int], dict[str, Any]] = {}
    for label, *_ in FORMATS:
        if not ctx.scale.memory_all and label not in QUICK_MEMORY:
            continue
        for minutes in lengths:
            redaction = stored_call(files[label, minutes], minutes * 60, f"BS-R{next(subjects)}")
            memory[label, minutes] = h.run_child("redaction_at_rest.py", "memory", redaction=redaction.pk)
            assert memory[label, minutes]["status"] == AtRestRedaction.Status.DONE, memory[label, minutes]
            ctx.log(f"  memory {label}, {minutes} minutes: {memory[label, minutes]}")
    return _outcome(ctx, lengths, files, rows, memory)


def _seconds(value: float) -> str:
    return f"{value:.2f}" if value >= 1 else f"{value:.3f}"


def _outcome(
    ctx: h.Context,
    lengths: list[int],
    files: dict[tuple[str, int], Path],
    rows: list[dict[str, Any]],
    memory: dict[tuple[str, int], dict[str, Any]],
) -> h.Outcome:
    seconds = ctx.scale.minutes * 60
    table, verdicts = [], []
    for label, *_ in FORMATS:
        mine = [r for r in rows if r["label"] == label]
        rewrite_s, plain_s = h.median_of(mine, "rewrite"), h.median_of(mine, "plain")
        ratio = h.median(r["rewrite"] / r["plain"] for r in mine)
        floor = "decrypt+encrypt copy" if label in WAVS else "decode+encode"
        measured = [m for m in lengths if (label, m) in memory]
        table.append(
            {
                "label": label,
                "size": h.size_label(files[label, ctx.scale.minutes].stat().st_size),
                "muted": f"{h.median_of(mine, 'muted'):.1f}",
                "rewrite": _seconds(rewrite_s),
                "streamed": _seconds(h.median_of(mine, "streamed")),
                "speed": f"{seconds / rewrite_s:,.0f}",
                "floor": floor,
                "plain": _seconds(plain_s),
                "ratio": f"{ratio:.2f}",
                "streamed_ratio": f"{h.median(r['streamed'] / r['plain'] for r in mine):.2f}",
                "rss": " / ".join(f"{memory[label, m]['rss_mib']:.1f}" for m in measured) or "-",
                "traced": " / ".join(f"{memory[label, m]['traced_mib']:.1f}" for m in measured) or "-",
            }
        )
        verdicts.append(
            h.Verdict(
                f"ratio-{label}",
                f"{label}: redaction at rest against plain {floor}",
                f"{ratio:.2f}x",
                f"<= {RATIO_TARGET}x",
                ratio <= RATIO_TARGET,
            )
        )
        if measured:
            peaks = [max(memory[label, m]["rss_mib"], memory[label, m]["traced_mib"]) for m in measured]
            verdicts.append(
                h.Verdict(
                    f"memory-{label}",
                    f"{label}: peak memory of the redaction ({' / '.join(map(str, measured))} minutes)",
                    " / ".join(f"{peak:.1f} MiB" for peak in peaks),
                    f"< {MEMORY_TARGET_MIB} MiB",
                    max(peaks) < MEMORY_TARGET_MIB,
                )
            )
    body = h.md(
        """
        ### Per format ({minutes}-minute call, median of {rounds} rounds; memory at {lengths} minutes)

        """,
        minutes=ctx.scale.minutes,
        rounds=ctx.scale.rounds,
        lengths=" and ".join(str(m) for m in lengths),
    )
    body += h.table(
        table,
        """
        Format {label}
        Stored> {size}
        Silenced (s)> {muted}
        Redaction at rest (s)> {rewrite}
        Audio s per s> {speed}
        Of which the rewrite (s)> {streamed}
        Floor {floor}
        Floor (s)> {plain}
        Ratio> {ratio}
        Rewrite alone / floor> {streamed_ratio}
        RSS growth (MiB)> {rss}
        Python peak (MiB)> {traced}
        """,
    )
    return h.Outcome(
        verdicts=verdicts,
        body=body,
        data={"rows": rows, "memory": {f"{label} {m}": v for (label, m), v in memory.items()}},
        setting=f", PyAV {av.__version__}",
    )
