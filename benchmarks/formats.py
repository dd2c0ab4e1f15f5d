"""Muted renditions: a 30-minute call in each compressed format rendered muted by the worker's
service (decrypt, decode, silence, re-encode, encrypt), against PyAV's plain decode and encode of
the same file in the same run, and the render's peak memory; docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/formats.py            # full run, 30-minute calls, updates the doc
    .venv/bin/python benchmarks/formats.py --quick    # 1-minute calls, 1 round
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
    minutes: int = 30
    rounds: int = 2


BENCH = Bench(
    "formats",
    script="formats.py",
    title=lambda scale: f"Muted renditions: a {scale.minutes}-minute call in each format",
    database="custos_bench_formats",
    full=Scale(),
    quick=Scale(minutes=1, rounds=1),
    options=[("minutes", int, "the call's length in minutes (30)")],
    env={"RECORDING_MAX_BYTES": str(1024 * 1024 * 1024)},
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import array
import gc
import math
import tracemalloc
from decimal import Decimal
from fractions import Fraction
from typing import Any

import av

from benchmarks import harness as h
from recordings.audio.render import output_format
from recordings.models import MutedRendition, Queue, SensitiveSegment
from recordings.renditions import muted_rendition_render, muted_rendition_request
from recordings.vault.storage import recordings_storage

MIB = 1024 * 1024
# (label, muxer, encoder, sample rate, file extension): what telephony platforms deliver.
FORMATS = [
    ("MP3", "mp3", "libmp3lame", 8000, "mp3"),
    ("OGG/Opus", "ogg", "libopus", 16000, "opus"),
    ("WebM/Opus", "webm", "libopus", 16000, "webm"),
    ("FLAC", "flac", "flac", 8000, "flac"),
    ("M4A/AAC", "ipod", "aac", 16000, "m4a"),
]
LOUDNESS = (0.25, 0.5, 0.35, 0.6, 0.3, 0.55, 0.4, 0.45, 0.5, 0.3)
# A payment card read out every five minutes, 15 seconds each.
SEGMENT_EVERY, SEGMENT_SECONDS = 300, 15
RATIO_TARGET, MEMORY_TARGET_MIB = 1.5, 64


def write_call(path: Path, muxer: str, encoder: str, rate: int, seconds: int) -> None:
    """A tone whose loudness changes every second, ``seconds`` long, encoded by PyAV; written
    ten seconds of samples at a time (the block repeats)."""
    block = array.array(
        "h",
        (
            int(32767 * LOUDNESS[(i // rate) % 10] * math.sin(2 * math.pi * 440 * i / rate))
            for i in range(10 * rate)
        ),
    )
    with av.open(str(path), "w", format=muxer) as output:
        stream = output.add_stream(encoder, rate=rate, layout="mono")
        written = 0
        while written < seconds * rate:
            for first in range(0, len(block), rate // 5):
                chunk = block[first : first + rate // 5]
                frame = av.AudioFrame(format="s16", layout="mono", samples=len(chunk))
                frame.planes[0].update(chunk.tobytes())
                frame.sample_rate, frame.pts = rate, written
                written += len(chunk)
                for packet in stream.encode(frame):
                    output.mux(packet)
        for packet in stream.encode(None):
            output.mux(packet)


def plain_transcode(source: Path, target: Path) -> None:
    """PyAV's plain decode and encode of ``source`` into the same format and rate (the muxer
    and encoder the rendition takes): the baseline."""
    with av.open(str(source)) as container:
        stream = container.streams.audio[0]
        decoder = stream.codec_context
        wanted = output_format(container.format.name, decoder.name)
        with av.open(str(target), "w", format=wanted.container) as output:
            encoded = output.add_stream(wanted.codec, rate=decoder.sample_rate, layout=decoder.layout.name)
            if decoder.bit_rate and not decoder.name.startswith(("flac", "pcm_")):
                encoded.codec_context.bit_rate = decoder.bit_rate
            samples = 0
            for frame in container.decode(stream):
                frame.pts, frame.time_base = samples, Fraction(1, frame.sample_rate)
                samples += frame.samples
                for packet in encoded.encode(frame):
                    output.mux(packet)
            for packet in encoded.encode(None):
                output.mux(packet)


def fresh_rendition(recording_id: int) -> int:
    """The recording's rendition pending again, its previous blob deleted: the next render is timed."""
    rendition = MutedRendition.objects.get(recording_id=recording_id)
    if rendition.storage_ref:
        recordings_storage().delete(rendition.storage_ref)
    MutedRendition.objects.filter(pk=rendition.pk).update(status="pending", storage_ref="", attempts=0)
    return rendition.pk


def child(kind: str, rendition: str) -> dict[str, Any]:
    """``memory``: render one rendition in this fresh process; its tracemalloc peak and the
    growth of its resident set (PyAV's and FFmpeg's allocations are C, outside tracemalloc)."""
    import django.db

    MutedRendition.objects.filter(pk=int(rendition)).exists()  # connect and import before measuring
    gc.collect()
    before = h.rss_kib()
    h.peak_rss_reset()  # ru_maxrss would keep the spawning parent's size (harness.peak_rss_reset)
    tracemalloc.start()
    done = muted_rendition_render(rendition_id=int(rendition))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    maxrss = h.peak_rss_kib()
    django.db.connections.close_all()
    return {
        "status": done.status if done else None,
        "traced_mib": peak / MIB,
        "rss_mib": (maxrss - before) / 1024,
    }


def run(ctx: h.Context) -> h.Outcome:
    seconds = ctx.scale.minutes * 60
    h.recording_notice("bench-1")
    h.quality_assurance("QA")
    Queue.objects.create(code="bench-formats", name="Benchmark queue")
    inputs = ctx.workdir / "input"
    inputs.mkdir(parents=True)
    calls: dict[str, tuple[Path, int]] = {}
    for n, (label, muxer, encoder, rate, extension) in enumerate(FORMATS, 1):
        ctx.log(f"Encoding a {ctx.scale.minutes}-minute call in {label} ...")
        path = inputs / f"call.{extension}"
        write_call(path, muxer, encoder, rate, seconds)
        metadata = h.wav_call(
            subject=f"BS-F{n}", queue="bench-formats", notice="bench-1", size=2 * 8000 * seconds
        )
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
        MutedRendition.objects.filter(recording=recording).delete()
        muted_rendition_request(recording=recording)
        calls[label] = (path, recording.pk)
    rows: list[dict[str, Any]] = []
    for round_no in range(1, ctx.scale.rounds + 1):
        for label in h.ordered(list(calls), round_no):
            path, recording_id = calls[label]
            rendition_id = fresh_rendition(recording_id)
            done, render_s, _ = h.timed(lambda rid=rendition_id: muted_rendition_render(rendition_id=rid))
            assert done is not None and done.status == "ready", (label, done and done.error)
            target = ctx.workdir / f"plain.{path.suffix}"
            _, plain_s, _ = h.timed(lambda p=path, t=target: plain_transcode(p, t))
            target.unlink()
            rows.append({"round": round_no, "label": label, "render": render_s, "plain": plain_s})
            ctx.log(
                f"  round {round_no} {label}: rendition {render_s:.1f} s, plain transcode {plain_s:.1f} s"
            )
    memory = {}
    for label, (_, recording_id) in calls.items():
        memory[label] = h.run_child("formats.py", "memory", rendition=fresh_rendition(recording_id))
        ctx.log(f"  memory {label}: {memory[label]}")
    table, verdicts = [], []
    for label, (path, _) in calls.items():
        mine = [r for r in rows if r["label"] == label]
        render_s, plain_s = h.median_of(mine, "render"), h.median_of(mine, "plain")
        ratio = h.median(r["render"] / r["plain"] for r in mine)
        mem = memory[label]
        table.append(
            {
                "label": label,
                "size": h.size_label(path.stat().st_size),
                "render": f"{render_s:.1f}",
                "speed": f"{seconds / render_s:.0f}",
                "plain": f"{plain_s:.1f}",
                "ratio": f"{ratio:.2f}",
                "rss": f"{mem['rss_mib']:.1f}",
                "traced": f"{mem['traced_mib']:.1f}",
            }
        )
        verdicts.append(
            h.Verdict(
                f"ratio-{label}",
                f"{label}: muted rendition against plain decode+encode",
                f"{ratio:.2f}x",
                f"<= {RATIO_TARGET}x",
                ratio <= RATIO_TARGET,
            )
        )
        peak = max(mem["rss_mib"], mem["traced_mib"])
        verdicts.append(
            h.Verdict(
                f"memory-{label}",
                f"{label}: peak memory of the render",
                f"{peak:.1f} MiB",
                f"< {MEMORY_TARGET_MIB} MiB",
                peak < MEMORY_TARGET_MIB,
            )
        )
    body = h.md(
        """
        ### Per format ({minutes}-minute call, median of {rounds} rounds)

        """,
        minutes=ctx.scale.minutes,
        rounds=ctx.scale.rounds,
    )
    body += h.table(
        table,
        """
        Format {label}
        Stored> {size}
        Muted rendition (s)> {render}
        Audio s per s> {speed}
        Plain decode+encode (s)> {plain}
        Ratio> {ratio}
        RSS growth (MiB)> {rss}
        Python peak (MiB)> {traced}
        """,
    )
    body += h.md(
        """
        ### How the formats benchmark measures

        - Each call is a 440 Hz tone whose loudness changes every second, encoded by PyAV at the
          telephony rates (8 kHz MP3 and FLAC; 16 kHz Opus and AAC; PCM, float and G.711 WAV are
          muted in place as they stream and need no rendition), ingested through
          `recording_ingest` (encrypted under its recording key), with a 15-second payment-card
          segment every five minutes.
        - *Muted rendition*: `muted_rendition_render` as the worker runs it: the claim, the
          decryption of the stored audio segment by segment, the decode, the silencing of every
          frame touching a segment, the re-encode in the same format and rate into a scratch file
          sealed under a key of its own, its encryption under the recording's key into the
          recordings storage, and the row marked ready.
        - *Plain decode+encode*: PyAV decoding the same plaintext file and encoding it again in
          the same format into a local file, nothing else: the floor the rendition is compared
          with, in the same round, the two side by side in rotating order. Target: within 1.5x.
        - *Peak memory*: the render alone in a fresh process (`--child memory`): the growth of the
          resident set from before the render to its peak (VmHWM, reset first; FFmpeg's allocations are C)
          and tracemalloc's peak of Python's. Target: < 64 MiB whatever the call's length.
        """
    )
    return h.Outcome(
        verdicts=verdicts,
        body=body,
        data={"rows": rows, "memory": memory},
        setting=f", PyAV {av.__version__}",
    )
