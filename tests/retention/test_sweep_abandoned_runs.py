"""A sweep run left "running" by a worker that died is marked abandoned, superseded by the next
sweep, as soon as that one starts; a run whose sweep is alive on another worker is left alone."""

from __future__ import annotations

import datetime
import subprocess
import textwrap

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from compliance_site.leases import lease_acquire, lease_held, lease_release
from retention.models import SweepRun
from retention.services import SWEEP_RUN_ABANDONED_AFTER, SWEEP_RUN_LEASE, retention_sweep
from tests import django_subprocess

pytestmark = pytest.mark.django_db

# Another process's sweep: it takes the run's lease as retention_sweep does, says so, and works
# on (sleeps) until it is killed.
_SWEEPER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from compliance_site.leases import lease_acquire
    lease = lease_acquire(sys.argv[1], int(sys.argv[2]))  # kept: a lease dropped is released
    print("held", flush=True)
    time.sleep(600)
    """
)


def _sweeper_process(run: SweepRun) -> subprocess.Popen:
    """A real process holding ``run``'s lease, against this test's database and var folder."""
    process = django_subprocess.start(
        _SWEEPER, SWEEP_RUN_LEASE, str(run.pk), env=django_subprocess.django_env(var_dir=settings.VAR_DIR)
    )
    assert process.stdout.readline().strip() == "held", "the sweeper did not take its lease"
    return process


def test_a_killed_sweeps_run_is_marked_abandoned_by_the_next_sweep_as_it_starts():
    # given: a sweep that started a minute ago on another worker, alive and holding its lease
    now = timezone.now()
    killed = SweepRun.objects.create(started_at=now - datetime.timedelta(minutes=1))
    sweeper = _sweeper_process(killed)
    try:
        assert lease_held(SWEEP_RUN_LEASE, killed.pk)
        alongside = retention_sweep(now=now)
        killed.refresh_from_db()
        assert (killed.status, killed.superseded_by) == (SweepRun.Status.RUNNING, None)

        # when: its worker is killed (kill -9) and the sweep is redelivered
        django_subprocess.kill(sweeper)
        redelivered = retention_sweep(now=now + datetime.timedelta(minutes=5))
    finally:
        django_subprocess.kill(sweeper)

    # then: minutes after, not 12 hours: abandoned, superseded by the redelivery, with its end
    killed.refresh_from_db()
    assert killed.status == SweepRun.Status.ABANDONED
    assert killed.superseded_by == redelivered
    assert killed.finished_at == now + datetime.timedelta(minutes=5)
    assert killed.state == f"Abandoned: its worker died; superseded by run {redelivered.pk}"
    assert alongside.status == redelivered.status == SweepRun.Status.FINISHED
    assert not lease_held(SWEEP_RUN_LEASE, redelivered.pk)  # a finished sweep lets its lease go


def test_a_run_left_running_with_no_live_sweep_is_marked_abandoned():
    # given: last night's run, whose worker was killed (nothing holds its lease)
    now = timezone.now()
    abandoned = SweepRun.objects.create(started_at=now - datetime.timedelta(days=1))

    # when
    run = retention_sweep(now=now)

    # then
    abandoned.refresh_from_db()
    assert (abandoned.status, abandoned.finished_at, abandoned.superseded_by) == (
        SweepRun.Status.ABANDONED,
        now,
        run,
    )
    assert run.status == SweepRun.Status.FINISHED


def test_a_run_that_is_still_going_is_left_alone():
    # given: a sweep started hours ago, still at work on another worker (its lease held)
    now = timezone.now()
    started_at = now - SWEEP_RUN_ABANDONED_AFTER + datetime.timedelta(minutes=1)
    running = SweepRun.objects.create(started_at=started_at)
    lease = lease_acquire(SWEEP_RUN_LEASE, running.pk)
    try:
        retention_sweep(now=now)
    finally:
        lease_release(lease, SWEEP_RUN_LEASE, running.pk)

    running.refresh_from_db()
    assert (running.status, running.finished_at) == (SweepRun.Status.RUNNING, None)


def test_a_run_whose_lease_looks_held_past_the_bound_is_marked_failed():
    # given: a host lost with its connection half-open: the lease looks held for 12 hours
    now = timezone.now()
    stuck = SweepRun.objects.create(
        started_at=now - SWEEP_RUN_ABANDONED_AFTER - datetime.timedelta(minutes=1)
    )
    lease = lease_acquire(SWEEP_RUN_LEASE, stuck.pk)
    try:
        retention_sweep(now=now)
    finally:
        lease_release(lease, SWEEP_RUN_LEASE, stuck.pk)

    stuck.refresh_from_db()
    assert (stuck.status, stuck.finished_at, stuck.superseded_by) == (SweepRun.Status.FAILED, now, None)


def test_the_admin_shows_which_run_superseded_an_abandoned_one(
    client, dpo, auditor, analyst, qa_lead_a, stranger
):
    now = timezone.now()
    abandoned = SweepRun.objects.create(started_at=now - datetime.timedelta(hours=1))
    run = retention_sweep(now=now)
    changelist = reverse("admin:retention_sweeprun_changelist")
    change = reverse("admin:retention_sweeprun_change", args=[abandoned.pk])
    text = f"Abandoned: its worker died; superseded by run {run.pk}"

    for reader in (dpo, auditor):
        client.force_login(reader)
        for url in (changelist, change):
            response = client.get(url)
            assert response.status_code == 200, (reader, url)
            assert text in response.content.decode(), (reader, url)
        assert client.post(change, {}).status_code == 403  # evidence: read-only for everyone
    for outsider in (analyst, qa_lead_a, stranger):
        client.force_login(outsider)
        for url in (changelist, change):
            assert client.get(url).status_code == 403, (outsider, url)
    client.logout()
    assert client.get(changelist).status_code == 302  # to the login page
