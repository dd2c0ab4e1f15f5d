"""Fixtures for the work that runs on Celery workers (``dsr.jobs``, ``retention.tasks``).

``jobs_eager``: tasks run in the test's thread when they are sent (Celery's eager mode), for the
tests about the services; combine it with ``django_capture_on_commit_callbacks(execute=True)`` in
a test inside a transaction, since the tasks are sent once the completion commits.

``held_jobs``: the request jobs' messages are held instead of sent, and the test plays the worker
when it chooses (``held_jobs.run()``), to see the admin while a job is queued or running.

Import them from a conftest::

    from tests.request_jobs import held_jobs, jobs_eager  # noqa: F401
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from compliance_site.celery import app


@contextlib.contextmanager
def celery_eager() -> Iterator[None]:
    """Tasks run when sent. Their errors stay in their (eager) result rather than propagating, as
    on a worker, so that a task's retry runs (eagerly) instead of raising ``Retry``; the test
    asserts what the task left behind."""
    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
    try:
        yield
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def jobs_eager() -> Iterator[None]:
    with celery_eager():
        yield


@dataclass
class HeldJobs:
    sent: list[int] = field(default_factory=list)

    def run(self) -> list[str | None]:
        """Run every held job as a worker would (its nested tasks eagerly); their end states. A
        task that raised raises here."""
        from dsr.tasks import run_request_job

        states = []
        with celery_eager():
            while self.sent:
                states.append(run_request_job.apply(args=[self.sent.pop(0)]).get())
        return states


@pytest.fixture
def held_jobs(monkeypatch) -> HeldJobs:
    from dsr.tasks import run_request_job

    held = HeldJobs()
    monkeypatch.setattr(run_request_job, "delay", held.sent.append)
    return held
