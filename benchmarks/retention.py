"""Retention: the sweep of expired recordings against bulk DELETE and unlink, and a reminder tick
over a million requests; the method and the targets are in docs/PERFORMANCE.md.

    .venv/bin/python benchmarks/retention.py            # full run, 3 rounds, updates the doc
    .venv/bin/python benchmarks/retention.py --quick    # small sizes, 1 round
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import Bench


@dataclass(frozen=True)
class Scale:
    size: int = 100_000  # expired recordings of the timed sweeps
    query_sizes: tuple[int, ...] = (1_000, 5_000, 20_000)  # sweeps whose statements are classified
    profile: int = 5_000
    batch_probe: tuple[int, ...] = (10_000, 100_000, 1_000_000)  # erased recordings ahead of the batch query
    requests: int = 1_000_000
    open_share: float = 0.01
    rounds: int = 3


BENCH = Bench(
    "retention",
    script="retention.py",
    title=lambda s: (
        f"Retention: the sweep of {s.size:,} expired recordings, a reminder tick over {s.requests:,} requests"
    ),
    database="custos_bench_retention",
    full=Scale(),
    quick=Scale(
        size=2_000,
        query_sizes=(500, 1_000, 1_500),
        profile=500,
        batch_probe=(1_000, 10_000),
        requests=20_000,
        rounds=1,
    ),
    options=[
        ("size", int, "expired recordings of the timed sweeps (100,000)"),
        ("requests", int, "requests of the reminder tick (1,000,000)"),
    ],
    env={"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"},
)
if __name__ == "__main__":
    sys.exit(BENCH.main())

import datetime
import functools
import hashlib
import os
import re
import shutil
import time
from collections import Counter
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.db.models import Subquery
from django.utils import timezone

from benchmarks import harness as h
from compliance_site.audit.audit_keys import audit_key_current
from compliance_site.audit.chain import GENESIS_HASH
from compliance_site.audit.models import AccessEvent, AuditChainHead
from compliance_site.roles import DPO
from dsr.models import DataSubjectRequest, DeadlineReminder
from dsr.reminders import reminders_send_due
from dsr.selectors import requests_due_for_reminder
from recordings.models import DataSubject, Purpose, Queue, Recording, RecordingKey, SubjectKey
from retention.models import DeletionRecord, LegalHold, RetentionPolicy, SweepRun
from retention.selectors import recordings_past_retention
from retention.services import retention_sweep

TARGET_SWEEP_RATIO = 3.0
TARGET_QUERY_SPREAD = 0.01
BLOB_BYTES = 64 * 1024
BLOB_FOOTPRINT = BLOB_BYTES + 4096  # on disk, with its inode and directory entry
KEEP_DAYS, QUEUES, PER_SUBJECT, HELD_PER_SUBJECT = 365, 20, 5, 5
BATCH_PROBE_FRESH = 1_000
_BLOB = os.urandom(BLOB_BYTES)
DAY = datetime.timedelta(days=1)


@dataclass
class Layout:
    """The recordings of a dataset with ``expired`` deletable ones: held (subject under a legal
    hold), review (a purpose under disposition review) and live (not yet expired) are kept."""

    expired: int

    def __post_init__(self) -> None:
        self.held = self.review = max(1, self.expired // 100)
        self.live = max(1, self.expired // 10)
        self.kept = self.held + self.review + self.live
        self.total = self.expired + self.kept
        self.subjects = -(-(self.expired + self.review + self.live) // PER_SUBJECT)
        self.held_subjects = -(-self.held // HELD_PER_SUBJECT)
        self.released_holds = max(1, self.expired // 500)


def location() -> Path:
    return Path(settings.STORAGES["recordings"]["OPTIONS"]["location"])


def _historical(*app_labels: str) -> list[Any]:
    return [
        m
        for label in app_labels
        for m in apps.get_app_config(label).get_models()
        if m.__name__.startswith("Historical")
    ]


def fill(layout: Layout, now: datetime.datetime, *, blobs: bool = True) -> dict[str, float]:
    """Empties what the sweep touches, fills it for ``layout`` through the models, writes the
    blobs that are missing, analyses and flushes everything (``CHECKPOINT``, ``sync``)."""
    started, user, day = time.perf_counter(), h.staff_user("bench-retention-dpo"), datetime.timedelta(days=1)
    with transaction.atomic():
        h.truncate(Recording, DataSubject, Queue, Purpose, AccessEvent, AuditChainHead, DeletionRecord)
        h.truncate(SweepRun, *_historical("recordings", "retention"))
        # The access log's chain began long before: the first batch does not pay for its head,
        # nor for making its first audit key.
        AuditChainHead.objects.create(id=1, sequence=0, last_hash=GENESIS_HASH)
        audit_key_current()
        qa, disputes = (
            Purpose.objects.create(code=code, name=name, description=text)
            for code, name, text in (
                ("quality_assurance", "Quality assurance", "Reviewing calls."),
                ("disputes", "Dispute handling", "Evidence."),
            )
        )
        policy = functools.partial(RetentionPolicy.objects.create, legal_reference="Benchmark policy")
        policy(purpose=qa, keep_days=KEEP_DAYS)
        policy(purpose=disputes, keep_days=730, disposition_review=True)
        h.numbered_rows(Queue, QUEUES, code="ret-queue-{n:02d}", name="Queue {n}")
        subjects = layout.subjects + layout.held_subjects
        h.numbered_rows(DataSubject, subjects, reference="BS-{n:07d}")
        key = functools.partial(SubjectKey, master_version="bench-v1")
        h.copy_rows(
            SubjectKey,
            [key(subject_id=s, wrapped_key=_digest("sha256", b"s%d" % s)) for s in range(1, subjects + 1)],
        )
        # Expired calls fill the regular subjects from the first; review and live calls share them;
        # held calls go to the subjects under hold. keep_until: now -/+ 1 to 365 days. Every one
        # active, as audio/wav (the model's defaults).
        rows, pk = [], 0
        for kind, count, sign, first, per in (
            ("expired", layout.expired, -1, 1, PER_SUBJECT),
            ("review", layout.review, -1, 1, PER_SUBJECT),
            ("live", layout.live, 1, 1 + layout.expired // PER_SUBJECT, PER_SUBJECT),
            ("held", layout.held, -1, layout.subjects + 1, HELD_PER_SUBJECT),
        ):
            for g in range(1, count + 1):
                pk += 1
                keep_until = now + sign * datetime.timedelta(
                    days=1 + int(364 * g / count), seconds=g * 7919 % 86400
                )
                started_at = keep_until - KEEP_DAYS * day
                digest = hashlib.md5(f"{kind}{g}".encode(), usedforsecurity=False).hexdigest()
                rows.append(
                    Recording(
                        id=pk,
                        reference=f"RET-{kind}-{g:07d}",
                        direction="outbound" if g % 5 == 0 else "inbound",
                        started_at=started_at,
                        ended_at=started_at + datetime.timedelta(minutes=4),
                        lawful_basis=("contract", "consent", "legal_obligation")[g % 3],
                        storage_ref=f"audio/{started_at:%Y/%m}/{digest}.wav.tink",
                        size_bytes=BLOB_BYTES,
                        checksum_sha256=digest * 2,
                        keep_until=keep_until,
                        queue_id=1 + g % QUEUES,
                        subject_id=first + (g - 1) // per,
                    )
                )
        h.copy_rows(Recording, rows, with_ids=True)
        h.copy_rows(
            RecordingKey,
            [RecordingKey(recording_id=r.pk, wrapped_key=_digest("sha384", b"k%d" % r.pk)) for r in rows],
        )
        link = Recording.purposes.through
        review = [r for r in rows if r.reference.startswith("RET-review")]
        h.copy_rows(
            link,
            [
                link(recording_id=r.pk, purpose_id=p.pk)
                for p, of in ((qa, rows), (disputes, review))
                for r in of
            ],
        )
        hold = functools.partial(LegalHold, scope="subject", placed_by=user)
        holds = [
            hold(
                subject_id=s,
                case_reference=f"CASE-{s}",
                reason="Benchmark: litigation",
                placed_at=now - 400 * day,
            )
            for s in range(layout.subjects + 1, subjects + 1)
        ]
        old = {"reason": "Benchmark: settled", "placed_at": now - 800 * day, "released_by": user}
        old |= {"released_at": now - 500 * day, "release_reason": "Settled."}
        holds += [
            hold(subject_id=s, case_reference=f"CASE-OLD-{s}", **old)
            for s in range(1, layout.released_holds + 1)
        ]
        h.copy_rows(LegalHold, holds)
    rows_seconds, started = time.perf_counter() - started, time.perf_counter()
    refs = [r.storage_ref for r in rows] if blobs else []
    wanted = {str(location() / ref) for ref in refs}
    for root, _, files in os.walk(location()):  # blobs of an earlier, different dataset go
        for name in files:
            if os.path.join(root, name) not in wanted:
                os.unlink(os.path.join(root, name))
    for ref in refs:  # the kept recordings' blobs survive from one run to the next
        if not (path := location() / ref).exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.write_bytes(_BLOB)
    blobs_seconds, started = time.perf_counter() - started, time.perf_counter()
    h.analyze(Recording, link, RecordingKey, DataSubject, SubjectKey, Purpose, RetentionPolicy, LegalHold)
    h.analyze(DeletionRecord)
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    os.sync()
    return {
        "rows_seconds": rows_seconds,
        "blobs_seconds": blobs_seconds,
        "settle_seconds": time.perf_counter() - started,
    }


def _digest(name: str, data: bytes) -> bytes:
    return hashlib.new(name, data).digest()


# --- 1. The sweep and its baseline ---------------------------------------------------------------------


def state() -> dict[str, int]:
    keys = RecordingKey.objects
    return {
        "recordings": Recording.objects.count(),
        "erased": Recording.objects.filter(status="erased").count(),
        "keys": keys.count(),
        "keys_destroyed": keys.filter(destroyed_at__isnull=False, wrapped_key=b"").count(),
        "tombstones": DeletionRecord.objects.count(),
        "blobs_confirmed": DeletionRecord.objects.filter(blob_deleted_at__isnull=False).count(),
        "history": Recording.history.filter(status="erased").count(),
        "events": AccessEvent.objects.filter(action="key_destroyed").count(),
        "blobs": sum(len(files) for _, _, files in os.walk(location())),
    }


def _check(variant: str, expected: dict[str, int]) -> None:
    found = state()
    wrong = {k: (found[k], v) for k, v in expected.items() if found[k] != v}
    if wrong:
        raise RuntimeError(f"the {variant} left the wrong state (found, expected): {wrong}")


def roundtrip_us(statements: int = 2000) -> float:
    """One ``SELECT 1`` through Django's cursor, sent and answered, on the machine as it is now."""
    with connection.cursor() as cursor:
        started = time.perf_counter()
        for _ in range(statements):
            cursor.execute("SELECT 1")
            cursor.fetchone()
    return (time.perf_counter() - started) / statements * 1e6


def run_custos(layout: Layout, now: datetime.datetime, by_kind: bool = False) -> dict[str, Any]:
    with h.counting(by_kind) as counter:
        started = time.perf_counter()
        run = retention_sweep(now=now)
        elapsed = time.perf_counter() - started
    if run.deleted != layout.expired or run.held_back != layout.held + layout.review:
        raise RuntimeError(f"the sweep deleted {run.deleted} and held back {run.held_back}")
    n = layout.expired
    _check(
        "sweep",
        {
            "recordings": layout.total,
            "erased": n,
            "keys": layout.total,
            "keys_destroyed": n,
            "tombstones": n,
            "blobs_confirmed": n,
            "history": n,
            "events": n,
            "blobs": layout.kept,
        },
    )
    with h.counting() as fixed:  # a sweep with nothing left: the statements every sweep sends once
        retention_sweep(now=now)
    return {
        "deleted": run.deleted,
        "seconds": elapsed,
        "queries": counter.count,
        "fixed": fixed.count,
        "kinds": dict(counter.kinds),
        "kind_seconds": dict(counter.seconds),
    }


def run_baseline(layout: Layout, now: datetime.datetime) -> dict[str, Any]:
    """The selector's rows into a temporary table, one bulk DELETE per table, then the unlinks."""
    q = connection.ops.quote_name
    link = Recording.purposes.through
    doomed, params = recordings_past_retention(now).values("id", "storage_ref").query.sql_with_params()
    with h.counting() as counter:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"CREATE TEMPORARY TABLE bench_doomed ON COMMIT DROP AS {doomed}", params)
            cursor.execute("SELECT storage_ref FROM bench_doomed")
            refs = [ref for (ref,) in cursor.fetchall()]
            for model, column in ((link, "recording_id"), (RecordingKey, "recording_id"), (Recording, "id")):
                cursor.execute(
                    f"DELETE FROM {q(model._meta.db_table)} t USING bench_doomed d WHERE t.{column} = d.id"
                )
        sql_seconds = time.perf_counter() - started
        for ref in refs:
            os.unlink(location() / ref)
        elapsed = time.perf_counter() - started
    _check("baseline", {"recordings": layout.kept, "keys": layout.kept, "erased": 0, "blobs": layout.kept})
    return {
        "deleted": len(refs),
        "seconds": elapsed,
        "sql_seconds": sql_seconds,
        "unlink_seconds": elapsed - sql_seconds,
        "queries": counter.count,
    }


def batch_query_probe(erased: int, now: datetime.datetime) -> dict[str, Any]:
    """The sweep's batch query behind ``erased`` recordings erased by earlier sweeps (marked
    erased, the rows kept) and ``BATCH_PROBE_FRESH`` expired ones: its plan, rolled back."""
    fill(Layout(erased + BATCH_PROBE_FRESH), now, blobs=False)
    oldest = (
        Recording.objects.filter(reference__startswith="RET-expired-").order_by("pk").values("pk")[:erased]
    )
    Recording.objects.filter(pk__in=Subquery(oldest)).update(status="erased", storage_ref="")
    h.analyze(Recording)
    with transaction.atomic():
        queryset = (
            recordings_past_retention(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .select_related("subject", "queue")[: settings.RETENTION_SWEEP_BATCH_SIZE]
        )
        plan = h.explain(*queryset.query.sql_with_params())
        transaction.set_rollback(True)
    match = re.search(r"Execution Time: ([0-9.]+) ms", plan)
    removed = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan)]
    return {
        "erased": erased,
        "ms": float(match.group(1)) if match else float("nan"),
        "rows_removed": max(removed, default=0),
        "plan": plan,
    }


SWEEP_PARTS = {
    "SQL: every statement sent and answered": ("django/db/backends/utils.py", "_execute"),
    "`recording_keys_destroy` (lock and empty the keys, their audit events)": (
        ".py",
        "recording_keys_destroy",
    ),
    "`access_events_record` (the chained `key_destroyed` events)": (".py", "access_events_record"),
    "`shares_revoke_for` (open shares of the batch)": (".py", "shares_revoke_for"),
    "`COPY` of the tombstones and the events (`pgbulk.copy`)": ("pgbulk/core.py", "copy"),
    "the history rows, copied in SQL (`history_copy`)": (".py", "history_copy"),
    "waiting for the blob worker (`_BlobDeletionBehind`)": ("retention/services.py", "_wait"),
    "`_delete_pending_blobs` (blobs left by earlier sweeps)": (
        "retention/services.py",
        "_delete_pending_blobs",
    ),
}


# --- 2. The reminder tick -------------------------------------------------------------------------------


def fill_requests(rows: int, open_share: float, now: datetime.datetime) -> dict[str, Any]:
    """``rows`` requests through the models: closed ones received over ten years and answered
    within the month; open ones due from 60 days ago to 60 days ahead, a tenth extended; nine in
    ten assigned to one of three DPOs with an e-mail address."""
    dpos = [
        h.staff_user(f"bench-reminder-dpo-{n}", group=DPO, email=f"dpo{n}@example.invalid").pk
        for n in (1, 2, 3)
    ]
    open_rows = max(1, int(rows * open_share))
    closed = rows - open_rows
    types = ("access", "erasure", "objection", "rectification", "restriction", "portability")
    types += ("consent_withdrawal",)
    numbers: Counter[int] = Counter()
    objs = []
    for g in range(1, rows + 1):
        is_open, extended = g > closed, g % 10 == 3 and g > closed
        if is_open:
            received = (
                now - datetime.timedelta(days=90) + datetime.timedelta(days=120) * ((g - closed) / open_rows)
            )
            status = ("new", "identity_pending", "in_progress", "awaiting_approval")[g % 4]
        else:
            received = now - datetime.timedelta(days=91) - datetime.timedelta(days=3650) * (1 - g / closed)
            status = ("completed", "completed", "completed", "refused", "withdrawn")[g % 5]
        numbers[received.year] += 1
        # Only a prepared erasure awaits approval (the database's four-eyes constraints).
        awaiting = status == "awaiting_approval"
        objs.append(
            DataSubjectRequest(
                reference=f"DSR-{received.year}-{numbers[received.year]:06d}",
                request_type="erasure" if awaiting else types[g % len(types)],
                prepared_by_id=dpos[(g + 1) % 3] if awaiting else None,
                channel=("phone", "email", "letter", "web", "api")[g % 5],
                received_at=received,
                due_at=received + datetime.timedelta(days=30),
                status=status,
                language="en",
                extended_until=received + datetime.timedelta(days=90) if extended else None,
                extension_reason="Complex request (Art. 12(3))." if extended else "",
                refusal_ground="manifestly_unfounded" if status == "refused" else "",
                closed_at=None if is_open else received + datetime.timedelta(days=20),
                assignee_id=None if g % 10 == 0 else dpos[g % 3],
            )
        )
    with transaction.atomic():
        h.truncate(
            DataSubjectRequest,
            DeadlineReminder,
            DataSubjectRequest.history.model,
            DeadlineReminder.history.model,
        )
        h.copy_rows(DataSubjectRequest, objs)
    h.analyze(DataSubjectRequest)
    statuses = Counter(o.status for o in objs)
    return {"rows": rows, "open": open_rows, "statuses": dict(statuses.most_common())}


def reminder_tick(now: datetime.datetime) -> dict[str, Any]:
    mail.outbox = []
    with h.counting(by_kind=True) as counter:
        started = time.perf_counter()
        sent = reminders_send_due(now=now)
        elapsed = time.perf_counter() - started
    kinds = Counter(DeadlineReminder.objects.values_list("kind", flat=True))
    return {
        "sent": sent,
        "emails": len(mail.outbox),
        "seconds": elapsed,
        "queries": counter.count,
        "kinds": dict(counter.kinds),
        "kind_seconds": dict(counter.seconds),
        "by_kind": dict(kinds),
    }


# --- The run ---------------------------------------------------------------------------------------------


@dataclass
class Results:
    sweep: list[dict[str, Any]] = field(default_factory=list)
    scaling: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    ticks: list[dict[str, Any]] = field(default_factory=list)


def run(ctx: h.Context) -> h.Outcome:
    scale, r = ctx.scale, Results()
    now = timezone.now().replace(microsecond=0)
    location().mkdir(parents=True, exist_ok=True)
    usage = shutil.disk_usage(location())
    size = scale.size
    while size > 1_000 and Layout(size).total * BLOB_FOOTPRINT + 2 * h.GIB > usage.free:
        size -= 10_000  # the blobs must fit on the disk
    if size != scale.size:
        free = f"{usage.free / h.GIB:.1f} GiB"
        ctx.log(f"Only {free} free: the timed sweeps delete {size:,}, not {scale.size:,}.")
    layout = Layout(size)
    for n in scale.query_sizes:
        fill(Layout(n), now)
        rt = roundtrip_us()
        r.scaling.append({**run_custos(Layout(n), now, by_kind=True), "roundtrip_us": rt})
        ctx.log(f"  sweep of {n:,}: {r.scaling[-1]['queries']:,} statements ({r.scaling[-1]['fixed']} fixed)")
    for round_no in range(1, scale.rounds + 1):
        order = ["custos", "baseline"] if round_no % 2 else ["baseline", "custos"]
        row: dict[str, Any] = {"round": round_no, "order": order}
        for variant in row["order"]:
            prepared = fill(layout, now)
            rt = roundtrip_us()
            run_ = run_custos(layout, now) if variant == "custos" else run_baseline(layout, now)
            row[variant] = {**run_, "fill": prepared, "roundtrip_us": rt}
        row["ratio"] = row["custos"]["seconds"] / row["baseline"]["seconds"]
        r.sweep.append(row)
        ctx.log(
            f"round {round_no}/{scale.rounds} sweep of {size:,}: Custos {row['custos']['seconds']:.1f} s, "
            f"baseline {row['baseline']['seconds']:.1f} s: {row['ratio']:.2f}x"
        )
    fill(Layout(scale.profile), now)
    run_, stats = h.profiled(lambda: retention_sweep(now=now))
    profile = {
        "deleted": run_.deleted,
        "total_ms": stats.total_tt * 1000,  # type: ignore[attr-defined]
        "parts": [p for p in h.profile_parts(stats, SWEEP_PARTS) if p["ms"]],
    }
    for erased in scale.batch_probe:
        r.probes.append(batch_query_probe(erased, now))
        ctx.log(f"batch query behind {erased:,} erased: {r.probes[-1]['ms']:.1f} ms")
    ctx.log(f"Filling {scale.requests:,} requests ...")
    horizon = max(settings.DSR_REMINDER_OFFSETS, default=0)
    tick: dict[str, Any] = {
        "requests": fill_requests(scale.requests, scale.open_share, now),
        "horizon": horizon,
    }
    tick |= {"now": now, "due": requests_due_for_reminder(now, horizon).count()}
    sql, params = requests_due_for_reminder(now, horizon).select_related("assignee").query.sql_with_params()
    tick["plan"] = plan = h.explain(sql, params)
    with connection.cursor() as cursor:
        literal = cursor.mogrify(sql, params)
    tick["sql"] = literal.decode() if isinstance(literal, bytes) else literal
    indexes = {i.name: i for i in DataSubjectRequest._meta.indexes}
    scans = re.findall(r"(?:Index (?:Only )?Scan (?:Backward )?using|Bitmap Index Scan on) (\w+)", plan)
    tick["used"] = used = sorted(set(scans) & indexes.keys())
    tick["seq_scan"] = f"Seq Scan on {DataSubjectRequest._meta.db_table}" in plan
    tick["index_fields"] = {n: ", ".join(indexes[n].fields) for n in used}
    for _ in range(scale.rounds):
        h.truncate(DeadlineReminder, DeadlineReminder.history.model)
        r.ticks.append(reminder_tick(now))
    if (repeat := reminder_tick(now))["sent"]:
        raise RuntimeError(f"a second tick at the same now sent {repeat['sent']} reminders")
    tick["repeat"] = repeat
    return _report(ctx, r, layout, profile, tick, usage)


def _kinds(kinds: dict[str, int], seconds: dict[str, float], per: int, label: str) -> list[str]:
    rows = [(f"`{k}`", n, seconds.get(k, 0)) for k, n in sorted(kinds.items(), key=lambda x: (-x[1], x[0]))]
    rows.append(("**all**", sum(kinds.values()), sum(seconds.values())))
    items = [
        {"k": k, "count": n, "per": n / per, "ms": s * 1000, "us": s * 1e6 / max(n, 1)} for k, n, s in rows
    ]
    columns = (
        "Statement {k}\nCount> {count:,}\nPer "
        + label
        + "> {per:.3f}\nTime, ms> {ms:,.0f}\nµs each> {us:,.0f}"
    )
    return h.table(items, columns)


def _report(ctx: h.Context, r: Results, layout: Layout, profile: dict, tick: dict, usage: Any) -> h.Outcome:
    size, req = layout.expired, tick["requests"]
    ratio = h.median_of(r.sweep, "ratio")
    custos_s, base_s = (h.median_of([x[v] for x in r.sweep], "seconds") for v in ("custos", "baseline"))
    runs = [
        *(dict(x, where="a sweep of its own, classified") for x in r.scaling),
        *(dict(x["custos"], where=f"timed sweep, round {x['round']}") for x in r.sweep),
    ]
    for x in runs:
        x.update(
            rate=(x["queries"] - x["fixed"]) / x["deleted"] * 1000, ms_each=x["seconds"] / x["deleted"] * 1000
        )
    rates = [x["rate"] for x in runs]
    spread = (max(rates) - min(rates)) / min(rates)
    tick_s = h.median_of(r.ticks, "seconds")
    sizes = ", ".join(f"{s:,}" for s in sorted({x["deleted"] for x in runs}))
    plan_text = ("a sequential scan" if tick["seq_scan"] else "no sequential scan of the requests") + (
        "; index " + ", ".join(f"`{i}`" for i in tick["used"]) if tick["used"] else "; no index"
    )
    sweep = f"{ratio:.2f}x ({custos_s:,.0f} s = {size / custos_s:,.0f}/s vs "
    sweep += f"{base_s:,.0f} s = {size / base_s:,.0f}/s)"
    rows, ticks = f"Reminder tick over {req['rows']:,} requests", r.ticks[-1]
    per_1000 = f"{min(rates):,.1f} to {max(rates):,.1f} (spread {spread:.2%})"
    tick_text = f"{tick_s:.1f} s, {ticks['queries']:,} statements, {ticks['sent']:,} reminders sent"
    verdicts = [
        h.Verdict(
            "sweep",
            f"Sweep of {size:,} expired recordings: Custos time / baseline time",
            sweep,
            "<= 3x",
            ratio <= TARGET_SWEEP_RATIO,
        ),
        h.Verdict(
            "queries",
            f"Statements per 1,000 deletions beyond a sweep's fixed ones, sweeps of {sizes}",
            per_1000,
            "constant (spread <= 1%)",
            spread <= TARGET_QUERY_SPREAD,
        ),
        h.Verdict(
            "index",
            f"{rows}: its query's plan",
            plan_text,
            "an index, no sequential scan",
            bool(tick["used"]) and not tick["seq_scan"],
        ),
        h.Verdict("tick", f"{rows} ({req['open']:,} open)", tick_text, "informational", None),
    ]
    fills = [x[v]["fill"] for x in r.sweep for v in ("custos", "baseline")]
    for x in r.sweep:
        c, b = x["custos"], x["baseline"]
        x.update(order_text=" then ".join(x["order"]), c_rate=size / c["seconds"], b_rate=size / b["seconds"])
        x["unlink"] = b["unlink_seconds"]
    largest = max(r.scaling, key=lambda x: x["deleted"])
    last, repeat = r.ticks[-1], tick["repeat"]
    for t in [*r.ticks, repeat]:
        t["per"] = f"{t['seconds'] / t['sent'] * 1000:,.1f}" if t["sent"] else ""
    repeat["label"] = "second tick, same now"
    values = dict(
        layout=layout,
        free=usage.free / h.GIB,
        kib=BLOB_BYTES // 1024,
        batch=settings.RETENTION_SWEEP_BATCH_SIZE,
        rows_s=h.median(f["rows_seconds"] for f in fills),
        blobs_s=h.median(f["blobs_seconds"] for f in fills),
        settle_s=h.median(f["settle_seconds"] for f in fills),
        rounds=len(r.sweep),
        size=size,
        unlink=h.median(x["baseline"]["unlink_seconds"] for x in r.sweep),
        roundtrip=h.median(x["custos"]["roundtrip_us"] for x in r.sweep),
        erased=r.probes[-1]["erased"],
        plan=r.probes[-1]["plan"],
        req=req,
        tick=tick,
        statuses=", ".join(f"{n:,} {s}" for s, n in req["statuses"].items()),
        sent=last["sent"],
        overdue=sum(n for k, n in last["by_kind"].items() if k.startswith("overdue")),
    )
    out = h.md(
        """
        Dataset: {layout.expired:,} expired recordings, {layout.held:,} held ({layout.held_subjects:,} holds,
        {layout.released_holds:,} released), {layout.review:,} under disposition review, {layout.live:,} live;
        {kib} KiB blobs, {free:.0f} GiB free at the start; batches of {batch}; {rounds} round(s). Rebuilt
        before every timed run, untimed: median {rows_s:.0f} s of rows, {blobs_s:.0f} s of blobs,
        {settle_s:.0f} s flushing.

        ### 1. Sweep of {size:,} expired recordings: Custos against bulk DELETE and unlink
        """,
        **values,
    )
    out += h.table(
        r.sweep,
        """
        Round {round}
        Order {order_text}
        Custos s> {custos[seconds]:,.1f}
        Custos recordings/s> {c_rate:,.0f}
        Custos statements> {custos[queries]:,}
        Baseline s (SQL + unlink)> {baseline[seconds]:,.1f} ({baseline[sql_seconds]:,.1f} + {unlink:,.1f})
        Baseline recordings/s> {b_rate:,.0f}
        Custos / baseline> {ratio:.2f}x
        """,
    )
    out += h.md(
        "The baseline's unlinks took {unlink:,.1f} s (median); a bare `SELECT 1` through Django's cursor "
        "{roundtrip:,.0f} µs just before each Custos sweep.\n\n### 2. Statements per batch",
        **values,
    )
    out += h.table(
        runs,
        """
        Sweep size> {deleted:,}
        Statements> {queries:,}
        Of them fixed> {fixed:,}
        Per 1,000 deletions beyond the fixed> {rate:,.1f}
        Seconds> {seconds:,.1f}
        ms per deletion> {ms_each:,.2f}
        Counted in {where}
        """,
    )
    out += [f"What a sweep of {largest['deleted']:,} sends, by statement and table:", ""]
    out += _kinds(largest["kinds"], largest["kind_seconds"], largest["deleted"], "deletion")
    out += ["#### The batch query as erased recordings pile up", ""]
    out += h.table(
        r.probes,
        "Erased recordings ahead> {erased:,}\nBatch query, ms> {ms:,.1f}\n"
        "Rows read and filtered out> {rows_removed:,}",
    )
    out += [f"The plan behind {values['erased']:,} erased recordings:", "", "```", values["plan"], "```", ""]
    out += [f"#### Where a sweep's time goes (cProfile of a sweep of {profile['deleted']:,})", ""]
    parts = [*profile["parts"], {"part": "the whole sweep", "ms": profile["total_ms"], "share": 1.0}]
    out += h.table(parts, "Part (cumulative, parts overlap) {part}\nms> {ms:,.0f}\nShare> {share:.0%}")
    out += h.md(
        """
        ### 3. Reminder tick over {req[rows]:,} requests

        {req[rows]:,} requests ({statuses}). {tick[due]:,} open requests have a deadline within the horizon
        ({tick[horizon]} days + 1) or past it; `now` = {tick[now]:%Y-%m-%d %H:%M} UTC.
        """,
        **values,
    )
    for n, t in enumerate(r.ticks, 1):
        t["label"] = str(n)
    out += h.table(
        [*r.ticks, repeat],
        """
        Round {label}
        Seconds> {seconds:,.1f}
        Statements> {queries:,}
        Reminders sent> {sent:,}
        E-mails> {emails:,}
        ms per reminder> {per}
        """,
    )
    out += h.md("Of the {sent:,} reminders, {overdue:,} are escalations of overdue requests.", **values)
    out += _kinds(last["kinds"], last["kind_seconds"], max(last["sent"], 1), "reminder")
    out += ["The tick's query (`requests_due_for_reminder`, `select_related('assignee')`), its plan:", ""]
    out += ["```sql", tick["sql"], "```", "", "```", tick["plan"], "```", ""]
    for name in tick["used"][:1]:
        out += [f"The open requests are found through `{name}` (`{tick['index_fields'][name]}`).", ""]
    return h.Outcome(verdicts, out, data={"sweep": r.sweep, "scaling": r.scaling, "ticks": r.ticks})
