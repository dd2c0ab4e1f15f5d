"""The retention sweep: expired and unheld recordings go, with a tombstone; held ones stay."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.storage import storages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.audit.verification import access_log_first_break
from recordings.models import Recording, RecordingKey
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
    # one retention_deletion event per batch, naming the run
    events = AccessEvent.objects.filter(action=AccessAction.RETENTION_DELETION, object_id=run.pk)
    assert sorted(event.detail["recordings"] for event in events) == [1, 2, 2]


def test_placing_a_hold_is_an_event_in_the_access_log(dpo):
    from retention.services import hold_place

    recording = expired_recording()
    hold = hold_place(
        hold=LegalHold(
            scope=LegalHold.Scope.RECORDING, recording=recording, case_reference="CASE-7", reason="x"
        ),
        placed_by=dpo,
    )

    event = AccessEvent.objects.get(action=AccessAction.HOLD_PLACED)
    assert (event.object_id, event.object_reference, event.actor) == (hold.pk, "CASE-7", dpo)
    assert event.detail["recording"] == recording.pk


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


def test_blobs_deleted_but_not_yet_confirmed_are_confirmed_by_the_next_sweep(monkeypatch):
    # given: the process dies after deleting the blobs, before confirming them
    recordings = [expired_recording() for _ in range(3)]
    blobs = [r.storage_ref for r in recordings]

    def crash(*args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr("retention.services._blob_deletions_confirm", crash)
    with pytest.raises(RuntimeError):
        retention_sweep(now=timezone.now())
    assert not any(storages["recordings"].exists(blob) for blob in blobs)
    assert DeletionRecord.objects.filter(blob_deleted_at__isnull=True).count() == 3

    # when
    monkeypatch.undo()
    retention_sweep(now=timezone.now())

    # then: deleting an already deleted blob counts as done
    assert DeletionRecord.objects.filter(blob_deleted_at__isnull=True).count() == 0


def test_each_confirmed_blob_leaves_a_history_row_on_its_tombstone():
    recordings = [expired_recording() for _ in range(3)]

    retention_sweep(now=timezone.now(), batch_size=2)

    for recording in recordings:
        tombstone = DeletionRecord.objects.get(recording_id=recording.pk)
        latest = tombstone.history.first()
        assert latest.blob_deleted_at == tombstone.blob_deleted_at is not None
        assert tombstone.history.count() == 2  # created, then confirmed


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


def _statements_of_a_sweep(count: int) -> int:
    for _ in range(count):
        expired_recording()
    with CaptureQueriesContext(connection) as queries:
        retention_sweep(now=timezone.now(), batch_size=500)
    assert DeletionRecord.objects.count() >= count
    return len(queries)


def test_a_batch_costs_the_same_statements_whatever_its_size():
    # A per-recording loop would grow by ~16 statements a recording; the set-based batch does not.
    _statements_of_a_sweep(1)  # the first event creates the audit chain's head row
    small = _statements_of_a_sweep(2)
    large = _statements_of_a_sweep(8)

    assert large == small


def test_batch_erasure_chains_one_key_event_per_recording_and_keeps_purposes_in_history():
    qa = PurposeFactory(code="quality_assurance")
    recordings = [expired_recording() for _ in range(3)]
    for recording in recordings:
        recording.purposes.add(qa)

    retention_sweep(now=timezone.now())

    events = AccessEvent.objects.filter(action=AccessAction.KEY_DESTROYED, object_type="recording")
    assert sorted(events.values_list("object_id", flat=True)) == sorted(r.pk for r in recordings)
    assert access_log_first_break() is None
    for recording in recordings:
        erased = recording.history.first()
        assert erased.status == Recording.Status.ERASED
        assert [p.purpose_id for p in erased.purposes.all()] == [qa.pk]
        assert RecordingKey.objects.get(recording=recording).destroyed_at is not None


def test_the_blob_task_retries_while_the_storage_refuses_and_confirms_once_it_accepts(monkeypatch):
    # given: a tombstone whose blob the storage refused to delete
    from retention.tasks import delete_pending_blobs

    recording = expired_recording()
    blob = recording.storage_ref
    storage = storages["recordings"]
    attempts = []

    def broken_delete(name):
        attempts.append(name)
        raise OSError("storage unavailable")

    monkeypatch.setattr(storage, "delete", broken_delete)
    retention_sweep(now=timezone.now())
    attempts.clear()

    # when: the task runs while the storage still refuses
    result = delete_pending_blobs.apply()

    # then: it retried (the first attempt and its retries), then failed; the tombstone is pending
    assert result.failed()
    assert len(attempts) == delete_pending_blobs.max_retries + 1
    assert DeletionRecord.objects.get(recording_id=recording.pk).blob_deleted_at is None

    # when: the storage is back
    monkeypatch.undo()
    assert delete_pending_blobs.apply().successful()

    # then
    assert not storage.exists(blob)
    assert DeletionRecord.objects.get(recording_id=recording.pk).blob_deleted_at is not None
