"""Reliability on real processes: a retention sweep killed (kill -9) at random points, two beats
and two workers racing over a simulated week, ticks lost to a broker outage, and the beat lock.

Real Celery workers and beats (tests/celery_processes.py) against the test's PostgreSQL database
and Redis; skipped without them, failed where CUSTOS_REQUIRE_SERVICES=1 (CI) says they must run.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import json
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter

import pytest
import redis
from celery import Celery
from django.conf import settings
from django.core.files.storage import storages
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from kombu.exceptions import OperationalError

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.audit.verification import access_log_first_break
from dsr.models import DataSubjectRequest, DeadlineReminder
from recordings.models import Recording, RecordingKey
from recordings.vault.keys import recording_key_new, subject_key
from recordings.vault.storage import audio_blob_name, audio_store
from retention.models import DeletionRecord, LegalHold, SweepRun
from retention.services import retention_sweep
from tests.celery_processes import wait_until
from tests.dsr.reminder_clock import (
    REMINDER_ENV,
    Timeline,
    at_local,
    expected_reminders,
    hourly_ticks,
    request_due_on,
    use_reminder_settings,
)
from tests.dsr.request_saving import request_save_as_is
from tests.factories import (
    AUDIO,
    DataSubjectFactory,
    LegalHoldFactory,
    PurposeFactory,
    QueueFactory,
    RecordingFactory,
    UserFactory,
)

REMINDERS = "dsr.tasks.send_deadline_reminders"
SWEEP = "retention.tasks.run_retention_sweep"


def _send(task: str, queue: str, *, broker_url: str | None = None, **kwargs) -> None:
    """Publish as beat does, from a producer (and connection) of its own."""
    producer = Celery("custos-test-producer", set_as_current=False)
    with producer.connection_for_write(broker_url or settings.CELERY_BROKER_URL) as connection:
        producer.send_task(task, kwargs=kwargs, queue=queue, connection=connection)


# --- The retention sweep, killed -------------------------------------------------------------

SWEEP_TRIALS = 20
EXPIRED_PER_TRIAL = 16
SWEEP_BATCH_SIZE = 2
SWEEP_WORKER_ENV = {"RETENTION_SWEEP_BATCH_SIZE": str(SWEEP_BATCH_SIZE)}


def _expired_recordings(count: int, *, subject, queue, purpose) -> list[Recording]:
    """Recordings past their retention as ingest leaves them (each with its key, its audio
    encrypted in the storage), written in bulk: the trials need hundreds."""
    recordings = [
        RecordingFactory.build(
            subject=subject,
            queue=queue,
            keep_until=timezone.now() - datetime.timedelta(days=1),
            storage_ref=audio_blob_name("wav"),
            size_bytes=len(AUDIO),
            checksum_sha256=hashlib.sha256(AUDIO).hexdigest(),
        )
        for _ in range(count)
    ]
    with transaction.atomic():
        Recording.objects.bulk_create(recordings)
        Recording.purposes.through.objects.bulk_create(
            [Recording.purposes.through(recording=r, purpose=purpose) for r in recordings]
        )
        key_of_subject, key_rows = subject_key(subject), []
        for recording in recordings:
            key, row = recording_key_new(recording, key_of_subject)
            audio_store(
                plaintext=io.BytesIO(AUDIO), key=key, recording_id=recording.pk, name=recording.storage_ref
            )
            key_rows.append(row)
        RecordingKey.objects.bulk_create(key_rows)
    return recordings


def _recording_states(recordings: list[Recording], blobs: dict[int, str]) -> dict[int, str]:
    """Each recording is "intact" or "erased" (its blob deleted, or "erased, blob pending": the
    tombstone keeps the name for the next sweep). Anything in between fails the test."""
    ids = [r.pk for r in recordings]
    rows = {r["pk"]: r for r in Recording.objects.filter(pk__in=ids).values("pk", "status", "storage_ref")}
    keys = {
        k["recording_id"]: (k["destroyed_at"], bytes(k["wrapped_key"]))
        for k in RecordingKey.objects.filter(recording_id__in=ids).values(
            "recording_id", "destroyed_at", "wrapped_key"
        )
    }
    tombstones = {
        t["recording_id"]: t
        for t in DeletionRecord.objects.filter(recording_id__in=ids).values(
            "recording_id", "storage_ref", "blob_deleted_at"
        )
    }
    shredded = Counter(
        AccessEvent.objects.filter(
            action=AccessAction.KEY_DESTROYED, object_type="recording", object_id__in=ids
        ).values_list("object_id", flat=True)
    )
    storage = storages["recordings"]
    states = {}
    for pk in ids:
        row, (destroyed_at, wrapped_key), tombstone = rows[pk], keys[pk], tombstones.get(pk)
        blob_present = storage.exists(blobs[pk])
        intact = (
            row["status"] == Recording.Status.ACTIVE
            and row["storage_ref"] == blobs[pk]
            and destroyed_at is None
            and wrapped_key
            and tombstone is None
            and shredded[pk] == 0
            and blob_present
        )
        erased = (
            row["status"] == Recording.Status.ERASED
            and row["storage_ref"] == ""
            and destroyed_at is not None
            and not wrapped_key
            and tombstone is not None
            and tombstone["storage_ref"] == blobs[pk]
            and shredded[pk] == 1
        )
        if intact:
            states[pk] = "intact"
        elif erased and tombstone["blob_deleted_at"] is not None and not blob_present:
            states[pk] = "erased"
        elif erased and tombstone["blob_deleted_at"] is None:
            states[pk] = "erased, blob pending"
        else:
            pytest.fail(
                f"recording {pk} is neither intact nor erased: {row}, key destroyed at {destroyed_at}, "
                f"tombstone {tombstone}, {shredded[pk]} key-destroyed events, blob present: {blob_present}"
            )
    return states


@pytest.mark.timeout(600)  # 21 workers; each wait inside has its own limit
def test_a_sweep_killed_at_random_points_leaves_each_recording_intact_or_erased(celery_processes):
    """Per trial: 16 expired recordings and 2 held ones, a fresh worker sweeping 2 per batch, kill
    -9 at a random point; every recording is whole or gone, held ones untouched; a rerun
    finishes the job. Trial 0 is not killed: it measures how long a whole sweep takes."""
    rng = random.Random(20261129)
    owner = UserFactory()
    subject, held_subject = DataSubjectFactory(), DataSubjectFactory()
    queue, purpose = QueueFactory(), PurposeFactory()
    LegalHoldFactory(scope=LegalHold.Scope.SUBJECT, subject=held_subject, recording=None, placed_by=owner)
    held, blobs, outcomes = [], {}, []
    sweep_seconds = None
    # The next trial's worker boots while this trial runs.
    spare = celery_processes.worker(env=SWEEP_WORKER_ENV, ready=False)
    for trial in range(SWEEP_TRIALS + 1):
        worker = spare
        spare = celery_processes.worker(env=SWEEP_WORKER_ENV, ready=False) if trial < SWEEP_TRIALS else None
        # given
        expired = _expired_recordings(EXPIRED_PER_TRIAL, subject=subject, queue=queue, purpose=purpose)
        held_here = [
            *_expired_recordings(1, subject=subject, queue=queue, purpose=purpose),
            *_expired_recordings(1, subject=held_subject, queue=queue, purpose=purpose),
        ]
        LegalHoldFactory(recording=held_here[0], placed_by=owner)
        held += held_here
        blobs.update({r.pk: r.storage_ref for r in expired + held_here})
        ids = [r.pk for r in expired]
        last_run = SweepRun.objects.order_by("pk").values_list("pk", flat=True).last() or 0
        celery_processes.wait_ready(worker)

        def erased_count(ids=ids) -> int:
            return Recording.objects.filter(pk__in=ids, status=Recording.Status.ERASED).count()

        def started(last_run=last_run) -> bool:
            return SweepRun.objects.filter(pk__gt=last_run).exists()

        # when: the sweep runs on the worker, which is killed at a random point
        sent_at = time.monotonic()
        _send(SWEEP, worker.queue)
        if trial == 0:
            wait_until(
                lambda last_run=last_run: SweepRun.objects.filter(
                    pk__gt=last_run, status=SweepRun.Status.FINISHED
                ).exists(),
                timeout=120,
                message="the sweep did not finish on the worker",
                interval=0.01,
            )
            sweep_seconds = time.monotonic() - sent_at
            worker.stop()
            how = "not killed"
        elif rng.random() < 0.5:
            batches = rng.randrange(EXPIRED_PER_TRIAL // SWEEP_BATCH_SIZE)
            wait_until(
                lambda batches=batches: started() and erased_count() >= batches * SWEEP_BATCH_SIZE,
                timeout=120,
                message="the sweep made no progress",
                interval=0.005,
            )
            time.sleep(rng.uniform(0, 0.03))
            worker.kill()
            how = f"killed after {batches} batches"
        else:
            delay = rng.uniform(0, 1.2 * sweep_seconds)
            time.sleep(delay)
            worker.kill()
            how = f"killed after {delay:.2f} s"
        celery_processes.wait_disconnected(worker)

        # then: every recording is intact or erased, the held ones intact
        states = _recording_states(expired, blobs)
        assert set(_recording_states(held, blobs).values()) == {"intact"}
        runs = list(SweepRun.objects.filter(pk__gt=last_run).values_list("status", flat=True))
        counts = Counter(states.values())
        outcomes.append(
            (trial, how, counts["intact"], counts["erased"], counts["erased, blob pending"], runs)
        )

        # when: the next sweep runs
        rerun = retention_sweep(now=timezone.now())

        # then: it finished what the killed one left, and still touched no held recording
        assert rerun.status == SweepRun.Status.FINISHED
        # and the run the killed worker left "running" says so at once, not twelve hours later
        left = SweepRun.objects.filter(pk__gt=last_run, pk__lt=rerun.pk)
        assert not left.filter(status=SweepRun.Status.RUNNING).exists()
        assert list(
            left.filter(status=SweepRun.Status.ABANDONED).values_list("superseded_by", flat=True)
        ) == [rerun.pk] * runs.count(SweepRun.Status.RUNNING)
        assert set(_recording_states(expired, blobs).values()) == {"erased"}
        assert set(_recording_states(held, blobs).values()) == {"intact"}

    report = "\n".join(
        f"trial {t:2d} {how:26s} intact {i:2d} erased {e:2d} blob pending {p:2d} its run {runs}"
        for t, how, i, e, p, runs in outcomes
    )
    print(f"\nsweep of {EXPIRED_PER_TRIAL} on a worker: {sweep_seconds:.2f} s\n{report}")
    # The kills did land mid-sweep, between and after commits.
    assert any(0 < e + p < EXPIRED_PER_TRIAL for _, _, _, e, p, _ in outcomes), report
    assert access_log_first_break() is None

    # The kills did leave runs "running", each marked abandoned by the sweep after it.
    abandoned = [run for *_, runs in outcomes for run in runs if run == SweepRun.Status.RUNNING]
    assert abandoned, report
    assert SweepRun.objects.filter(status=SweepRun.Status.ABANDONED).count() == len(abandoned)
    assert not SweepRun.objects.filter(status=SweepRun.Status.RUNNING).exists()


# --- Reminders: two beats, two workers, a simulated week ------------------------------------


def _two_beats(ticks: list[datetime.datetime], queue: str) -> None:
    """Two producers, as two beats would, each sending every tick; in step, so that the two
    workers take the same tick at the same moment."""
    in_step = threading.Barrier(2)
    errors = []

    def beat() -> None:
        producer = Celery("custos-test-beat", set_as_current=False)
        try:
            with producer.connection_for_write(settings.CELERY_BROKER_URL) as connection:
                for tick in ticks:
                    in_step.wait(timeout=60)
                    producer.send_task(
                        REMINDERS, kwargs={"now": tick.isoformat()}, queue=queue, connection=connection
                    )
        except BaseException as exc:  # reported by the test thread
            errors.append(exc)
            in_step.abort()

    threads = [threading.Thread(target=beat) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads), "a producer hung"


def _mail_keys(messages) -> Counter:
    """(reference, deadline as the email writes it) of each reminder email."""
    keys = Counter()
    for message in messages:
        reference = re.search(r"DSR-\d{4}-\d{6}", message["Subject"]).group()
        deadline = re.search(r"must be answered by (\w+, \d+ \w+ \d{4})", message.get_payload()).group(1)
        keys[(reference, deadline)] += 1
    return keys


def _close(dsr: DataSubjectRequest, status: str) -> None:
    dsr.status = status
    if status == DataSubjectRequest.Status.REFUSED:
        dsr.refusal_ground = DataSubjectRequest.RefusalGround.EXCESSIVE
    request_save_as_is(dsr=dsr)


def _extend(dsr: DataSubjectRequest, day: datetime.date) -> None:
    dsr.extended_until, dsr.extension_reason = at_local(day, 17), "Complex request."
    request_save_as_is(dsr=dsr)


def test_two_beats_and_two_workers_over_a_simulated_week_send_each_reminder_once(
    celery_processes, settings, analyst, dpo
):
    use_reminder_settings(settings)
    queue = f"custos-test-week-{uuid.uuid4().hex[:10]}"
    workers = [celery_processes.worker(queue=queue, env=REMINDER_ENV, ready=False) for _ in range(2)]
    # A week from Thursday 22 October 2026, 00:00 in Berlin: the clocks go back on Sunday.
    first_day = datetime.date(2026, 10, 22)
    ticks = hourly_ticks(at_local(first_day, 0), 7 * 24)

    def day(n: int) -> datetime.date:
        return first_day + datetime.timedelta(days=n)

    # given: open requests due every day from 3 days before the week to 14 days into it, at
    # different hours, and some closed or extended ones
    times = [(0, 30), (2, 30), (9, 0), (12, 0), (18, 0), (23, 30)]
    requests, timelines = {}, {}

    def add(name: str, due: int, timeline: list) -> DataSubjectRequest:
        hour, minute = times[len(requests) % len(times)]
        request = request_due_on(day(due), hour, minute, analyst)
        requests[name] = request
        timelines[request.reference] = Timeline(timeline)
        return request

    for due in range(-3, 15):
        add(f"due {due}", due, [(0, True, day(due))])
    for name, due, status in [
        ("completed", 1, DataSubjectRequest.Status.COMPLETED),
        ("refused", 3, DataSubjectRequest.Status.REFUSED),
        ("withdrawn", 7, DataSubjectRequest.Status.WITHDRAWN),
    ]:
        _close(add(name, due, [(0, False, day(due))]), status)
    _extend(add("extended before", 0, [(0, True, day(10))]), day(10))
    # changed on Friday at noon (tick 36) and on Sunday at 11:00 (tick 84, after the clocks went back)
    add("extended friday", 2, [(0, True, day(2)), (36, True, day(9))])
    add("withdrawn friday", 5, [(0, True, day(5)), (36, False, day(5))])
    add("extended sunday", 4, [(0, True, day(4)), (84, True, day(12))])
    add("completed sunday", 6, [(0, True, day(6)), (84, False, day(6))])
    add("refused sunday", 8, [(0, True, day(8)), (84, False, day(8))])
    for worker in workers:
        celery_processes.wait_ready(worker)

    def run_ticks(start: int, end: int) -> None:
        _two_beats(ticks[start:end], queue)
        celery_processes.wait_tasks_done(workers, REMINDERS, 2 * end, timeout=300)

    # when: the week runs, with the changes between its ticks
    run_ticks(0, 36)
    _extend(requests["extended friday"], day(9))
    _close(requests["withdrawn friday"], DataSubjectRequest.Status.WITHDRAWN)
    run_ticks(36, 84)
    _extend(requests["extended sunday"], day(12))
    _close(requests["completed sunday"], DataSubjectRequest.Status.COMPLETED)
    _close(requests["refused sunday"], DataSubjectRequest.Status.REFUSED)
    run_ticks(84, len(ticks))

    # then: each reminder due over the week exists once and was emailed once; none for a
    # request while it was closed; the extended ones also for their new deadline
    expected = set(expected_reminders(timelines, ticks))
    reminders = DeadlineReminder.objects.select_related("request")
    assert {(r.request.reference, r.kind, r.due_date) for r in reminders} == expected
    assert reminders.count() == len(expected)
    assert all(r.sent_at is not None and r.recipients == 1 for r in reminders)
    mails = [message for worker in workers for message in worker.mails()]
    assert _mail_keys(mails) == Counter(
        (reference, f"{deadline:%A}, {deadline.day} {deadline:%B %Y}") for reference, _, deadline in expected
    )
    assert len(mails) == len(expected)
    for name in ("completed", "refused", "withdrawn"):
        assert not DeadlineReminder.objects.filter(request=requests[name]).exists()
    for name, old, new in [("extended friday", 2, 9), ("extended sunday", 4, 12)]:
        due_dates = set(
            DeadlineReminder.objects.filter(request=requests[name]).values_list("due_date", flat=True)
        )
        assert due_dates == {day(old), day(new)}
    # both workers did take ticks
    done = celery_processes.tasks_done_by(workers, REMINDERS)
    assert sum(done.values()) == 2 * len(ticks) and min(done.values()) > 0, done


# --- Reminders: the broker down during ticks -------------------------------------------------


def test_ticks_lost_to_a_broker_outage_are_made_up_by_the_next_one(celery_processes, settings, analyst, dpo):
    use_reminder_settings(settings)
    worker = celery_processes.worker(env=REMINDER_ENV, ready=False)
    monday = datetime.date(2026, 9, 14)
    due_in = [-2, 0, 1, 3, 4, 7, 8, 9]
    requests = {
        days: request_due_on(monday + datetime.timedelta(days=days), 12, 0, analyst) for days in due_in
    }
    celery_processes.wait_ready(worker)
    # A port bound but not listening: connections to it are refused, and no one else can take it.
    closed_port = socket.socket()
    closed_port.bind(("127.0.0.1", 0))
    dead_broker = f"redis://127.0.0.1:{closed_port.getsockname()[1]}/14"
    ticks_done = 0

    def tick(moment: datetime.datetime) -> None:
        nonlocal ticks_done
        _send(REMINDERS, worker.queue, now=moment.isoformat())
        ticks_done += 1
        celery_processes.wait_tasks_done([worker], REMINDERS, ticks_done, timeout=120)

    def lost_tick(moment: datetime.datetime) -> None:
        with pytest.raises(OperationalError):  # beat sees the error
            _send(REMINDERS, worker.queue, broker_url=dead_broker, now=moment.isoformat())

    def sent() -> set[tuple[int, str]]:
        by_request = {request.pk: days for days, request in requests.items()}
        return {
            (by_request[r.request_id], r.kind) for r in DeadlineReminder.objects.filter(sent_at__isnull=False)
        }

    # when: Monday's first tick cannot reach the broker, its second can
    lost_tick(at_local(monday, 0))
    tick(at_local(monday, 1))

    # then: the second sent all that the first would have
    on_monday = {
        (-2, "overdue-2"),
        (0, "due-day"),
        (1, "1-days-before"),
        (3, "3-days-before"),
        (7, "7-days-before"),
    }
    assert sent() == on_monday

    # when: the broker is away all Tuesday, back for Wednesday's first tick
    tuesday, wednesday = monday + datetime.timedelta(days=1), monday + datetime.timedelta(days=2)
    for hour in (0, 12, 23):
        lost_tick(at_local(tuesday, hour))
    tick(at_local(wednesday, 0))

    # then: Tuesday's 7- and 3-days-before reminders go out on Wednesday (due in 8 and in 4 days);
    # its due-day reminder (due in 1 day) became Wednesday's overdue escalation to the DPOs
    assert sent() - on_monday == {
        (8, "7-days-before"),
        (4, "3-days-before"),
        (9, "7-days-before"),
        (3, "1-days-before"),
        (1, "overdue-1"),
        (0, "overdue-2"),
        (-2, "overdue-4"),
    }
    assert len(worker.mails()) == len(sent())
    closed_port.close()


# --- The beat lock ---------------------------------------------------------------------------


def test_a_second_beat_stands_by_and_takes_over_when_the_first_is_killed(celery_processes):
    # given: one periodic task, every second, to a queue no worker reads: its messages are counted
    queue = f"custos-test-beat-{uuid.uuid4().hex[:10]}"
    celery_processes.queues.add(queue)
    PeriodicTask.objects.all().delete()
    PeriodicTask.objects.create(
        name="Beat lock probe",
        task=REMINDERS,
        interval=IntervalSchedule.objects.create(every=1, period=IntervalSchedule.SECONDS),
        queue=queue,
    )
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)

    def sent_by() -> Counter:
        """Messages in the queue by the process id of the beat that sent them."""
        origins = (json.loads(m)["headers"]["origin"] for m in client.lrange(queue, 0, -1))
        return Counter(int(origin.split("@")[0].removeprefix("gen")) for origin in origins)

    # when: two beats start on the same database
    beats = [celery_processes.beat(), celery_processes.beat()]

    def one_active_one_standing_by():
        counts = sent_by()
        active = [b for b in beats if counts[b.pid] >= 2]
        standby = [b for b in beats if "stands by" in b.log_text()]
        for b in beats:
            assert b.alive(), b.log_text()[-3000:]
        return (active[0], standby[0]) if len(active) == len(standby) == 1 and active != standby else None

    active, standby = wait_until(
        one_active_one_standing_by, timeout=120, message="no beat took the lock, or both did", interval=0.2
    )

    # then: while the first one schedules, the second sends nothing
    so_far = sent_by()[active.pid]
    wait_until(lambda: sent_by()[active.pid] >= so_far + 3, timeout=60, message="the active beat stopped")
    assert sent_by()[standby.pid] == 0

    # when: the first one is killed
    active.kill()
    killed_at = time.monotonic()

    # then: the second takes over within a few ticks (it retries the lock every 5 s)
    wait_until(lambda: sent_by()[standby.pid] >= 2, timeout=60, message="the standby beat did not take over")
    took_over = time.monotonic() - killed_at
    assert "now holds the beat lock" in standby.log_text()
    print(f"\nthe standby beat took over {took_over:.1f} s after the first was killed")
    client.close()
