"""A keep-until recomputation on a real Celery worker (Redis, PostgreSQL), killed (kill -9) half-way:
the batches it committed stay, and the redelivered message goes on from there to the end.

Redis hands a killed worker's unacknowledged message to another worker once its visibility
timeout has passed; the job's lease tells the next worker that the one which claimed it is dead.
"""

from __future__ import annotations

import datetime
import time

import pytest
from django.utils import timezone

from recordings.models import Recording
from retention.models import KeepUntilRecomputation
from retention.tasks import run_keep_until_recomputation
from tests.celery_processes import wait_until
from tests.factories import PurposeFactory, RecordingFactory, RetentionPolicyFactory

VISIBILITY_SECONDS = 3
WORKER_ENV = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_SECONDS), "RETENTION_RECOMPUTE_BATCH_SIZE": "3"}
TASK = "retention.tasks.run_keep_until_recomputation"
State = KeepUntilRecomputation.State


@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_a_recomputation_killed_half_way_is_finished_by_the_redelivery(celery_processes):
    # given: 240 calls kept 180 days, and the DPO's change of the policy to 30 days
    policy = RetentionPolicyFactory(purpose=PurposeFactory(), keep_days=180)
    calls = [
        RecordingFactory(started_at=timezone.now() - datetime.timedelta(days=n % 60)) for n in range(240)
    ]
    KeepUntilRecomputation.objects.all().delete()
    policy.keep_days = 30
    policy.save()
    job = KeepUntilRecomputation.objects.get()
    worker = celery_processes.worker(env=WORKER_ENV)

    # when: a worker runs it in batches of 3 and is killed once some have committed
    run_keep_until_recomputation.apply_async(args=[job.pk], queue=worker.queue)
    wait_until(
        lambda: KeepUntilRecomputation.objects.filter(pk=job.pk, done__gte=30).exists(),
        timeout=120,
        message="the recomputation made no progress",
        interval=0.005,
    )
    worker.kill()
    celery_processes.wait_disconnected(worker)

    # then: what was committed stays; the job is "running" with no live owner
    job.refresh_from_db()
    assert job.state == State.RUNNING and 30 <= job.done < 240, "the kill came too late"
    recomputed = Recording.objects.filter(keep_until_rule__startswith="Policy quality_assurance: 30").count()
    assert recomputed == job.done

    # when: the message is redelivered to the next worker
    time.sleep(VISIBILITY_SECONDS + 1)
    successor = celery_processes.worker(queue=worker.queue, env=WORKER_ENV)
    celery_processes.wait_tasks_done([successor], TASK, 1, timeout=120)

    # then: done on the second attempt; every call kept 30 days from its start, each once
    job.refresh_from_db()
    assert (job.state, job.attempts, job.done, job.total) == (State.DONE, 2, 240, 240)
    for call in Recording.objects.filter(pk__in=[c.pk for c in calls]):
        assert call.keep_until == call.started_at + datetime.timedelta(days=30)
        assert call.history.filter(keep_until=call.keep_until).count() == 1
