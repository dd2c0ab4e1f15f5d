"""The DPO logs in to the back office and opens the data-subject requests, most urgent first; they
complete an access request and watch its package being built on a worker."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from compliance_site.roles import DPO
from dsr import jobs
from dsr.models import DataPackage, DataSubjectRequest, RequestType
from dsr.services import request_create
from dsr.workflow import request_identity_verify
from tests.factories import DataSubjectFactory, RecordingFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

DPO_USERNAME = "dana.dpo"
DPO_PASSWORD = "correct-horse-battery-staple-42"  # a throwaway test account


@pytest.fixture
def dpo_group(transactional_db) -> Group:
    # post_migrate provisioning creates the role groups; a transactional test's flush empties the
    # tables (and normally re-runs post_migrate), so provision again if the group is gone.
    if not Group.objects.filter(name=DPO).exists():
        from compliance_site.provisioning import provision

        provision()
    return Group.objects.get(name=DPO)


@pytest.fixture
def dpo_user(dpo_group):
    user = get_user_model().objects.create_user(
        username=DPO_USERNAME,
        email="dana.dpo@example.com",
        password=DPO_PASSWORD,
        is_staff=True,
    )
    user.groups.add(dpo_group)
    return user


@pytest.fixture
def requests_by_urgency(dpo_user) -> dict[str, DataSubjectRequest]:
    """Three open requests, created out of deadline order so that the list's order is earned."""
    now = timezone.now()
    fresh = request_create(
        request_type=RequestType.ACCESS,
        channel=DataSubjectRequest.Channel.EMAIL,
        received_at=now - datetime.timedelta(minutes=5),
    )
    overdue = request_create(
        request_type=RequestType.ERASURE,
        channel=DataSubjectRequest.Channel.PHONE,
        received_at=now - datetime.timedelta(days=40),
        assignee=dpo_user,
    )
    due_soon = request_create(
        request_type=RequestType.OBJECTION,
        channel=DataSubjectRequest.Channel.LETTER,
        # Due in three days under the default 30-day period rule.
        received_at=now - datetime.timedelta(days=27),
    )
    return {"overdue": overdue, "due_soon": due_soon, "fresh": fresh}


def test_dpo_logs_in_and_sees_requests_most_urgent_first(live_server, page, console_log, requests_by_urgency):
    overdue = requests_by_urgency["overdue"]
    expected_order = [requests_by_urgency[key].reference for key in ("overdue", "due_soon", "fresh")]
    # Sanity of the fixture itself, so that a failure below is about the app, not the data.
    assert overdue.days_left() < 0 < requests_by_urgency["due_soon"].days_left()

    # Log in through the admin's own form.
    page.goto(f"{live_server.url}/admin/")
    assert "/admin/login/" in page.url, "an anonymous visitor must be sent to the login page"
    page.fill("#id_username", DPO_USERNAME)
    page.fill("#id_password", DPO_PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))

    # The index: the DPO's work, data-subject requests, comes first.
    assert DPO_USERNAME.upper() in page.locator("#user-tools").inner_text().upper()
    first_module = page.locator("#content-main .module").first
    assert "app-dsr" in (first_module.get_attribute("class") or "")
    assert first_module.locator("caption").text_content().strip() == "Data-subject requests"
    requests_link = first_module.locator("th[scope=row] a").first
    assert requests_link.text_content().strip() == "Data-subject requests"

    requests_link.click()
    page.wait_for_url(re.compile(r"/admin/dsr/datasubjectrequest/$"))

    # Every request is listed, most urgent deadline first.
    rows = page.locator("#result_list tbody tr")

    def listed_references() -> list[str]:
        return [ref.strip() for ref in rows.locator("th.field-reference").all_inner_texts()]

    def days_left_text(reference: str) -> str:
        row = rows.filter(has=page.locator("th.field-reference", has_text=reference))
        return row.locator("td.field-days_left_display").inner_text().strip()

    assert listed_references() == expected_order

    # The overdue request says so, with how many days it is late; the others do not.
    assert days_left_text(overdue.reference) == f"{-overdue.days_left()} overdue"
    for key in ("due_soon", "fresh"):
        assert "overdue" not in days_left_text(requests_by_urgency[key].reference)

    # The "Overdue" deadline filter narrows the list to the late request alone.
    page.locator("#changelist-filter").get_by_role("link", name="Overdue", exact=True).click()
    page.wait_for_url(re.compile(r"deadline=overdue"))
    assert listed_references() == [overdue.reference]

    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the DPO's pages logged errors:\n{errors}"


def log_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/")
    page.fill("#id_username", DPO_USERNAME)
    page.fill("#id_password", DPO_PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url(re.compile(r"/admin/$"))


def test_dpo_completes_an_access_request_and_watches_the_package_being_built(
    live_server, page, console_log, dpo_user, held_jobs, monkeypatch
):
    # given: a verified access request of a subject with two calls
    subject = DataSubjectFactory()
    for n in range(2):
        RecordingFactory(subject=subject, audio=bytes([n]) * 100_000)
    request_obj = request_create(
        request_type=RequestType.ACCESS,
        channel=DataSubjectRequest.Channel.EMAIL,
        received_at=timezone.now() - datetime.timedelta(days=2),
        subject=subject,
    )
    request_identity_verify(dsr=request_obj, method="document", note="Passport seen.", actor=dpo_user)
    pk = request_obj.pk
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/dsr/datasubjectrequest/{pk}/change/")

    # when: the DPO has the package built
    page.locator(".field-workflow_steps").get_by_role("link", name="Build the package", exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/dsr/datasubjectrequest/{pk}/step/build/$"))
    page.locator(".dsr-step [name=_run]").click()
    page.wait_for_url(re.compile(rf"/admin/dsr/datasubjectrequest/{pk}/change/$"))

    # then: the page is back at once; the package is queued for a worker, nothing built yet
    status = page.locator(".field-status .readonly")
    job_line = page.locator(".field-job_progress .dsr-job")
    assert status.inner_text().strip() == "Being carried out"
    assert job_line.inner_text().strip() == "Package: queued, waiting for a worker"
    assert "a worker carries it out now" in page.locator(".messagelist").inner_text()
    assert not DataPackage.objects.exists()

    # when: the worker builds it; half-way, the page (not reloaded) shows how far it has got
    report = jobs._job_progress

    def watched(job, done, total):
        report(job, done, total)
        if done == 1:
            job_line.filter(has_text="Package: running, 1 of 2 recordings").wait_for()

    monkeypatch.setattr(jobs, "_job_progress", watched)
    assert held_jobs.run() == ["done"]

    # then: the page reloads itself once the job is done: ready to send (not completed: the subject
    # does not have it yet), with the package to download
    status.filter(has_text="Ready to send").wait_for()
    assert job_line.inner_text().strip().startswith("Package: done at ")
    package = DataPackage.objects.get()
    assert page.locator(".field-package_links").get_by_role("link", name=package.name).is_visible()

    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the DPO's pages logged errors:\n{errors}"
