"""The Django side of the retention benchmark (``benchmarks/retention.py``): its data and its steps.

Imported by ``benchmarks/retention.py`` once Django is set up against the benchmark database. The
data is written in plain SQL (``INSERT ... SELECT FROM generate_series``) and the blobs as plain
files, so that rebuilding 100,000 recordings between two timed sweeps takes seconds; what is
timed goes through Custos's own code (``retention_sweep``, ``reminders_send_due``) or, for the
baseline, through one bulk ``DELETE`` per table and ``os.unlink``.

The data is synthetic and holds no personal data: subjects are bare pseudonymous references with
empty personal fields; the "wrapped keys" are hashes (the sweep only empties them); the blobs are
64 KiB of random bytes, not ciphertext (the sweep deletes them without reading them).
"""

from __future__ import annotations

import cProfile
import datetime
import functools
import os
import pstats
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

import pgbulk
from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.utils import timezone

from benchmarks import dataset
from benchmarks.retention_dataset import (
    BASELINE_DELETES,
    BENCH_USER,
    BLOB_BYTES,
    CHANNELS,
    CLOSED_STATUSES,
    DOOMED_SQL,
    DPO_GROUPS_SQL,
    DPO_USERS_SQL,
    DSR_TRUNCATED_TABLES,
    HELD_RECORDINGS_PER_SUBJECT,
    HOLDS_SQL,
    KEEP_DAYS,
    OPEN_STATUSES,
    POLICIES_SQL,
    PURPOSES_SQL,
    QUEUES,
    QUEUES_SQL,
    RECORDING_KEYS_SQL,
    RECORDING_PURPOSES_SQL,
    RECORDINGS_SQL,
    REQUEST_TYPES,
    REQUESTS_SQL,
    SUBJECT_EVERY,
    SUBJECT_KEYS_SQL,
    TRUNCATED_TABLES,
    USER_SQL,
    VACUUMED_TABLES,
    Layout,
)
from compliance_site.audit.chain import GENESIS_HASH
from dsr.selectors import requests_due_for_reminder
from dsr.services import reminders_send_due
from retention.services import retention_sweep

BATCH_PROBE_FRESH = 1_000  # freshly expired recordings behind the erased ones in the probe

# --- The dataset -----------------------------------------------------------------------------------


def storage_location() -> Path:
    return Path(settings.STORAGES["recordings"]["OPTIONS"]["location"])


def fill(layout: Layout, now: datetime.datetime, *, blobs: bool = True) -> dict[str, Any]:
    """Empties what the sweep touches and fills it for ``layout`` in SQL, writes a 64 KiB blob for
    every recording that lacks one (unless ``blobs`` is false), flushes everything to disk
    (``CHECKPOINT`` and ``sync``) and analyses the tables, so that every timed run starts from the
    same state. Returns timings."""
    started = time.perf_counter()
    params: dict[str, Any] = {
        "now": now,
        "keep_days": KEEP_DAYS,
        "queues": QUEUES,
        "blob_bytes": BLOB_BYTES,
        "username": BENCH_USER,
        "per_subject": SUBJECT_EVERY,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
        cursor.execute(f"TRUNCATE {', '.join(TRUNCATED_TABLES)} RESTART IDENTITY CASCADE")
        # The access log's chain began long before (its head row exists, as in any deployment
        # that has logged anything): the first batch should not pay for creating it.
        cursor.execute(
            "INSERT INTO recordings_auditchainhead (id, sequence, last_hash) VALUES (1, 0, %s)",
            [GENESIS_HASH],
        )
        cursor.execute(PURPOSES_SQL)
        cursor.execute(POLICIES_SQL, params)
        cursor.execute(USER_SQL, params)
        cursor.execute(QUEUES_SQL, params)
        subjects = layout.subjects + layout.held_subjects
        with psycopg_cursor() as raw:
            raw.execute(
                dataset.subjects_sql(raw.connection),
                {"anchor": now - datetime.timedelta(days=800), "subjects": subjects},
            )
        cursor.execute(SUBJECT_KEYS_SQL)
        cursor.execute("SELECT min(id) FROM recordings_queue")
        (first_queue,) = cursor.fetchone()
        cursor.execute("SELECT min(id), max(id) FROM recordings_datasubject")
        first_subject, last_subject = cursor.fetchone()
        last_regular_subject = last_subject - layout.held_subjects
        params.update(first_queue=first_queue, last_regular_subject=last_regular_subject)
        # Deletable calls fill the regular subjects from the first; the review and live calls
        # share those subjects (a subject with an old and a recent call); the held calls go to
        # the subjects under hold.
        kinds = (
            ("expired", layout.expired, -1, first_subject, SUBJECT_EVERY),
            ("review", layout.review, -1, first_subject, SUBJECT_EVERY),
            ("live", layout.live, 1, first_subject + layout.expired // SUBJECT_EVERY, SUBJECT_EVERY),
            ("held", layout.held, -1, last_regular_subject + 1, HELD_RECORDINGS_PER_SUBJECT),
        )
        for kind, rows, sign, subject_from, per_subject in kinds:
            cursor.execute(
                RECORDINGS_SQL,
                {
                    **params,
                    "kind": kind,
                    "rows": rows,
                    "sign": sign,
                    "first_subject": subject_from,
                    "per_subject": per_subject,
                },
            )
        cursor.execute(RECORDING_KEYS_SQL)
        cursor.execute(RECORDING_PURPOSES_SQL)
        cursor.execute(
            HOLDS_SQL,
            {**params, "released": first_subject + layout.released_holds - 1},
        )
        cursor.execute("SELECT id, storage_ref FROM recordings_recording ORDER BY id")
        refs = [ref for _, ref in cursor.fetchall()]
    rows_seconds = time.perf_counter() - started
    if len(refs) != layout.total:
        raise RuntimeError(f"{len(refs):,} recordings generated instead of {layout.total:,}")

    started = time.perf_counter()
    written = write_blobs(storage_location(), refs if blobs else [])
    blobs_seconds = time.perf_counter() - started

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in VACUUMED_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")
    os.sync()
    settle_seconds = time.perf_counter() - started
    return {
        "recordings": layout.total,
        "blobs_written": written,
        "rows_seconds": rows_seconds,
        "blobs_seconds": blobs_seconds,
        "settle_seconds": settle_seconds,
    }


@contextmanager
def psycopg_cursor() -> Iterator[Any]:
    """The raw psycopg cursor of Django's connection (for a ``psycopg.sql.Composed`` statement)."""
    with connection.cursor() as cursor:
        yield cursor.cursor


_BLOB = os.urandom(BLOB_BYTES)


def write_blobs(location: Path, refs: list[str]) -> int:
    """A 64 KiB file per blob name that has none yet (the kept recordings' blobs survive from one
    round to the next; the deleted ones are written again); files of an earlier, different
    dataset are removed. Returns how many were written."""
    wanted = {str(location / ref) for ref in refs}
    for root, _, files in os.walk(location):
        for name in files:
            path = os.path.join(root, name)
            if path not in wanted:
                os.unlink(path)
    written = 0
    made: set[Path] = set()
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for ref in refs:
        path = location / ref
        if path.parent not in made:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            made.add(path.parent)
        if path.exists():
            continue
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, _BLOB)
        finally:
            os.close(fd)
        written += 1
    return written


def count_blobs(location: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(location))


def blob_bytes_on_disk(location: Path) -> int:
    return sum(
        (Path(root) / name).stat().st_blocks * 512 for root, _, files in os.walk(location) for name in files
    )


# --- Counting the SQL ----------------------------------------------------------------------------

_TABLE_RE = re.compile(r'(?:FROM|INTO|UPDATE)\s+"?([a-z_]+)"?', re.I)


def _statement_kind(sql: str) -> str:
    """'SELECT recordings_recordingkey', 'SAVEPOINT', ... (the verb and the first table named)."""
    head = sql.lstrip()[:12].upper()
    for verb in ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"):
        if head.startswith(verb[:12]):
            return verb
    verb = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "?"
    match = _TABLE_RE.search(sql)
    return f"{verb} {match.group(1)}" if match else verb


class QueryCounter:
    """Counts the statements Django sends (``connection.execute_wrapper``), optionally by kind.

    Cheaper than ``CaptureQueriesContext`` (no SQL text kept, no debug cursor), so that it can
    stay on during the timed sweeps; ``by_kind`` classifies each statement (a regex) and times it
    (from sending it to its answer, as the driver sees it), for the untimed runs that show which
    statements a deletion costs."""

    def __init__(self, by_kind: bool = False) -> None:
        self.count = 0
        self.by_kind = by_kind
        self.kinds: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: Any) -> Any:
        return self._counted(lambda: _statement_kind(sql), execute, sql, params, many, context)

    def copy(self, copy: Callable, model: Any, *args: Any, **kwargs: Any) -> Any:
        """A ``COPY ... FROM STDIN`` (``compliance_site.bulk_rows``), which execute wrappers do not
        see: counted as the one statement it is."""
        return self._counted(lambda: f"COPY {model._meta.db_table}", copy, model, *args, **kwargs)

    def _counted(self, kind: Callable[[], str], run: Callable, *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        if not self.by_kind:
            return run(*args, **kwargs)
        label = kind()
        self.kinds[label] += 1
        started = time.perf_counter()
        try:
            return run(*args, **kwargs)
        finally:
            self.seconds[label] += time.perf_counter() - started


@contextmanager
def counting(by_kind: bool = False) -> Iterator[QueryCounter]:
    counter = QueryCounter(by_kind)
    copy = pgbulk.copy
    with (
        connection.execute_wrapper(counter),
        mock.patch.object(pgbulk, "copy", functools.partial(counter.copy, copy)),
    ):
        yield counter


# --- 1. The sweep and its baseline ----------------------------------------------------------------


def state(layout: Layout) -> dict[str, int]:
    """What is left after a run, from the database and the storage folder."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), count(*) FILTER (WHERE status = 'erased'),
                   (SELECT count(*) FROM recordings_recordingkey),
                   (SELECT count(*) FROM recordings_recordingkey WHERE destroyed_at IS NOT NULL
                                                                AND wrapped_key = '\\x'::bytea),
                   (SELECT count(*) FROM retention_deletionrecord),
                   (SELECT count(*) FROM retention_deletionrecord WHERE blob_deleted_at IS NOT NULL),
                   (SELECT count(*) FROM recordings_historicalrecording WHERE status = 'erased'),
                   (SELECT count(*) FROM recordings_accessevent WHERE action = 'key_destroyed')
            FROM recordings_recording
            """
        )
        row = cursor.fetchone()
    keys = (
        "recordings",
        "erased",
        "keys",
        "keys_destroyed",
        "tombstones",
        "blobs_confirmed",
        "history",
        "events",
    )
    return {**dict(zip(keys, row, strict=True)), "blobs": count_blobs(storage_location())}


def check_custos(layout: Layout, after: dict[str, int], run: Any) -> None:
    expected = {
        "recordings": layout.total,
        "erased": layout.expired,
        "keys": layout.total,
        "keys_destroyed": layout.expired,
        "tombstones": layout.expired,
        "blobs_confirmed": layout.expired,
        "history": layout.expired,
        "events": layout.expired,
        "blobs": layout.kept,
    }
    wrong = {k: (after[k], v) for k, v in expected.items() if after[k] != v}
    if wrong or run.deleted != layout.expired or run.held_back != layout.held + layout.review:
        raise RuntimeError(
            f"the sweep left the wrong state (found, expected): {wrong}; "
            f"run deleted {run.deleted}, held back {run.held_back}"
        )


def check_baseline(layout: Layout, after: dict[str, int], deleted: int) -> None:
    expected = {"recordings": layout.kept, "keys": layout.kept, "erased": 0, "blobs": layout.kept}
    wrong = {k: (after[k], v) for k, v in expected.items() if after[k] != v}
    if wrong or deleted != layout.expired:
        raise RuntimeError(f"the baseline left the wrong state (found, expected): {wrong}; deleted {deleted}")


def roundtrip_probe(statements: int = 2000) -> float:
    """Microseconds of one ``SELECT 1`` through Django's cursor, sent and answered: what a
    statement costs before the server does any work, on the machine as it is now."""
    with connection.cursor() as cursor:
        started = time.perf_counter()
        for _ in range(statements):
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return (time.perf_counter() - started) / statements * 1e6


def run_custos(layout: Layout, now: datetime.datetime, by_kind: bool = False) -> dict[str, Any]:
    """``retention_sweep(now=...)`` with the default batch size, timed, its statements counted;
    then checks that exactly the expired, unheld recordings went (rows, keys, tombstones, history,
    audit events, blobs), and counts the statements of a second sweep that has nothing to do."""
    with counting(by_kind) as counter:
        started = time.perf_counter()
        run = retention_sweep(now=now)
        elapsed = time.perf_counter() - started
    check_custos(layout, state(layout), run)
    # A sweep that finds nothing left to delete: the statements every sweep sends once (stale
    # runs, pending blobs, the held-back count, its run row, the last empty batch).
    with counting() as fixed:
        retention_sweep(now=now)
    return {
        "variant": "custos",
        "deleted": run.deleted,
        "seconds": elapsed,
        "queries": counter.count,
        "fixed_queries": fixed.count,
        "kinds": dict(counter.kinds),
        "kind_seconds": dict(counter.seconds),
        "batch_size": settings.RETENTION_SWEEP_BATCH_SIZE,
    }


def run_baseline(layout: Layout, now: datetime.datetime) -> dict[str, Any]:
    """The same rows selected in SQL, one ``DELETE`` per table in one transaction, then
    ``os.unlink`` of every blob; timed together, checked like the sweep."""
    location = storage_location()
    with counting() as counter:
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(DOOMED_SQL, {"now": now})
            cursor.execute("SELECT storage_ref FROM bench_doomed")
            refs = [ref for (ref,) in cursor.fetchall()]
            for statement in BASELINE_DELETES:
                cursor.execute(statement)
        sql_seconds = time.perf_counter() - started
        for ref in refs:
            os.unlink(location / ref)
        elapsed = time.perf_counter() - started
    check_baseline(layout, state(layout), len(refs))
    return {
        "variant": "baseline",
        "deleted": len(refs),
        "seconds": elapsed,
        "sql_seconds": sql_seconds,
        "unlink_seconds": elapsed - sql_seconds,
        "queries": counter.count,
    }


# What earlier sweeps leave behind: the oldest expired recordings erased, their blobs gone.
ERASE_OLDEST_SQL = """
UPDATE recordings_recording SET status = 'erased', storage_ref = ''
WHERE id IN (SELECT id FROM recordings_recording WHERE reference LIKE 'RET-expired-%%'
             ORDER BY id LIMIT %(erased)s)
"""


def batch_query_probe(erased: int, now: datetime.datetime) -> dict[str, Any]:
    """The sweep's batch query (``recordings_past_retention(now)``, locked, in pk order, one batch)
    on a table where ``erased`` recordings erased by earlier sweeps come before the ones it finds:
    ``EXPLAIN (ANALYZE, BUFFERS)`` in a transaction rolled back (warm cache, third run). The
    dataset is the sweep's, with ``erased`` + ``BATCH_PROBE_FRESH`` expired recordings of which
    the oldest ``erased`` are marked erased in SQL; no blobs."""
    from retention.selectors import recordings_past_retention

    layout = Layout(erased + BATCH_PROBE_FRESH)
    fill(layout, now, blobs=False)
    with connection.cursor() as cursor:
        cursor.execute(ERASE_OLDEST_SQL, {"erased": erased})
        cursor.execute("VACUUM (ANALYZE) recordings_recording")
    batch = settings.RETENTION_SWEEP_BATCH_SIZE
    plan = ""
    with transaction.atomic():
        queryset = (
            recordings_past_retention(now)
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("pk")
            .select_related("subject", "queue")[:batch]
        )
        sql, params = queryset.query.sql_with_params()
        with connection.cursor() as cursor:
            for _ in range(3):
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
                plan = "\n".join(line for (line,) in cursor.fetchall())
        transaction.set_rollback(True)
    match = re.search(r"Execution Time: ([0-9.]+) ms", plan)
    removed = [int(n) for n in re.findall(r"Rows Removed by Filter: (\d+)", plan)]
    return {
        "erased": erased,
        "fresh": BATCH_PROBE_FRESH,
        "ms": float(match.group(1)) if match else float("nan"),
        "rows_removed": max(removed, default=0),
        "plan": plan,
    }


SWEEP_PARTS = {
    "SQL: every statement sent and answered": ("django/db/backends/utils.py", "_execute"),
    "`recording_keys_destroy` (lock and empty the keys, their audit events)": (
        "recordings/services.py",
        "recording_keys_destroy",
    ),
    "`access_events_record` (the chained `key_destroyed` events)": (
        "recordings/access_log.py",
        "access_events_record",
    ),
    "`shares_revoke_for` (open shares of the batch)": ("recordings/sharing/services.py", "shares_revoke_for"),
    "`COPY` of the tombstones and the events (`pgbulk.copy`)": ("pgbulk/core.py", "copy"),
    "the history rows, copied in SQL (`history_copy`)": ("compliance_site/history_bulk.py", "history_copy"),
    "waiting for the blob worker (`_BlobDeletionBehind`: unlinks and confirmations in a thread)": (
        "retention/services.py",
        "_wait",
    ),
    "`_delete_pending_blobs` in this thread (the sweep's start: blobs left by earlier sweeps)": (
        "retention/services.py",
        "_delete_pending_blobs",
    ),
}


def profile_sweep(layout: Layout, now: datetime.datetime) -> dict[str, Any]:
    """cProfile of one whole sweep of ``layout`` (freshly filled): cumulative time of its parts."""
    fill(layout, now)
    profiler = cProfile.Profile()
    profiler.enable()
    run = retention_sweep(now=now)
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt
    parts = []
    for label, (path, function) in SWEEP_PARTS.items():
        cumulative = sum(
            entry[3]
            for (filename, _, name), entry in stats.stats.items()
            if name == function and filename.endswith(path)
        )
        if cumulative:
            parts.append({"part": label, "ms": cumulative * 1000, "share": cumulative / total})
    return {"deleted": run.deleted, "total_ms": total * 1000, "parts": parts}


# --- 2. The reminder tick --------------------------------------------------------------------------


def fill_requests(rows: int, open_share: float, now: datetime.datetime) -> dict[str, Any]:
    """Empties the request tables and fills ``rows`` requests in SQL (``open_share`` of them open);
    three DPOs with an e-mail address receive the reminders."""
    from compliance_site.roles import DPO

    started = time.perf_counter()
    open_rows = max(1, int(rows * open_share))
    usernames = [f"bench-reminder-dpo-{n}" for n in (1, 2, 3)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit = off")
        cursor.execute(f"TRUNCATE {', '.join(DSR_TRUNCATED_TABLES)} RESTART IDENTITY CASCADE")
        cursor.execute(DPO_USERS_SQL, {"usernames": usernames})
        cursor.execute(DPO_GROUPS_SQL, {"usernames": usernames, "group": DPO})
        cursor.execute("SELECT id FROM custos_user WHERE username = ANY(%s) ORDER BY id", [usernames])
        dpos = [pk for (pk,) in cursor.fetchall()]
        cursor.execute(
            REQUESTS_SQL,
            {
                "rows": rows,
                "closed": rows - open_rows,
                "open": open_rows,
                "now": now,
                "types": list(REQUEST_TYPES),
                "channels": list(CHANNELS),
                "open_statuses": list(OPEN_STATUSES),
                "closed_statuses": list(CLOSED_STATUSES),
                "dpos": dpos,
            },
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) dsr_datasubjectrequest")
        cursor.execute("CHECKPOINT")
        cursor.execute(
            "SELECT status, count(*) FROM dsr_datasubjectrequest GROUP BY status ORDER BY count(*) DESC"
        )
        statuses = dict(cursor.fetchall())
    return {"rows": rows, "open": open_rows, "statuses": statuses, "seconds": time.perf_counter() - started}


def reminder_selector_sql(now: datetime.datetime) -> tuple[str, list[Any]]:
    """The SQL of the tick's query, as ``reminders_send_due`` builds it."""
    horizon = max(settings.DSR_REMINDER_OFFSETS, default=0)
    queryset = requests_due_for_reminder(now, horizon).select_related("assignee")
    sql, params = queryset.query.sql_with_params()
    return sql, list(params)


def reminder_explain(now: datetime.datetime) -> dict[str, Any]:
    """``EXPLAIN (ANALYZE, BUFFERS)`` of the tick's query (third run: warm cache), and which of
    the requests table's indexes it uses."""
    sql, params = reminder_selector_sql(now)
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
            plan = "\n".join(line for (line,) in cursor.fetchall())
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'dsr_datasubjectrequest' "
            "ORDER BY indexname"
        )
        indexes = dict(cursor.fetchall())
    named = set(re.findall(r"Index (?:Only )?Scan (?:Backward )?using (\w+)", plan))
    named |= set(re.findall(r"Bitmap Index Scan on (\w+)", plan))
    return {
        "sql": sql % tuple(_literal(p) for p in params),
        "plan": plan,
        "seq_scan": "Seq Scan on dsr_datasubjectrequest" in plan,
        "indexes": sorted(named & indexes.keys()),
        "index_definitions": {name: indexes[name] for name in sorted(named & indexes.keys())},
    }


def _literal(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        return f"'{value.isoformat()}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def reminders_reset() -> None:
    """No reminder sent yet: every tick of the rounds starts from the same state."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE dsr_deadlinereminder, dsr_historicaldeadlinereminder RESTART IDENTITY")
        cursor.execute("VACUUM (ANALYZE) dsr_deadlinereminder")


def reminder_tick(now: datetime.datetime) -> dict[str, Any]:
    """``reminders_send_due(now=...)`` once, timed, its statements counted (locmem e-mail)."""
    mail.outbox = []
    with counting(by_kind=True) as counter:
        started = time.perf_counter()
        sent = reminders_send_due(now=now)
        elapsed = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("SELECT kind, count(*) FROM dsr_deadlinereminder GROUP BY kind")
        kinds = dict(cursor.fetchall())
    return {
        "sent": sent,
        "emails": len(mail.outbox),
        "seconds": elapsed,
        "queries": counter.count,
        "statements": dict(counter.kinds),
        "statement_seconds": dict(counter.seconds),
        "reminder_rows": sum(kinds.values()),
        "by_kind": kinds,
    }


def due_for_reminder_count(now: datetime.datetime) -> int:
    horizon = max(settings.DSR_REMINDER_OFFSETS, default=0)
    return requests_due_for_reminder(now, horizon).count()


def now() -> datetime.datetime:
    """The benchmark's "now", to the second (so that it is a stable literal in the report)."""
    return timezone.now().replace(microsecond=0)
