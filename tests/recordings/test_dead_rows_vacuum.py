"""The vacuum of the key tables after key destruction: enqueued on commit, once per transaction and
once per window however many batches commit in it; nothing on SQLite. (The pages themselves are
read on PostgreSQL in test_dead_rows_pages.py.)"""

from __future__ import annotations

import datetime

import pytest
from django.db import connection, transaction
from django.utils import timezone

from dsr.erasure import subject_erase
from recordings.models import DataSubject, Recording, SubjectKey
from recordings.tasks import vacuum_key_tables
from recordings.vault import dead_rows
from recordings.vault.services import recording_keys_destroy, subject_key_destroy
from retention.subject_expiry import subjects_expire
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = pytest.mark.django_db

COUNTDOWN = dead_rows.VACUUM_DELAY_SECONDS + dead_rows.CLOCK_MARGIN_SECONDS


@pytest.fixture
def enqueued(monkeypatch):
    """The vacuum tasks sent to the broker, as their countdowns."""
    sent: list[int] = []
    monkeypatch.setattr(vacuum_key_tables, "apply_async", lambda countdown=None, **_: sent.append(countdown))
    return sent


def test_an_erasure_enqueues_one_vacuum_once_it_commits(enqueued, dpo, django_capture_on_commit_callbacks):
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject)
    RecordingFactory(subject=subject)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        subject_erase(subject_id=subject.pk, actor=dpo, under="DSR-1")
    # nothing before the commit; one vacuum after it, for the recording keys and the subject key
    assert enqueued == []
    for callback in callbacks:
        callback()
    assert enqueued == [COUNTDOWN]


def test_a_batch_of_destructions_in_one_transaction_registers_one_vacuum(
    enqueued, django_capture_on_commit_callbacks
):
    subjects = DataSubjectFactory.create_batch(3)
    recording = RecordingFactory(subject=subjects[0])

    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for subject in subjects:
            subject_key_destroy(subject=subject, reason="test")
        recording_keys_destroy(recordings=[recording], reasons={recording.pk: "test"})

    scheduled = [c for c in callbacks if c is dead_rows._vacuum_schedule]
    assert len(scheduled) == 1
    assert enqueued == [COUNTDOWN]


def test_a_rolled_back_savepoint_does_not_swallow_a_later_destructions_vacuum(
    enqueued, django_capture_on_commit_callbacks
):
    first, second = DataSubjectFactory.create_batch(2)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                subject_key_destroy(subject=first, reason="test")
                raise RuntimeError("the batch fails")
        except RuntimeError:
            pass
        subject_key_destroy(subject=second, reason="test")
    assert enqueued == [COUNTDOWN]


@pytest.mark.django_db(transaction=True)
def test_batches_committed_within_the_window_share_one_vacuum(enqueued):
    subjects = DataSubjectFactory.create_batch(3)
    for subject in subjects:  # three transactions that commit, as three sweep batches
        subject_key_destroy(subject=subject, reason="test")
    assert enqueued == [COUNTDOWN]

    # once the window is over (the mark expired as the task became due), the next one enqueues
    dead_rows.cache.delete(dead_rows._PENDING_KEY)
    subject_key_destroy(subject=DataSubjectFactory(), reason="test")
    assert len(enqueued) == 2


@pytest.mark.django_db(transaction=True)
def test_a_key_already_destroyed_enqueues_nothing(enqueued):
    subject = DataSubjectFactory()
    subject_key_destroy(subject=subject, reason="first")
    dead_rows.cache.delete(dead_rows._PENDING_KEY)
    subject_key_destroy(subject=subject, reason="again")
    assert len(enqueued) == 1


def test_the_sweeps_subject_stage_enqueues_one_vacuum_per_batch(enqueued, django_capture_on_commit_callbacks):
    old = timezone.now() - datetime.timedelta(days=3)
    subjects = DataSubjectFactory.create_batch(3)
    DataSubject.objects.filter(pk__in=[s.pk for s in subjects]).update(created_at=old)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert subjects_expire(now=timezone.now()) == 3
    assert [c for c in callbacks if c is dead_rows._vacuum_schedule] == [dead_rows._vacuum_schedule]


def test_without_a_cache_the_vacuum_is_still_enqueued(
    enqueued, monkeypatch, django_capture_on_commit_callbacks
):
    def broken(*args, **kwargs):
        raise ConnectionError("cache away")

    monkeypatch.setattr(dead_rows.cache, "add", broken)
    with django_capture_on_commit_callbacks(execute=True):
        subject_key_destroy(subject=DataSubjectFactory(), reason="test")
    assert enqueued == [COUNTDOWN]


@pytest.mark.django_db(transaction=True)
def test_a_broker_away_fails_neither_the_erasure_nor_the_next_vacuum(enqueued, monkeypatch):
    def broken(**kwargs):
        raise ConnectionError("broker away")

    working = vacuum_key_tables.apply_async
    monkeypatch.setattr(vacuum_key_tables, "apply_async", broken)
    subject = DataSubjectFactory()
    subject_key_destroy(subject=subject, reason="test")  # commits; the enqueue fails after it
    assert SubjectKey.objects.get(subject=subject).destroyed_at is not None

    # the failed send left no pending mark: the next destruction enqueues at once
    monkeypatch.setattr(vacuum_key_tables, "apply_async", working)
    subject_key_destroy(subject=DataSubjectFactory(), reason="test")
    assert enqueued == [COUNTDOWN]


def test_the_tables_are_the_ones_holding_keys_or_ciphertext():
    assert set(dead_rows.key_tables()) == {
        "recordings_subjectkey",
        "recordings_recordingkey",
        "recordings_atrestredaction",
        "recordings_datasubject",
        "recordings_historicaldatasubject",
        "dsr_datapackage",
    }


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the laptop's database")
def test_on_sqlite_the_task_does_nothing():
    assert vacuum_key_tables() == []


def test_erased_recordings_reach_the_vacuum_too(enqueued, django_capture_on_commit_callbacks):
    recording = RecordingFactory()
    with django_capture_on_commit_callbacks(execute=True):
        recording_keys_destroy(recordings=[recording], reasons={recording.pk: "retention"})
    assert enqueued == [COUNTDOWN]
    assert Recording.objects.get(pk=recording.pk).key.destroyed_at is not None
