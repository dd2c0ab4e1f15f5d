"""Beat's tasks run on a real Celery worker, against the real broker and database.

These need Redis as the broker and PostgreSQL as the database (a worker process cannot share
SQLite's in-memory test database). They skip elsewhere, and fail instead where
CUSTOS_REQUIRE_SERVICES=1 (CI) says the services must be there.
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from compliance_site.celery import app
from compliance_site.schedule import PERIODIC_JOBS
from dsr.models import DataSubjectRequest, DeadlineReminder, RequestType
from dsr.services import request_create
from dsr.tasks import send_deadline_reminders

ROOT = Path(__file__).resolve().parents[2]


def _services_available() -> str | None:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        return "CELERY_BROKER_URL is not a Redis URL"
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        return "DATABASE_URL is not PostgreSQL"
    return None


@pytest.fixture
def worker(transactional_db, tmp_path):
    missing = _services_available()
    if missing:
        if os.environ.get("CUSTOS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"A real worker test cannot run: {missing}")
        pytest.skip(f"needs Redis and PostgreSQL: {missing}")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(tmp_path / "mail"),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "compliance_site",
            "worker",
            "--pool=solo",
            "--without-mingle",
            "--without-gossip",
            "--loglevel=WARNING",
            f"--hostname=test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.inspect(timeout=1).ping():
            assert process.poll() is None, "the worker exited at start"
            assert time.monotonic() < deadline, "the worker did not answer a ping within 60 s"
        yield tmp_path / "mail"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_worker_registers_beats_tasks(worker):
    registered = app.control.inspect(timeout=5).registered()

    names = {name for tasks in registered.values() for name in tasks}
    assert {job.task for job in PERIODIC_JOBS} <= names


def test_reminder_task_sends_the_due_reminder_once_on_a_real_worker(worker, analyst):
    # given: a request due in 7 days, assigned to the analyst
    request = request_create(
        request_type=RequestType.ACCESS,
        channel=DataSubjectRequest.Channel.EMAIL,
        received_at=timezone.now() - datetime.timedelta(days=23),
        assignee=analyst,
    )

    # when: beat fires twice
    send_deadline_reminders.delay()
    send_deadline_reminders.delay()

    # then
    deadline = time.monotonic() + 30
    while not DeadlineReminder.objects.filter(request=request, sent_at__isnull=False).exists():
        assert time.monotonic() < deadline, "no reminder was sent within 30 s"
        time.sleep(0.2)
    time.sleep(1)  # give the second delivery the time to (not) send again
    assert DeadlineReminder.objects.filter(request=request).count() == 1
    mails = list(worker.iterdir())
    assert len(mails) == 1
    assert request.reference in mails[0].read_text()
