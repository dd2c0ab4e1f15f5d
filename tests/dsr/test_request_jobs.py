"""Long work on a worker (dsr.jobs): completing an access request or approving an erasure returns
at once with a queued job; the job builds or erases, completes the request, reports its progress,
fails with its reason (retried by a DPO), and does nothing twice when its message comes again."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from compliance_site.leases import lease_release
from dsr import jobs
from dsr.admin_actions import steps_available
from dsr.models import DataPackage, DataSubjectRequest, RequestJob
from dsr.selectors import requests_due_for_reminder
from dsr.services import request_create
from dsr.tasks import resume_request_jobs
from dsr.workflow import (
    request_assign,
    request_complete,
    request_identity_verify,
    request_match,
    request_transition,
)
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = DataSubjectRequest.Status
State = RequestJob.State


@pytest.fixture
def subject(db):
    subject = DataSubjectFactory()
    for n in range(3):
        RecordingFactory(subject=subject, audio=bytes([n]) * 70_000)
    return subject


def _verified_access(subject, dpo) -> DataSubjectRequest:
    request = request_create(
        request_type="access",
        channel="email",
        received_at=timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )
    return request_identity_verify(dsr=request, method="document", note="Passport seen.", actor=dpo)


def _complete(dsr, dpo, capture) -> RequestJob:
    with capture(execute=True):
        request_complete(dsr=dsr, actor=dpo)
    return RequestJob.objects.get(request=dsr)


def test_completing_an_access_request_returns_at_once_and_the_worker_completes_it(
    subject, dpo, held_jobs, django_capture_on_commit_callbacks
):
    # given
    request = _verified_access(subject, dpo)

    # when: the DPO completes it
    job = _complete(request, dpo, django_capture_on_commit_callbacks)

    # then: nothing is built yet; the request is being carried out, its job queued and sent
    request.refresh_from_db()
    assert (request.status, request.closed_at, request.executed_at) == (Status.EXECUTING, None, None)
    assert (job.kind, job.state, job.requested_by, job.attempts) == ("package", State.QUEUED, dpo, 0)
    assert held_jobs.sent == [job.pk]
    assert not DataPackage.objects.exists() and not request.letters.exists()
    assert jobs.request_job_summary(job) == "Package: queued, waiting for a worker"
    # the deadline keeps running, and the reminders with it
    assert request in requests_due_for_reminder(request.effective_due_at, 0)

    # when: the worker runs it
    assert held_jobs.run() == [State.DONE]

    # then: the package, the request ready to send and its letter, together; it is still open
    # (its deadline running) until the package reaches the subject
    job.refresh_from_db()
    request.refresh_from_db()
    package = DataPackage.objects.get(request=request)
    assert (job.state, job.progress_done, job.progress_total, job.attempts) == (State.DONE, 3, 3, 1)
    assert request.status == Status.READY_TO_SEND and package.name in request.outcome
    assert request.is_open and request.closed_at is None
    assert request.executed_at is not None and request.letters.count() == 1
    assert request.history.first().history_user == dpo
    assert jobs.request_job_summary(job).startswith("Package: done at ")


def test_the_job_reports_its_progress_recording_by_recording(
    subject, dpo, held_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    _complete(_verified_access(subject, dpo), dpo, django_capture_on_commit_callbacks)
    seen = []
    report = jobs._job_progress

    def recorded(job, done, total):
        report(job, done, total)
        row = RequestJob.objects.get(pk=job.pk)
        seen.append((row.state, jobs.request_job_summary(row)))

    monkeypatch.setattr(jobs, "_job_progress", recorded)

    held_jobs.run()

    assert seen == [(State.RUNNING, f"Package: running, {n} of 3 recordings") for n in range(4)], (
        "each recording moves the count, as the admin reads it"
    )


def test_a_redelivered_message_does_nothing_twice(
    subject, dpo, held_jobs, django_capture_on_commit_callbacks
):
    job = _complete(_verified_access(subject, dpo), dpo, django_capture_on_commit_callbacks)
    held_jobs.run()

    # when: the same message comes again (acks late, a redelivery), twice
    assert jobs.request_job_run(job_id=job.pk) is None
    assert jobs.request_job_run(job_id=job.pk) is None

    # then: one package, one letter, one attempt
    job.refresh_from_db()
    assert (job.state, job.attempts) == (State.DONE, 1)
    assert DataPackage.objects.count() == 1 and job.request.letters.count() == 1


def test_a_redelivery_leaves_a_live_job_alone_and_takes_over_a_dead_ones(
    subject, dpo, held_jobs, django_capture_on_commit_callbacks
):
    job = _complete(_verified_access(subject, dpo), dpo, django_capture_on_commit_callbacks)
    # given: a worker claimed the job and holds its lease (alive)
    claimed, lease = jobs._job_claim(job.pk)
    assert claimed.state == State.RUNNING

    # when: a second delivery comes while it runs
    assert jobs.request_job_run(job_id=job.pk) is None
    assert not DataPackage.objects.exists()

    # when: that worker dies (its lease goes with it) and the message comes again
    lease_release(lease, jobs.JOB_LEASE, job.pk)
    finished = jobs.request_job_run(job_id=job.pk)

    # then: taken over and finished once
    assert (finished.state, finished.attempts) == (State.DONE, 2)
    assert DataPackage.objects.count() == 1


def test_a_transient_error_is_retried_and_the_last_attempt_fails_with_the_reason(
    subject, dpo, held_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    job = _complete(_verified_access(subject, dpo), dpo, django_capture_on_commit_callbacks)
    build, calls = jobs.package_build, []

    def flaky(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("storage unreachable")
        return build(**kwargs)

    monkeypatch.setattr(jobs, "package_build", flaky)

    # when: the first attempt meets the storage away; the task retries it (eagerly here)
    assert held_jobs.run() == [State.DONE]

    # then
    job.refresh_from_db()
    assert (job.state, job.attempts, len(calls)) == (State.DONE, 2, 2)

    # and: when every attempt fails, the last one fails the job with its reason
    other = _complete(_verified_access(DataSubjectFactory(), dpo), dpo, django_capture_on_commit_callbacks)
    monkeypatch.setattr(jobs, "package_build", lambda **kwargs: (_ for _ in ()).throw(OSError("down")))
    monkeypatch.setattr("dsr.tasks.JOB_BACKOFF_SECONDS", 0)
    assert held_jobs.run() == [State.FAILED]
    other.refresh_from_db()
    assert other.failure_reason == "gave up after retries: OSError: down"
    assert other.attempts == 7  # the first try and six retries
    assert other.request.status == Status.EXECUTING


def test_a_failed_job_shows_its_reason_and_a_dpo_retries_it(
    subject, dpo, analyst, held_jobs, django_capture_on_commit_callbacks, monkeypatch
):
    # given: a build the package service refuses once
    request = _verified_access(subject, dpo)
    request_assign(dsr=request, assignee=analyst, actor=dpo)
    job = _complete(request, dpo, django_capture_on_commit_callbacks)
    build = jobs.package_build

    def refused(**kwargs):
        monkeypatch.setattr(jobs, "package_build", build)
        raise ValidationError("The storage renamed the package; try again.")

    monkeypatch.setattr(jobs, "package_build", refused)

    # when
    assert held_jobs.run() == [State.FAILED]

    # then: failed with the reason; nothing built; the request still being carried out
    job.refresh_from_db()
    request.refresh_from_db()
    assert jobs.request_job_summary(job) == "Package: failed: The storage renamed the package; try again."
    assert request.status == Status.EXECUTING and not DataPackage.objects.exists()
    assert "retry" in [step.name for step in steps_available(request, dpo)]
    assert "retry" not in [step.name for step in steps_available(request, analyst)]
    with pytest.raises(ValidationError, match="Only a DPO"):
        jobs.request_job_retry(dsr=request, actor=analyst)

    # when: the DPO retries it
    with django_capture_on_commit_callbacks(execute=True):
        jobs.request_job_retry(dsr=request, actor=dpo)
    job.refresh_from_db()
    assert (job.state, job.failure_reason, job.retried_by) == (State.QUEUED, "", dpo)
    assert held_jobs.run() == [State.DONE]

    # then
    request.refresh_from_db()
    assert request.status == Status.READY_TO_SEND and DataPackage.objects.count() == 1
    with pytest.raises(ValidationError, match="Only a failed job"):
        jobs.request_job_retry(dsr=request, actor=dpo)


def test_while_its_job_may_run_the_request_does_not_change(
    subject, dpo, held_jobs, django_capture_on_commit_callbacks
):
    request = _verified_access(subject, dpo)
    _complete(request, dpo, django_capture_on_commit_callbacks)

    with pytest.raises(ValidationError, match="being carried out on a worker"):
        request_transition(dsr=request, to=Status.WITHDRAWN, actor=dpo)
    with pytest.raises(ValidationError, match="being carried out on a worker"):
        request_match(dsr=request, subject=DataSubjectFactory(), actor=dpo)
    with pytest.raises(ValidationError, match="cannot be completed"):
        request_complete(dsr=request, actor=dpo)
    assert RequestJob.objects.filter(request=request).count() == 1
    request.refresh_from_db()
    assert [step.name for step in steps_available(request, dpo)] == ["assign", "extend"]


def test_beat_sends_again_a_job_whose_message_was_lost(
    subject, dpo, held_jobs, django_capture_on_commit_callbacks
):
    job = _complete(_verified_access(subject, dpo), dpo, django_capture_on_commit_callbacks)
    held_jobs.sent.clear()  # the message is lost (the filesystem broker's worker died)

    assert resume_request_jobs() == 0  # queued a moment ago: maybe a worker is about to take it
    assert jobs.request_jobs_resume(now=timezone.now() + jobs.RESUME_AFTER * 2) == [job.pk]
    assert held_jobs.sent == [job.pk]
    assert held_jobs.run() == [State.DONE]
    assert jobs.request_jobs_resume(now=timezone.now() + jobs.RESUME_AFTER * 4) == []


# --- The job's state on the request page, as each persona --------------------------------------


@pytest.fixture
def job_request(subject, dpo, analyst, held_jobs, django_capture_on_commit_callbacks):
    request = _verified_access(subject, dpo)
    request_assign(dsr=request, assignee=analyst, actor=dpo)
    _complete(request, dpo, django_capture_on_commit_callbacks)
    return request


def _job_url(dsr) -> str:
    return reverse("admin:dsr_datasubjectrequest_job", args=[dsr.pk])


def test_the_request_page_shows_the_job_and_loads_the_poller(client, dpo, job_request):
    client.force_login(dpo)

    page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[job_request.pk])).content.decode()

    assert f'data-job-url="{_job_url(job_request)}"' in page
    assert 'data-job-state="queued"' in page and "Package: queued, waiting for a worker" in page
    assert "custos/request-jobs.js" in page
    assert "Being carried out" in page


@pytest.mark.parametrize(
    ("persona", "status"),
    [("dpo", 200), ("analyst", 200), ("auditor", 200), ("stranger", 404), ("qa_lead_a", 404)],
)
def test_the_job_endpoint_follows_the_request_pages_visibility(client, request, job_request, persona, status):
    user = request.getfixturevalue(persona)
    user.is_staff = True
    user.save()
    client.force_login(user)

    response = client.get(_job_url(job_request))

    assert response.status_code == status
    if status == 200:
        assert response.json()["state"] == "queued" and response.json()["total"] is None
        assert "no-store" in response["Cache-Control"]


def test_the_job_endpoint_hides_another_analysts_request_and_asks_anonymous_to_log_in(
    client, roles, job_request
):
    from compliance_site.roles import PRIVACY_ANALYST

    other_analyst = UserFactory(username="other.analyst", groups=[roles[PRIVACY_ANALYST]])
    client.force_login(other_analyst)
    assert client.get(_job_url(job_request)).status_code == 404
    client.logout()
    response = client.get(_job_url(job_request))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_request_without_a_job_has_no_job_state(client, dpo, subject):
    client.force_login(dpo)
    request = _verified_access(subject, dpo)
    assert client.get(_job_url(request)).status_code == 404


@pytest.mark.parametrize("object_id", ["abc", "1.5", "99999999999999999999"])
@pytest.mark.parametrize("page", ["job", "step"])
def test_a_request_id_that_is_not_one_is_a_404_not_a_crash(client, dpo, job_request, object_id, page):
    # given: hostile ids in the request page's own endpoints (the poller's and the step forms')
    client.force_login(dpo)
    url = f"/admin/dsr/datasubjectrequest/{object_id}/" + ("job/" if page == "job" else "step/assign/")

    # when
    response = client.get(url)

    # then
    assert response.status_code == 404
