"""A request's job on a real Celery worker (Redis, PostgreSQL), killed (kill -9) mid-package and
mid-erasure: nothing is half-done, the redelivered message finishes the job on the next worker,
and no blob is left behind that no row names.

Redis hands a killed worker's unacknowledged message to another worker once its visibility
timeout has passed (``CELERY_VISIBILITY_TIMEOUT``, a few seconds here); the job's lease tells the
next worker that the one which claimed it is dead.
"""

from __future__ import annotations

import datetime
import random
import time

import pytest
from django.core.files.storage import storages
from django.utils import timezone

from dsr.models import DataPackage, DataSubjectRequest, RequestJob
from dsr.packages import PACKAGES_PREFIX, package_orphans_delete
from dsr.services import request_create
from dsr.tasks import run_request_job
from dsr.workflow import request_approve, request_complete, request_identity_verify, request_transition
from recordings.models import DataSubject, Recording, SubjectKey
from retention.models import DeletionRecord
from retention.tasks import delete_pending_blobs
from tests.celery_processes import wait_until
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

Status = DataSubjectRequest.Status
State = RequestJob.State
VISIBILITY_SECONDS = 3
WORKER_ENV = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS)}
TASK = "dsr.tasks.run_request_job"


def _verified(subject, request_type: str, dpo) -> DataSubjectRequest:
    request = request_create(
        request_type=request_type,
        channel="letter",
        received_at=timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )
    return request_identity_verify(dsr=request, method="document", note="ID card seen.", actor=dpo)


def _package_blobs() -> set[str]:
    storage, found, folders = storages["recordings"], set(), [PACKAGES_PREFIX]
    while folders:
        folder = folders.pop()
        try:
            children, files = storage.listdir(folder)
        except FileNotFoundError:
            continue
        found |= {f"{folder}/{name}" for name in files}
        folders += [f"{folder}/{child}" for child in children]
    return found


def _redeliver(celery_processes, killed) -> None:
    """After a kill -9: once PostgreSQL has dropped the dead worker's sessions (its lease with
    them) and the visibility timeout has passed, a new worker on the same queue takes the
    message back and runs it."""
    celery_processes.wait_disconnected(killed)
    time.sleep(VISIBILITY_SECONDS + 1)
    successor = celery_processes.worker(queue=killed.queue, env=WORKER_ENV)
    celery_processes.wait_tasks_done([successor], TASK, 1, timeout=120)


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_package_leaves_no_half_done_package_and_the_redelivery_builds_it(
    celery_processes, dpo, held_jobs
):
    # given: a subject with sixteen 4 MB calls, and their access request completed by the DPO
    subject = DataSubjectFactory()
    for n in range(16):
        RecordingFactory(subject=subject, audio=bytes([n]) * 4_000_000)
    request = request_complete(dsr=_verified(subject, "access", dpo), actor=dpo)
    [job_id] = held_jobs.sent
    worker = celery_processes.worker(env=WORKER_ENV)

    # when: the worker builds the package and is killed once a few recordings are in it
    run_request_job.apply_async(args=[job_id], queue=worker.queue)
    wait_until(
        lambda: RequestJob.objects.filter(pk=job_id, state=State.RUNNING, progress_done__gte=2).exists(),
        timeout=120,
        message="the build made no progress",
        interval=0.005,
    )
    worker.kill()

    # then: half-way is nowhere: no package row, the request still being carried out, the job
    # "running" with no live owner; the archive written so far is in the storage, unnamed
    job = RequestJob.objects.get(pk=job_id)
    assert job.state == State.RUNNING and job.progress_done < 16, "the kill came too late"
    assert not DataPackage.objects.exists()
    assert DataSubjectRequest.objects.get(pk=request.pk).status == Status.EXECUTING
    orphans = _package_blobs()

    # when: the message is redelivered to the next worker
    _redeliver(celery_processes, worker)

    # then: the package is built once, the request ready to send, the job done on its second attempt
    job.refresh_from_db()
    request.refresh_from_db()
    package = DataPackage.objects.get()
    assert (job.state, job.attempts, job.progress_done) == (State.DONE, 2, 16)
    assert request.status == Status.READY_TO_SEND and package.name in request.outcome
    assert request.letters.count() == 1

    # and: the killed build's blob, if it got that far, is an orphan beat deletes; no other is left
    later = timezone.now() + datetime.timedelta(days=1)
    assert set(package_orphans_delete(now=later)) == orphans
    assert _package_blobs() == {package.storage_ref}


@pytest.mark.timeout(300)
def test_a_worker_killed_mid_erasure_leaves_the_subject_whole_or_erased_and_the_redelivery_finishes(
    celery_processes, dpo, roles, held_jobs
):
    from compliance_site.roles import DPO

    second_dpo = UserFactory(username="second.dpo", groups=[roles[DPO]])
    # given: a subject with 40 calls, and their erasure approved by a second DPO
    subject = DataSubjectFactory()
    calls = [RecordingFactory(subject=subject) for _ in range(40)]
    blobs = [call.storage_ref for call in calls]
    prepared = request_transition(
        dsr=_verified(subject, "erasure", dpo), to=Status.AWAITING_APPROVAL, actor=dpo
    )
    request = request_approve(dsr=prepared, actor=second_dpo)
    assert request.status == Status.EXECUTING and request.approved_by == second_dpo
    [job_id] = held_jobs.sent
    worker = celery_processes.worker(env=WORKER_ENV)

    # when: the worker takes the erasure and is killed at a random moment once it has claimed it
    run_request_job.apply_async(args=[job_id], queue=worker.queue)
    wait_until(
        lambda: RequestJob.objects.filter(pk=job_id).exclude(state=State.QUEUED).exists(),
        timeout=120,
        message="the worker did not take the job",
        interval=0.002,
    )
    time.sleep(random.Random().uniform(0, 0.05))
    worker.kill()
    celery_processes.wait_disconnected(worker)

    # then: all or nothing
    erased = Recording.objects.filter(pk__in=[c.pk for c in calls], status=Recording.Status.ERASED).count()
    key_alive = SubjectKey.objects.filter(subject=subject, destroyed_at__isnull=True).exists()
    status = DataSubjectRequest.objects.get(pk=request.pk).status
    tombstones = DeletionRecord.objects.filter(rule=request.reference).count()
    assert (erased, key_alive, status, tombstones) in [
        (0, True, Status.EXECUTING, 0),
        (40, False, Status.COMPLETED, 40),
    ], "the erasure was half-done"
    killed_after_commit = erased == 40
    print(f"\nerasure killed {'after' if killed_after_commit else 'before'} its commit")

    # when: the message is redelivered to the next worker (a finished job is not run twice)
    _redeliver(celery_processes, worker)
    delete_pending_blobs.apply()  # the blob deletion the job sent once it committed

    # then: erased once, completed, no blob left
    job = RequestJob.objects.get(pk=job_id)
    request.refresh_from_db()
    assert job.state == State.DONE and job.attempts == (1 if killed_after_commit else 2)
    assert request.status == Status.COMPLETED and request.letters.count() == 1
    assert Recording.objects.filter(subject=subject, status=Recording.Status.ERASED).count() == 40
    assert DeletionRecord.objects.filter(rule=request.reference).count() == 40
    assert not SubjectKey.objects.filter(subject=subject, destroyed_at__isnull=True).exists()
    assert bytes(DataSubject.objects.get(pk=subject.pk).full_name_encrypted) == b""
    assert not any(storages["recordings"].exists(name) for name in blobs)
