"""Dead rows after an erasure, read from the pages with ``pageinspect`` (PostgreSQL only).

An erasure commits for real (transaction=True) through the real service (``dsr.erasure.
subject_erase``); then the subject-key and subject tables' pages are read tuple by tuple
(``heap_page_items``). Before the vacuum the erased subject's old wrapped key and ciphertext are
there, in dead tuples; after the vacuum task no tuple holds them and the dead tuples' line pointers
are unused. What this does NOT show, because it is not true (docs/SECURITY.md, "Dead rows"): that
the bytes are gone from the file. VACUUM compacts a page without zeroing its free space; on
PostgreSQL 15, erasing the subject last written to a page leaves the old sealed name in that page's
free space after the vacuum, out of reach of any line pointer but readable with ``get_raw_page``
or from the file. The WAL and backups hold the old rows too. The erasure horizon (retired
master-key versions destroyed) is what reaches those bytes, not the vacuum.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from dsr.erasure import subject_erase
from recordings.models import SubjectKey
from recordings.tasks import vacuum_key_tables
from recordings.vault import dead_rows
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="dead tuples are PostgreSQL's"),
]

LP_UNUSED = 0
LP_DEAD = 3
WATCHED = ("recordings_subjectkey", "recordings_datasubject", "recordings_historicaldatasubject")


@pytest.fixture
def pageinspect():
    with connection.cursor() as cursor:
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        except Exception as error:  # not installed on this server (postgresql-contrib)
            pytest.skip(f"pageinspect unavailable: {error}")
        # Autovacuum (aggressive on these tables) must not clean up before the test looks.
        for table in WATCHED:
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
    yield
    with connection.cursor() as cursor:
        for table in WATCHED:
            cursor.execute(f"ALTER TABLE {table} RESET (autovacuum_enabled)")


def _tuples(table: str) -> list[tuple[int, int, int, bytes]]:
    """Every line pointer of the table's main fork: (block, lp, lp_flags, t_data)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_relation_size(%s) / current_setting('block_size')::int", [table])
        (blocks,) = cursor.fetchone()
        rows: list[tuple[int, int, int, bytes]] = []
        for block in range(blocks):
            cursor.execute(
                "SELECT lp, lp_flags, t_data FROM heap_page_items(get_raw_page(%s, %s))", [table, block]
            )
            rows += [(block, lp, flags, bytes(data or b"")) for lp, flags, data in cursor.fetchall()]
        return rows


def _holding(table: str, secret: bytes) -> list[tuple[int, int, int]]:
    return [(block, lp, flags) for block, lp, flags, data in _tuples(table) if secret in data]


def test_the_vacuum_task_removes_the_erased_subjects_dead_tuples(pageinspect, dpo):
    # given: a subject with a call, written after others (the layout where the free space keeps
    # bytes), and their wrapped key and sealed name as the pages hold them
    DataSubjectFactory.create_batch(3)
    subject = DataSubjectFactory(full_name="Erika Mustermann")
    RecordingFactory(subject=subject)
    wrapped = bytes(SubjectKey.objects.get(subject=subject).wrapped_key)
    sealed_name = bytes(subject.full_name_encrypted)
    assert len(wrapped) > 16 and len(sealed_name) > 16

    # when: the erasure commits
    with transaction.atomic():
        subject_erase(subject_id=subject.pk, actor=dpo, under="DSR-DEADROWS-1")
    assert bytes(SubjectKey.objects.get(subject=subject).wrapped_key) == b""

    # then: the old versions are still in the pages, as dead tuples (what the issue showed)
    assert _holding("recordings_subjectkey", wrapped), "the old wrapped key should be a dead tuple"
    assert _holding("recordings_datasubject", sealed_name)
    assert _holding("recordings_historicaldatasubject", sealed_name)

    # when: the vacuum task the erasure enqueued runs
    assert "recordings_subjectkey" in vacuum_key_tables()

    # then: no tuple of any watched table holds them, and no dead tuple is left
    for table in WATCHED:
        for secret in (wrapped, sealed_name):
            assert _holding(table, secret) == [], f"{table} still has a tuple with the erased bytes"
        assert [row for row in _tuples(table) if row[2] == LP_DEAD] == [], f"{table} kept dead pointers"


def test_the_vacuum_runs_outside_the_callers_transaction(pageinspect, dpo):
    # A caller still inside a transaction (a sweep batch) does not break the task: it has a
    # connection of its own, in autocommit (VACUUM refuses to run in a transaction block).
    with transaction.atomic():
        assert "recordings_subjectkey" in vacuum_key_tables()


def test_the_tables_holding_keys_have_aggressive_autovacuum():
    # The backstop for a lost vacuum message: one dead tuple makes the table due.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)",
            [list(dead_rows.key_tables())],
        )
        options = dict(cursor.fetchall())
    assert set(options) == set(dead_rows.key_tables())
    for table, reloptions in options.items():
        assert "autovacuum_vacuum_scale_factor=0" in (reloptions or []), table
        assert "autovacuum_vacuum_threshold=0" in (reloptions or []), table


@pytest.mark.timeout(180)
def test_a_real_worker_vacuums_after_a_real_erasure(celery_processes, pageinspect, dpo, monkeypatch):
    # The whole path: the erasure's commit enqueues the task (debounced, here by 1 s) on the
    # default queue, a worker process runs it on its own connection.
    from tests.celery_processes import wait_until

    monkeypatch.setattr(dead_rows, "VACUUM_DELAY_SECONDS", 1)
    worker = celery_processes.worker(queue="celery")
    subject = DataSubjectFactory()
    wrapped = bytes(SubjectKey.objects.get(subject=subject).wrapped_key)

    with transaction.atomic():
        subject_erase(subject_id=subject.pk, actor=dpo, under="DSR-DEADROWS-2")

    wait_until(
        lambda: not _holding("recordings_subjectkey", wrapped),
        timeout=60,
        message=f"no worker vacuumed the subject-key table:\n{worker.log_text()[-3000:]}",
        interval=0.5,
    )
