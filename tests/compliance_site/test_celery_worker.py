"""Beat's tasks run on a real Celery worker, against the real broker and database.

These need Redis as the broker and PostgreSQL as the database (a worker process cannot share
SQLite's in-memory test database). They skip elsewhere, and fail instead where
CUSTOS_REQUIRE_SERVICES=1 (CI) says the services must be there (tests/celery_processes.py).
"""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from compliance_site.celery import app
from compliance_site.schedule import PERIODIC_JOBS
from dsr.models import DataSubjectRequest, DeadlineReminder, RequestType
from dsr.services import request_create
from dsr.tasks import send_deadline_reminders


@pytest.fixture
def worker(celery_processes):
    return celery_processes.worker()


def test_worker_registers_beats_tasks(worker):
    registered = app.control.inspect(destination=[worker.node], timeout=5).registered()

    names = {name for tasks in registered.values() for name in tasks}
    assert {job.task for job in PERIODIC_JOBS} <= names


def test_reminder_task_sends_the_due_reminder_once_on_a_real_worker(celery_processes, worker, analyst):
    # given: a request due in 7 days, assigned to the analyst
    request = request_create(
        request_type=RequestType.ACCESS,
        channel=DataSubjectRequest.Channel.EMAIL,
        received_at=timezone.now() - datetime.timedelta(days=23),
        assignee=analyst,
    )

    # when: beat fires twice
    send_deadline_reminders.apply_async(queue=worker.queue)
    send_deadline_reminders.apply_async(queue=worker.queue)

    # then: once the worker has run both
    celery_processes.wait_tasks_done([worker], send_deadline_reminders.name, 2, timeout=60)
    assert DeadlineReminder.objects.filter(request=request).count() == 1
    mails = worker.mails()
    assert len(mails) == 1
    assert request.reference in mails[0]["Subject"]
