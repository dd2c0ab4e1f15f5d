"""The DPO works an erasure from intake to completed, with the second approval.

One DPO takes a letter in, matches the requester by phone number, records the identity check and
sends the erasure for approval; they cannot approve it themselves (four eyes). A second DPO
approves it from the preview; the approval is recorded at once and the erasure queued for a
worker, whose progress the request page shows without a reload. Once the worker (the test, here)
has run it, the request is completed with its outcome and response letter; the recordings' keys
and the subject's personal data are shredded and the audio blobs deleted.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import formats, timezone

from compliance_site.roles import DPO
from dsr import jobs
from dsr.deadlines import due_at_for
from dsr.models import DataSubjectRequest, ResponseLetter
from recordings.models import DataSubject, Recording
from recordings.vault.keys import KeyDestroyedError, personal_data_read, recording_key
from retention.models import DeletionRecord
from tests.e2e.desk import click_step, log_in, log_out, readonly, run_step
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SUBJECT_PHONE = "+49 30 5550123"
REQUESTER_PHONE = "030 555 0123"  # as the letter gives it: national format, spaced
FOUR_EYES = "Four eyes: a second DPO must approve what you prepared."
SHOTS = Path(settings.BASE_DIR) / "var" / "e2e" / "erasure-four-eyes"


def shot(page, name: str) -> None:
    """A screenshot kept with CI's artefacts (var/)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def second_dpo(roles):
    return UserFactory(username="otto.dpo", groups=[roles[DPO]])


@pytest.fixture
def subject_with_calls(queue_a) -> tuple[DataSubject, list[Recording]]:
    subject = DataSubjectFactory(phone=SUBJECT_PHONE)
    return subject, [RecordingFactory(subject=subject, queue=queue_a) for _ in range(2)]


def test_dpo_works_an_erasure_from_intake_to_completed_with_the_second_approval(
    live_server, page, console_log, dpo, second_dpo, subject_with_calls, held_jobs, monkeypatch
):
    subject, recordings = subject_with_calls
    blobs = [recording.storage_ref for recording in recordings]
    storage = storages["recordings"]
    assert all(storage.exists(name) for name in blobs), "the fixture's audio must be in storage"
    received = timezone.localtime() - datetime.timedelta(days=1)

    # given: DPO #1 logged in, on the requests list
    log_in(page, live_server, dpo.username)
    page.goto(f"{live_server.url}{reverse('admin:dsr_datasubjectrequest_changelist')}")

    # when: they take in an erasure request that came by letter yesterday
    page.get_by_role("link", name="Add data-subject request").click()
    page.wait_for_url(re.compile(r"/admin/dsr/datasubjectrequest/add/$"))
    page.select_option("#id_request_type", label="Erasure (Art. 17)")
    page.select_option("#id_channel", label="Letter")
    page.select_option("#id_language", label="English")
    page.fill("#id_received_at_0", f"{received:%Y-%m-%d}")
    page.fill("#id_received_at_1", f"{received:%H:%M:%S}")
    page.locator("[name=_continue]").click()
    page.wait_for_url(re.compile(r"/admin/dsr/datasubjectrequest/\d+/change/$"))

    # then: the request has its reference and its due date on its page
    request_obj = DataSubjectRequest.objects.get()
    assert re.fullmatch(r"DSR-\d{4}-\d{6}", request_obj.reference)
    assert request_obj.due_at == due_at_for(received.replace(microsecond=0))
    pk = request_obj.pk
    assert readonly(page, "reference").inner_text().strip() == request_obj.reference
    assert readonly(page, "due_at").inner_text().strip() == formats.localize(
        timezone.localtime(request_obj.due_at)
    )
    assert readonly(page, "status").inner_text().strip() == "New"
    assert "Not matched yet" in readonly(page, "subject_overview").inner_text()

    # when: they match the requester by the phone number the letter gives
    click_step(page, "Match the requester to a subject", pk, "match")
    page.fill("#id_phone", REQUESTER_PHONE)
    run_step(page, pk)

    # then: the page lists what is held about the subject: both recordings
    overview = readonly(page, "subject_overview")
    assert subject.reference in overview.inner_text()
    for recording in recordings:
        assert overview.get_by_role("link", name=recording.reference, exact=True).is_visible()
    assert "Recordings (2)" in overview.inner_text()

    # when: they record how the identity was verified
    click_step(page, "Record the identity verification", pk, "verify")
    page.select_option("#id_method", label="Identity document seen")
    page.fill("#id_note", "Copy of the ID card enclosed with the signed letter; name and address match.")
    run_step(page, pk)
    assert readonly(page, "identity_method").inner_text().strip() == "Identity document seen"
    assert readonly(page, "status").inner_text().strip() == "In progress"

    # and: they send the erasure for approval
    click_step(page, "Send for approval (four eyes)", pk, "prepare")
    page.check("#id_confirm")
    run_step(page, pk)
    assert readonly(page, "status").inner_text().strip() == "Awaiting approval"
    assert readonly(page, "prepared_by").inner_text().strip() == dpo.username
    shot(page, "1-prepared-by-dpo1")

    # then: approving what they prepared themselves is not offered, and typing its address is
    # refused on the step's page; nothing ran
    assert page.get_by_role("link", name="Approve the erasure (second DPO)").count() == 0
    page.goto(f"{live_server.url}/admin/dsr/datasubjectrequest/{pk}/step/approve/")
    page.check("#id_confirm")
    page.locator(".dsr-step [name=_run]").click()
    page.locator(".dsr-step .errornote").filter(has_text=FOUR_EYES).wait_for()
    assert page.url.endswith(f"/dsr/datasubjectrequest/{pk}/step/approve/")
    request_obj.refresh_from_db()
    assert request_obj.status == DataSubjectRequest.Status.AWAITING_APPROVAL
    assert request_obj.approved_at is None
    assert all(storage.exists(name) for name in blobs)

    # when: DPO #1 logs out and DPO #2 logs in and opens the request from the list
    log_out(page)
    log_in(page, live_server, second_dpo.username)
    page.goto(f"{live_server.url}{reverse('admin:dsr_datasubjectrequest_changelist')}")
    page.locator("#result_list").get_by_role("link", name=request_obj.reference, exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/dsr/datasubjectrequest/{pk}/change/$"))

    # and: they open the approval, which previews what the erasure will do
    click_step(page, "Approve the erasure (second DPO)", pk, "approve")
    preview = page.locator(".dsr-preview")
    assert "2 recording(s) erased: key shredded, audio deleted, tombstone kept." in preview.inner_text()
    assert "The subject key is shredded" in preview.inner_text()
    assert "This cannot be undone" in page.locator(".messagelist").inner_text()

    # and: confirm without ticking the box: nothing happens
    page.locator(".dsr-step [name=_run]").click()
    page.locator(".dsr-step .form-row.errors").filter(has=page.locator("#id_confirm")).wait_for()

    # and: tick the confirmation and confirm
    shot(page, "2-approval-preview-dpo2")
    page.check("#id_confirm")
    run_step(page, pk)

    # then: the approval is recorded at once and the erasure queued for a worker; nothing erased yet
    assert f"{request_obj.reference}: approve the erasure (second dpo) — recorded; a worker" in (
        page.locator(".messagelist").inner_text()
    )
    assert readonly(page, "status").inner_text().strip() == "Being carried out"
    assert readonly(page, "approved_by").inner_text().strip() == second_dpo.username
    job_line = page.locator(".field-job_progress .dsr-job")
    assert job_line.inner_text().strip() == "Erasure: queued, waiting for a worker"
    assert all(storage.exists(name) for name in blobs)
    assert len(held_jobs.sent) == 1

    # when: the worker takes the job; while it runs, the page (not reloaded) says so
    report = jobs._job_progress

    def watched(job, done, total):
        report(job, done, total)
        job_line.filter(has_text="Erasure: running, 0 of 2 recordings").wait_for()

    monkeypatch.setattr(jobs, "_job_progress", watched)
    assert held_jobs.run() == ["done"]

    # then: once it is done the page reloads itself: the request is completed, with its outcome
    # and the response letter
    readonly(page, "status").filter(has_text="Completed").wait_for()
    assert job_line.inner_text().strip().startswith("Erasure: done at ")
    assert readonly(page, "approved_by").inner_text().strip() == second_dpo.username
    assert readonly(page, "outcome").inner_text().strip() == (
        "2 recording(s) erased; the subject's name, phone and email are destroyed."
    )
    letters = readonly(page, "letters_display").locator("details")
    assert letters.count() == 1
    assert "Response" in letters.locator("summary").inner_text()
    # the erasure shredded the subject's address: the response goes by post, and then nothing
    # is left to do
    assert readonly(page, "workflow_steps").inner_text().strip() == "Send the response"
    click_step(page, "Send the response", pk, "send")
    assert page.locator("#id_channel option").all_inner_texts() == ["— choose —", "I sent it by post"]
    page.select_option("#id_channel", "post")
    page.fill("#id_note", "Registered letter to the address on the request letter.")
    run_step(page, pk)
    assert readonly(page, "workflow_steps").inner_text().strip() == "Closed."
    assert page.locator(".dsr-progress .dsr-stage-done").count() == 6  # all but Assign
    assert "Response sent by post" in readonly(page, "workflow_progress").inner_text()
    shot(page, "3-completed-and-sent")

    # and in the data: the recordings are erased and their keys destroyed ...
    request_obj.refresh_from_db()
    assert (request_obj.prepared_by, request_obj.approved_by) == (dpo, second_dpo)
    assert request_obj.letters.get().kind == ResponseLetter.Kind.OUTCOME
    for recording in recordings:
        recording.refresh_from_db()
        assert recording.status == Recording.Status.ERASED
        with pytest.raises(KeyDestroyedError):
            recording_key(recording)
    # ... the subject's name, phone and email are unreadable ...
    subject.refresh_from_db()
    with pytest.raises(KeyDestroyedError):
        personal_data_read(subject)
    # ... each recording has its tombstone under the request's reference ...
    records = DeletionRecord.objects.filter(rule=request_obj.reference)
    assert sorted(records.values_list("recording_id", flat=True)) == sorted(r.pk for r in recordings)
    # ... and the audio left the storage once the approval committed.
    assert all(record.blob_deleted_at is not None for record in records)
    assert not any(storage.exists(name) for name in blobs)

    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the DPOs' pages logged errors:\n{errors}"
