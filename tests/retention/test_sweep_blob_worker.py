"""On PostgreSQL the sweep deletes committed batches' blobs in a worker thread, behind the batches.

These tests commit for real (transaction=True): the worker's own connection sees only what the
sweep committed, as in production.
"""

from __future__ import annotations

import datetime
import threading

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.utils import timezone

from retention.models import DeletionRecord, SweepRun
from retention.services import retention_sweep
from tests.factories import RecordingFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite deletes inline: one writer at a time"),
]


def _expired(count: int):
    return [RecordingFactory(keep_until=timezone.now() - datetime.timedelta(days=1)) for _ in range(count)]


def _deleting_threads(monkeypatch) -> list[str]:
    storage = storages["recordings"]
    threads: list[str] = []
    delete = storage.delete

    def recorded(name):
        threads.append(threading.current_thread().name)
        return delete(name)

    monkeypatch.setattr(storage, "delete", recorded)
    return threads


def test_blobs_of_every_batch_are_deleted_and_confirmed_by_the_worker(monkeypatch):
    # given: five expired recordings, swept two at a time, and one still kept
    recordings = _expired(5)
    kept = RecordingFactory(keep_until=timezone.now() + datetime.timedelta(days=10))
    threads = _deleting_threads(monkeypatch)

    # when
    run = retention_sweep(now=timezone.now(), batch_size=2)

    # then: every blob gone, every tombstone confirmed with its history, all by the worker
    assert run.status == SweepRun.Status.FINISHED and run.deleted == 5
    assert not any(storages["recordings"].exists(r.storage_ref) for r in recordings)
    assert storages["recordings"].exists(kept.storage_ref)
    assert DeletionRecord.objects.filter(blob_deleted_at__isnull=True).count() == 0
    for tombstone in DeletionRecord.objects.all():
        assert [row.history_type for row in tombstone.history.order_by("history_id")] == ["+", "~"]
    assert len(threads) == 5 and all(name.startswith("sweep-blobs") for name in threads)
    assert not any(t.name.startswith("sweep-blobs") for t in threading.enumerate())  # the worker ended


def test_a_failing_worker_fails_the_sweep_and_the_next_sweep_finishes_its_work(monkeypatch):
    # given: the confirmations fail in the worker
    recordings = _expired(3)

    def crash(*args, **kwargs):
        raise RuntimeError("storage confirmation failed")

    monkeypatch.setattr("retention.services._blob_deletions_confirm", crash)

    # when
    with pytest.raises(RuntimeError, match="storage confirmation failed"):
        retention_sweep(now=timezone.now(), batch_size=2)

    # then: the run says so, the recordings are erased, their tombstones still wait
    assert SweepRun.objects.get().status == SweepRun.Status.FAILED
    assert DeletionRecord.objects.filter(blob_deleted_at__isnull=True).count() >= 1

    # and the next sweep confirms every one
    monkeypatch.undo()
    retention_sweep(now=timezone.now())
    assert DeletionRecord.objects.filter(blob_deleted_at__isnull=True).count() == 0
    assert not any(storages["recordings"].exists(r.storage_ref) for r in recordings)
