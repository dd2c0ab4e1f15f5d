"""Dead rows of destroyed keys: vacuumed on a worker after each erasure batch.

PostgreSQL never overwrites a row in place: emptying a subject key (or a recording key, or a
subject's ciphertext) leaves the old version in the table's pages as a dead tuple until VACUUM
removes it, and until then anyone who reads the pages (``pageinspect``, a file-level copy) finds a
wrapped key the current master key still opens. So once a transaction that destroyed keys commits,
``dead_rows_vacuum_after_commit`` has a worker run ``VACUUM`` on every table that holds wrapped
keys or a subject's ciphertext. VACUUM cannot run inside a transaction, hence a fresh autocommit
connection of the task's own.

Debounced: one registration per transaction (a sweep batch of 500 subjects asks once), and one
task per ``VACUUM_DELAY_SECONDS`` window in the ``dead_rows`` cache (Redis shared by the workers,
or each process's memory; never the database, where the mark cost statements in every erasure
batch): a commit inside a window is covered by the task already scheduled at the window's end,
which runs after it. The tables are also set to
aggressive autovacuum (migrations ``recordings 0018`` and ``dsr 0015``, ``*_dead_rows_autovacuum``)
as the backstop for a lost message.

What VACUUM guarantees, and what it does not (docs/SECURITY.md, "Dead rows"): it removes the dead
tuples (their line pointers become unused and the tuple is no longer a row anyone can read through
SQL or ``heap_page_items``); it does not zero the page's free space, the write-ahead log, WAL
archives or backups. Those are reached by the erasure horizon (retired master-key versions
destroyed), not by this module.

SQLite (the laptop): the task does nothing. ``VACUUM`` rewrites the whole file under an exclusive
lock, too dear per batch for a demo database.
"""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.apps import apps
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils.connection import ConnectionProxy

logger = logging.getLogger(__name__)

# Every table an erasure or a key destruction rewrites and whose old row versions would keep a
# wrapped key or a subject's ciphertext or blind index: model labels, resolved when vacuuming.
KEY_TABLE_MODELS = (
    "recordings.SubjectKey",
    "recordings.RecordingKey",
    "recordings.AtRestRedaction",
    "recordings.DataSubject",
    "recordings.HistoricalDataSubject",
    "dsr.DataPackage",
)
# How long commits are gathered into one vacuum: short enough that dead rows live for seconds,
# long enough that a sweep's batches share a vacuum.
VACUUM_DELAY_SECONDS = 30
# The task is due this much after the pending mark expires: the worker's clock and the cache's
# may differ a little, and a commit that saw the mark must be committed before the task starts.
CLOCK_MARGIN_SECONDS = 2
_PENDING_KEY = "custos:dead-rows-vacuum-pending"
# The debounce's own cache alias (settings.CACHES["dead_rows"]), per thread as Django's ``cache``.
cache = ConnectionProxy(caches, "dead_rows")


def key_tables() -> list[str]:
    """The database tables of ``KEY_TABLE_MODELS``."""
    return [apps.get_model(label)._meta.db_table for label in KEY_TABLE_MODELS]


def dead_rows_vacuum_after_commit() -> None:
    """Once the caller's transaction commits, have a worker vacuum the key tables. Called by every
    service that destroys keys; registered once per transaction however often it is called."""
    connection = transaction.get_connection()
    if any(callback is _vacuum_schedule for _sids, callback, _robust in connection.run_on_commit):
        return
    # robust: the erasure has committed by then; a broker or cache away must not turn it into an
    # error (autovacuum still comes).
    transaction.on_commit(_vacuum_schedule, robust=True)


def _vacuum_schedule() -> None:
    try:
        first = cache.add(_PENDING_KEY, 1, timeout=VACUUM_DELAY_SECONDS)
    except Exception:  # cache away: a vacuum too many rather than one too few
        logger.warning("Dead-rows vacuum: cache unavailable, scheduling without debounce", exc_info=True)
        first = True
    if first:
        # The pending mark expires before the task becomes due (an ETA is never early), so every
        # commit that saw the mark committed before the task starts.
        try:
            vacuum_key_tables.apply_async(countdown=VACUUM_DELAY_SECONDS + CLOCK_MARGIN_SECONDS)
        except Exception:
            # Not sent: let the next commit try again instead of trusting a task that never left.
            cache.delete(_PENDING_KEY)
            raise


def key_tables_vacuum(*, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """VACUUM the key tables now on a fresh autocommit connection; returns the tables vacuumed
    (none on SQLite). INDEX_CLEANUP ON: the blind indexes' dead index entries go too (AUTO may
    skip the indexes when few pages have dead rows, as after one erasure)."""
    if connections[using].vendor != "postgresql":
        return []
    tables = key_tables()
    fresh = connections.create_connection(using)
    started = time.monotonic()
    try:
        fresh.set_autocommit(True)
        with fresh.cursor() as cursor:
            names = ", ".join(fresh.ops.quote_name(table) for table in tables)
            cursor.execute(f"VACUUM (INDEX_CLEANUP ON) {names}")
    finally:
        fresh.close()
    logger.info("Dead-rows vacuum of %d key tables took %.2f s", len(tables), time.monotonic() - started)
    return tables


# Defined here, not in recordings.tasks, because the vault's services enqueue it and the vault may
# not import the floors above it (tests/test_architecture.py); recordings.tasks re-exports it.
@shared_task(name="recordings.tasks.vacuum_key_tables")
def vacuum_key_tables() -> list[str]:
    """After an erasure batch commits (debounced): VACUUM the tables that held the destroyed keys,
    so their dead rows leave the pages. Safe to run twice."""
    return key_tables_vacuum()
