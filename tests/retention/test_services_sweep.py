"""The retention sweep: expired and unheld recordings go, with a tombstone; held ones stay."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.storage import storages
from django.utils import timezone

from recordings.models import Recording
from retention.models import DeletionRecord, LegalHold, SweepRun
from retention.services import hold_release, keep_until_for, retention_sweep
from tests.factories import (
    LegalHoldFactory,
    PurposeFactory,
    RecordingFactory,
    RetentionPolicyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def expired_recording(**kwargs) -> Recording:
    return RecordingFactory(keep_until=timezone.now() - datetime.timedelta(days=1), **kwargs)


def test_expired_recording_is_erased_with_tombstone_and_blob_deleted():
    # given
    recording = expired_recording()
    blob = recording.storage_ref
    kept = RecordingFactory(keep_until=timezone.now() + datetime.timedelta(days=10))

    # when
    run = retention_sweep(now=timezone.now())

    # then
    recording.refresh_from_db()
    assert recording.status == Recording.Status.ERASED
    assert recording.storage_ref == ""
    assert not storages["recordings"].exists(blob)
    tombstone = DeletionRecord.objects.get(recording_id=recording.pk)
    assert tombstone.reason == DeletionRecord.Reason.RETENTION_EXPIRED
    assert tombstone.blob_deleted_at is not None
    assert tombstone.subject_reference == recording.subject.reference
    assert recording.history.first().status == Recording.Status.ERASED
    kept.refresh_from_db()
    assert kept.status == Recording.Status.ACTIVE
    assert (run.status, run.deleted, run.held_back) == (SweepRun.Status.FINISHED, 1, 0)


@pytest.mark.parametrize("scope", ["recording", "subject", "queue"])
def test_legal_hold_of_any_scope_protects_the_recording(scope):
    recording = expired_recording()
    target = {"recording": recording, "subject": recording.subject, "queue": recording.queue}[scope]
    LegalHoldFactory(scope=scope, **{"recording": None, scope: target})

    run = retention_sweep(now=timezone.now())

    recording.refresh_from_db()
    assert recording.status == Recording.Status.ACTIVE
    assert storages["recordings"].exists(recording.storage_ref)
    assert (run.deleted, run.held_back) == (0, 1)


def test_released_hold_lets_retention_resume():
    recording = expired_recording()
    hold = LegalHoldFactory(recording=recording)
    retention_sweep(now=timezone.now())

    hold_release(hold=hold, released_by=UserFactory(), reason="Case settled.")
    retention_sweep(now=timezone.now())

    recording.refresh_from_db()
    assert recording.status == Recording.Status.ERASED
    assert LegalHold.objects.get(pk=hold.pk).released_at is not None


def test_sweep_in_small_batches_deletes_everything_expired():
    recordings = [expired_recording() for _ in range(5)]

    run = retention_sweep(now=timezone.now(), batch_size=2)

    assert run.deleted == 5
    assert Recording.objects.filter(pk__in=[r.pk for r in recordings], status="erased").count() == 5


def test_blob_left_by_an_interrupted_sweep_is_deleted_by_the_next(monkeypatch):
    # given: the storage fails to delete during the first sweep
    recording = expired_recording()
    blob = recording.storage_ref
    storage = storages["recordings"]

    def broken_delete(name):
        raise OSError("storage unavailable")

    monkeypatch.setattr(storage, "delete", broken_delete)
    retention_sweep(now=timezone.now())
    assert storage.exists(blob)
    assert DeletionRecord.objects.get(recording_id=recording.pk).blob_deleted_at is None

    # when: the storage is back
    monkeypatch.undo()
    retention_sweep(now=timezone.now())

    # then
    assert not storages["recordings"].exists(blob)
    assert DeletionRecord.objects.get(recording_id=recording.pk).blob_deleted_at is not None


def test_keep_until_is_the_longest_policy_of_the_recordings_purposes(settings):
    settings.RETENTION_DEFAULT_DAYS = 30
    qa, disputes = PurposeFactory(code="quality_assurance"), PurposeFactory(code="dispute_resolution")
    RetentionPolicyFactory(purpose=qa, keep_days=90)
    RetentionPolicyFactory(purpose=disputes, keep_days=365)
    recording = RecordingFactory(purposes=[qa, disputes])

    assert keep_until_for(recording) == recording.started_at + datetime.timedelta(days=365)


def test_purpose_without_policy_falls_back_to_the_default(settings):
    settings.RETENTION_DEFAULT_DAYS = 120
    qa = PurposeFactory(code="quality_assurance")
    RetentionPolicyFactory(purpose=qa, keep_days=90)
    recording = RecordingFactory(purposes=[qa, PurposeFactory(code="training")])

    assert keep_until_for(recording) == recording.started_at + datetime.timedelta(days=120)


def test_disposition_review_holds_deletion_back():
    purpose = PurposeFactory(code="training")
    RetentionPolicyFactory(purpose=purpose, keep_days=1, disposition_review=True)
    recording = expired_recording(purposes=[purpose])

    run = retention_sweep(now=timezone.now())

    recording.refresh_from_db()
    assert recording.status == Recording.Status.ACTIVE
    assert run.held_back == 1
