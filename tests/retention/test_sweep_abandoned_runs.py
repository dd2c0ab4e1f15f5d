"""A sweep run left "running" by a worker that died is marked failed by a later sweep."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from retention.models import SweepRun
from retention.services import SWEEP_RUN_ABANDONED_AFTER, retention_sweep

pytestmark = pytest.mark.django_db


def test_a_run_left_running_is_marked_failed_by_the_next_nights_sweep():
    # given: last night's run, whose worker was killed
    now = timezone.now()
    abandoned = SweepRun.objects.create(started_at=now - datetime.timedelta(days=1))

    # when
    run = retention_sweep(now=now)

    # then
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.finished_at) == (SweepRun.Status.FAILED, now)
    assert run.status == SweepRun.Status.FINISHED


def test_a_run_that_may_still_be_going_is_left_alone():
    # given: a sweep started a moment ago, still at work on another worker
    now = timezone.now()
    started_at = now - SWEEP_RUN_ABANDONED_AFTER + datetime.timedelta(minutes=1)
    running = SweepRun.objects.create(started_at=started_at)

    retention_sweep(now=now)

    running.refresh_from_db()
    assert (running.status, running.finished_at) == (SweepRun.Status.RUNNING, None)
