"""The erasure horizon and the anchored access log: the scheduled master-key rotation against
``rotate_master_key``, the retirement of a version, and the signed digest of an hour of access
events; the method and the targets are in docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/horizon.py            # full run, 2 rounds, updates the doc
    .venv/bin/python benchmarks/horizon.py --quick    # small sizes, 1 round
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
    subject_keys: int = 100_000
    events: int = 100_000  # access events in the digested hour
    rounds: int = 2


BENCH = Bench(
    "horizon",
    script="horizon.py",
    title=lambda s: (
        f"Erasure horizon and audit digests: {s.subject_keys:,} subject keys, an hour of {s.events:,} "
        "access events"
    ),
    database="custos_bench_horizon",
    full=Scale(),
    quick=Scale(subject_keys=2_000, events=2_000, rounds=1),
    options=[
        ("subject_keys", int, "live subject keys to rotate (100,000)"),
        ("events", int, "access events in the digested hour (100,000)"),
    ],
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import datetime
import functools
import os
import time
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from benchmarks import harness as h
from compliance_site.audit.digests import digest_write_next, period, period_floor
from compliance_site.audit.services import access_events_record
from compliance_site.keys import get_provider
from recordings.models import DataSubject, SubjectKey
from recordings.tasks import rotate_master_key
from recordings.vault.keys import KEY_BYTES, subject_key_aad
from recordings.vault.retirement import backup_retention, master_key_versions_retire
from recordings.vault.services import subject_keys_stale_count

TARGET_ROTATION_RATIO = 1.25
TARGET_RETIREMENT_SECONDS = 1.0
TARGET_DIGEST_SECONDS = 10.0
EVENT_BATCH = 5_000

# --- Data -----------------------------------------------------------------------------------------


def prepare(scale: Any) -> None:
    """Subjects with a fresh subject key each, wrapped by the keyring as ``subject_key_new`` does."""
    provider, made = get_provider(), 0
    while made < scale.subject_keys:
        batch = range(made, min(scale.subject_keys, made + 5_000))
        subjects = DataSubject.objects.bulk_create(DataSubject(reference=f"BH-{n:07d}") for n in batch)
        keys = []
        for s in subjects:
            version, wrapped = provider.wrap(os.urandom(KEY_BYTES), associated_data=subject_key_aad(s))
            keys.append(SubjectKey(subject=s, master_version=version, wrapped_key=wrapped))
        h.copy_rows(SubjectKey, keys)
        made += len(batch)
    h.analyze(SubjectKey, DataSubject)


def events_append(count: int, round_no: int) -> None:
    """``count`` playback events chained and keyed as Custos writes them, in batches (COPY)."""
    for start in range(0, count, EVENT_BATCH):
        with transaction.atomic():
            access_events_record(
                [
                    {
                        "action": "play",
                        "object_type": "recording",
                        "object_id": n,
                        "object_reference": f"R-BENCH-{n:07d}",
                        "actor_label": f"qa-lead-{n % 7}",
                        "purpose": "quality_assurance",
                        "detail": {"range": f"bytes={n}-", "round": round_no},
                        "client_ip": "192.0.2.10",
                    }
                    for n in range(start, min(count, start + EVENT_BATCH))
                ]
            )


# --- 1. Rotation ---------------------------------------------------------------------------------


def _rotated(before: str) -> tuple[str, int]:
    after = get_provider().current_version()
    live = SubjectKey.objects.filter(destroyed_at__isnull=True)
    if after == before or subject_keys_stale_count() or live.exclude(master_version=after).exists():
        raise RuntimeError("the rotation left keys behind")
    return after, live.count()


def rotation_scheduled() -> dict[str, Any]:
    """The beat task as a worker runs it (its lease, ``master_key_rotate``, then
    ``master_key_versions_retire``), the rotation made due by an interval of 0 days."""
    before = get_provider().current_version()
    with override_settings(CUSTOS_MASTER_KEY_ROTATION_DAYS=0):
        started = time.perf_counter()
        result = rotate_master_key()
        elapsed = time.perf_counter() - started
    after, keys = _rotated(before)
    if result.get("started") != after or result.get("subject_keys") != keys:
        raise RuntimeError(f"the scheduled rotation did not rotate every key: {result}")
    return {"keys": keys, "seconds": elapsed, "from": before, "to": after}


def rotation_command() -> dict[str, Any]:
    """``rotate_master_key`` through ``call_command``."""
    before = get_provider().current_version()
    started = time.perf_counter()
    call_command("rotate_master_key", stdout=StringIO())
    elapsed = time.perf_counter() - started
    after, keys = _rotated(before)
    return {"keys": keys, "seconds": elapsed, "from": before, "to": after}


ROTATIONS = {"scheduled": rotation_scheduled, "command": rotation_command}

# --- 2. Retirement -------------------------------------------------------------------------------


def retirement() -> dict[str, Any]:
    """Every unused version recorded as retired now (untimed), then the run one backup retention
    later that destroys them, timed."""
    provider, now = get_provider(), timezone.now()
    master_key_versions_retire(now=now)
    unused = {v.version for v in provider.versions() if not v.current and v.destroyed_at is None}
    later = now + backup_retention() + datetime.timedelta(days=1)
    started = time.perf_counter()
    destroyed = master_key_versions_retire(now=later)
    elapsed = time.perf_counter() - started
    if set(destroyed) != unused or not destroyed:
        raise RuntimeError(f"the retirement destroyed {destroyed}, not {sorted(unused)}")
    keys = SubjectKey.objects.filter(destroyed_at__isnull=True).count()
    return {"versions": len(destroyed), "seconds": elapsed, "keys": keys}


def retirement_plan() -> str:
    """The plan of the in-use check on the subject keys, for a destroyed version."""
    destroyed = next(v.version for v in get_provider().versions() if v.destroyed_at is not None)
    sql, params = SubjectKey.objects.filter(master_version=destroyed).values("pk")[:1].query.sql_with_params()
    plan = h.explain(sql, params)
    return next((line.strip().lstrip("-> ") for line in plan.splitlines() if "Scan" in line), plan)


# --- 3. Digest -------------------------------------------------------------------------------------


def digest(previous_end: datetime.datetime | None) -> dict[str, Any]:
    """The next period's digest (``digest_write_next``, as beat's ``digests_write_due`` calls
    it), the events just appended in it; timed, its statements counted."""
    end = previous_end + period() if previous_end else period_floor(timezone.now()) + 2 * period()
    with h.counting() as counter:
        started = time.perf_counter()
        written = digest_write_next(now=end)
        elapsed = time.perf_counter() - started
    if written is None:
        raise RuntimeError("no digest was due")
    document = written.document
    return {
        "events": document["count"],
        "seconds": elapsed,
        "statements": counter.count,
        "end": datetime.datetime.fromisoformat(document["period_end"]),
    }


# --- The run -----------------------------------------------------------------------------------------


def run(ctx: h.Context) -> h.Outcome:
    scale, started = ctx.scale, time.perf_counter()
    prepare(scale)
    ctx.log(f"  {scale.subject_keys:,} subject keys in {time.perf_counter() - started:.0f} s")
    r: dict[str, list] = {"rotation": [], "retirement": [], "digest": []}
    previous_end = None
    for round_no in range(1, scale.rounds + 1):
        order = h.ordered(list(ROTATIONS), round_no)
        figures = {name: ROTATIONS[name]() for name in order}
        r["rotation"].append(
            {
                "order_text": " then ".join(order),
                **{f"{name}_{k}": v for name, x in figures.items() for k, v in x.items()},
                "ratio": figures["scheduled"]["seconds"] / figures["command"]["seconds"],
            }
        )
        r["retirement"].append(retirement())
        appended = time.perf_counter()
        events_append(scale.events, round_no)
        appended = time.perf_counter() - appended
        r["digest"].append(digest(previous_end) | {"append_seconds": appended})
        previous_end = r["digest"][-1]["end"]
        ctx.log(
            f"round {round_no}/{scale.rounds}: scheduled {figures['scheduled']['seconds']:.1f} s, command "
            f"{figures['command']['seconds']:.1f} s ({r['rotation'][-1]['ratio']:.2f}x); retirement "
            f"{r['retirement'][-1]['seconds']:.2f} s; digest {r['digest'][-1]['seconds']:.2f} s"
        )
    return _report(ctx, r, retirement_plan())


ROTATION_COLUMNS = """
Round> {n}
Order {order_text}
Keys> {scheduled_keys:,}
Scheduled s> {scheduled_seconds:.1f}
Scheduled keys/s> {scheduled_rate:,.0f}
`rotate_master_key` s> {command_seconds:.1f}
`rotate_master_key` keys/s> {command_rate:,.0f}
Scheduled / command> {ratio:.2f}x
"""
RETIREMENT_COLUMNS = """
Round> {n}
Versions destroyed> {versions}
Seconds> {seconds:.3f}
ms per version> {ms_each:.1f}
Live subject keys> {keys:,}
Keys/s> {rate:,.0f}
"""
DIGEST_COLUMNS = """
Round> {n}
Events in the digest> {events:,}
Seconds> {seconds:.2f}
Events/s> {rate:,.0f}
Statements> {statements}
Events appended in, s (untimed)> {append_seconds:.1f}
"""


def _report(ctx: h.Context, r: dict, plan: str) -> h.Outcome:
    m = {key: functools.partial(h.median_of, r[key]) for key in r}
    for x in r["rotation"]:
        for name in ROTATIONS:
            x[f"{name}_rate"] = x[f"{name}_keys"] / x[f"{name}_seconds"]
    for x in r["retirement"]:
        x.update(ms_each=x["seconds"] / x["versions"] * 1000, rate=x["keys"] * x["versions"] / x["seconds"])
    for x in r["digest"]:
        x["rate"] = x["events"] / x["seconds"]
    keys = r["rotation"][0]["scheduled_keys"]
    ratio, per_version = (
        m["rotation"]("ratio"),
        h.median(x["seconds"] / x["versions"] for x in r["retirement"]),
    )
    digest_seconds, events = m["digest"]("seconds"), r["digest"][0]["events"]
    verdicts = [
        h.Verdict(
            "rotation",
            f"Scheduled master-key rotation (beat task), {keys:,} subject keys, against `rotate_master_key`",
            f"{ratio:.2f}x ({m['rotation']('scheduled_rate'):,.0f} vs "
            f"{m['rotation']('command_rate'):,.0f} keys/s)",
            "<= 1.25x",
            ratio <= TARGET_ROTATION_RATIO,
        ),
        h.Verdict(
            "retirement",
            f"Retirement: a version destroyed, {keys:,} live subject keys checked",
            f"{per_version * 1000:.0f} ms per version ({m['retirement']('rate'):,.0f} keys/s)",
            "< 1 s per version",
            per_version < TARGET_RETIREMENT_SECONDS,
        ),
        h.Verdict(
            "digest",
            f"Digest of an hour of {events:,} access events",
            f"{digest_seconds:.2f} s ({m['digest']('rate'):,.0f} events/s, "
            f"{m['digest']('statements'):.0f} statements)",
            "< 10 s",
            digest_seconds < TARGET_DIGEST_SECONDS,
        ),
    ]
    v = {x.key: x for x in verdicts}
    out = [f"### 1. Scheduled rotation of {keys:,} subject keys against `rotate_master_key`", ""]
    out += h.table(r["rotation"], ROTATION_COLUMNS)
    out += h.target_line(v["rotation"], "the scheduled rotation within 1.25x of the command, same round")
    out += [f"### 2. Retirement of a version, {keys:,} live subject keys", ""]
    out += h.table(r["retirement"], RETIREMENT_COLUMNS)
    out += [f"The in-use check on the subject keys for a destroyed version, as PostgreSQL ran it: `{plan}`."]
    out += [""]
    out += h.md(
        """
        {how} Keys/s: the live keys each run proved free of every version it destroyed, divided by
        its time.
        """,
        how=(
            "Through the index on `master_version`: its cost follows the keys still under the version "
            "(none, once re-wrapped), not the table's size."
            if "Index" in plan
            else "A sequential scan: the planner's statistics still date from before the rotations (every "
            "key under the first version), so it expects the version almost everywhere and reads the "
            "whole table, dead row versions included: its cost follows the table's size."
        ),
    )
    out += h.target_line(v["retirement"], "under 1 s per version destroyed")
    out += [f"### 3. Digest of an hour of {events:,} access events", ""]
    out += h.table(r["digest"], DIGEST_COLUMNS)
    out += h.target_line(v["digest"], "under 10 s for 100,000 events")
    return h.Outcome(verdicts, out, setting=", the local keyring (`KEY_PROVIDER=local`)", data=r)
