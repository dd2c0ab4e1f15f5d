"""Two more rights from intake to the subject's hands, driven as the DPO through the request page.

Portability (Art. 20): the package is built on a worker, the request waits "ready to send", the
DPO records that it went by post, and only then is it completed, closed at that moment.
Consent withdrawal (Art. 7(3)): the DPO ticks the consents the subject withdraws; those end under
the request, the response letter is written, and the QA lead whose review rested on a withdrawn
consent no longer sees that call (the one whose consent stays, they still see).
Each step's page is kept under ``var/e2e-screenshots/<test>/`` (the ``journey`` fixture).
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from dsr.models import DataPackage, DataSubjectRequest, LetterDelivery, ResponseLetter
from recordings.models import Consent, Purpose
from tests.e2e.desk import (
    click_step,
    current_stage,
    log_in,
    log_out,
    no_dangerous_default,
    readonly,
    run_step,
)
from tests.factories import DataSubjectFactory, PurposeFactory, RecordingFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def stages(page) -> dict[str, str]:
    """The progress line: each stage's label ("1 Match") with its state (done, current, ...)."""
    items = page.locator(".dsr-progress li")
    line = {}
    for i in range(items.count()):
        item = items.nth(i)
        label = item.inner_text().strip().lstrip("✓ ").strip()
        line[label] = (item.get_attribute("class") or "").split()[-1].removeprefix("dsr-stage-")
    return line


def take_in(page, live_server, *, request_type: str, channel: str) -> DataSubjectRequest:
    """The DPO adds a request received yesterday and lands on its page."""
    received = timezone.localtime() - datetime.timedelta(days=1)
    page.goto(f"{live_server.url}{reverse('admin:dsr_datasubjectrequest_add')}")
    page.select_option("#id_request_type", label=request_type)
    page.select_option("#id_channel", label=channel)
    page.select_option("#id_language", label="English")
    page.fill("#id_received_at_0", f"{received:%Y-%m-%d}")
    page.fill("#id_received_at_1", f"{received:%H:%M:%S}")
    page.locator("[name=_continue]").click()
    page.wait_for_url(re.compile(r"/admin/dsr/datasubjectrequest/\d+/change/$"))
    return DataSubjectRequest.objects.get()


def match_and_verify(page, pk: int, *, email: str, method: str, evidence: str) -> None:
    click_step(page, "Match the requester to a subject", pk, "match")
    page.fill("#id_email", email)
    run_step(page, pk)
    assert current_stage(page) == "2 Verify"
    click_step(page, "Record the identity verification", pk, "verify")
    no_dangerous_default(page)
    page.select_option("#id_method", label=method)
    page.fill("#id_note", evidence)
    run_step(page, pk)
    assert readonly(page, "identity_method").inner_text().strip() == method


def no_console_errors(console_log) -> None:
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the pages logged errors:\n{errors}"


def test_portability_request_is_built_on_a_worker_and_completes_when_posted(
    live_server, page, console_log, journey, dpo, held_jobs
):
    subject = DataSubjectFactory(full_name="Max Mustermann", email="max@example.org")
    calls = [RecordingFactory(subject=subject, audio=bytes([n]) * 40_000) for n in range(2)]

    # given: the DPO takes in a portability request made on the web form yesterday
    log_in(page, live_server, dpo.username)
    dsr = take_in(page, live_server, request_type="Portability (Art. 20)", channel="Web form")
    pk = dsr.pk
    assert dsr.request_type == "portability"

    # then: the progress line is the package right's, at its first stage
    assert list(stages(page)) == ["1 Match", "2 Verify", "3 Assign", "4 Build", "5 Send"]
    assert current_stage(page) == "1 Match"
    assert "Approve the erasure (second DPO)" not in page.locator(".field-workflow_steps a").all_inner_texts()
    journey.shot("intake")

    # when: they match the requester by the address the form gave, and record the verification
    match_and_verify(
        page,
        pk,
        email="MAX@example.org",
        method="Email round trip",
        evidence="Confirmed from the address on file.",
    )

    # then: the DPO works it alone: Build is next, assigning is not required
    assert current_stage(page) == "3 Assign"
    assert "Build the package" in page.locator(".field-workflow_steps a").all_inner_texts()
    journey.shot("matched-and-verified")

    # when: they open the build step: its preview says what a portability package holds
    click_step(page, "Build the package", pk, "build")
    preview = page.locator(".dsr-preview").inner_text()
    assert "2 recording(s)" in preview
    assert "machine-readable JSON (Art. 20)" in preview
    assert "Art. 15 information" not in preview
    for call in calls:
        assert call.reference in preview
    journey.shot("build-preview")

    # and: they build it; a worker (the test) carries it out
    run_step(page, pk)
    assert readonly(page, "status").inner_text().strip() == "Being carried out"
    assert "queued" in page.locator(".field-job_progress .dsr-job").inner_text()
    journey.shot("being-built")
    assert held_jobs.run() == ["done"]

    # then: the page (not reloaded) turns to "ready to send": open, not completed; Assign was
    # passed over, Build is done and Send is current
    readonly(page, "status").filter(has_text="Ready to send").wait_for()
    assert stages(page) == {
        "1 Match": "done",
        "2 Verify": "done",
        "3 Assign": "skipped",
        "4 Build": "done",
        "5 Send": "current",
    }
    dsr.refresh_from_db()
    assert dsr.status == DataSubjectRequest.Status.READY_TO_SEND
    assert dsr.is_open and dsr.closed_at is None
    # the response letter is listed, and the package offered for download
    letters = readonly(page, "letters_display").locator("details")
    assert letters.count() == 1
    assert "Response" in letters.locator("summary").inner_text()
    assert "your data in a machine-readable format" in letters.locator("summary").inner_text()
    package = DataPackage.objects.get(request=dsr)
    assert package.name in readonly(page, "package_links").inner_text()
    journey.shot("ready-to-send")

    # when: they send the response by post (no default channel; a posted letter says how)
    click_step(page, "Send the response", pk, "send")
    no_dangerous_default(page)
    assert "The request completes when the response is delivered" in page.locator(".dsr-preview").inner_text()
    page.select_option("#id_channel", "post")
    page.locator(".dsr-step [name=_run]").click()
    page.locator(".dsr-step .form-row.errors").filter(has=page.locator("#id_note")).wait_for()
    dsr.refresh_from_db()
    assert dsr.status == DataSubjectRequest.Status.READY_TO_SEND  # refused on the form: nothing changed
    page.fill("#id_note", "Registered letter with a USB stick, posted today.")
    journey.shot("send-by-post")
    run_step(page, pk)

    # then: the request is completed, every stage but the passed-over Assign done
    assert readonly(page, "status").inner_text().strip() == "Completed"
    assert "Response sent by post" in readonly(page, "workflow_progress").inner_text()
    assert [state for state in stages(page).values()] == ["done", "done", "skipped", "done", "done"]
    assert readonly(page, "workflow_steps").inner_text().strip() == "Closed."
    journey.shot("completed")

    # and in the data: a portability package, and the request closed at the moment it was sent
    package.refresh_from_db()
    assert package.kind == DataPackage.Kind.PORTABILITY
    assert package.recordings == 2
    dsr.refresh_from_db()
    delivery = LetterDelivery.objects.get(letter__request=dsr)
    assert (delivery.channel, delivery.state, delivery.sent_by) == ("post", "sent", dpo)
    assert dsr.status == DataSubjectRequest.Status.COMPLETED
    assert dsr.closed_at == delivery.sent_at
    assert dsr.executed_at < dsr.closed_at  # built first, completed when sent
    assert dsr.letters.get().kind == ResponseLetter.Kind.OUTCOME

    no_console_errors(console_log)


def test_consent_withdrawal_ends_the_chosen_consents_and_the_qa_lead_loses_the_call(
    live_server, page, console_log, journey, dpo, qa_lead_a, queue_a
):
    quality = PurposeFactory(code=Purpose.QUALITY_ASSURANCE, name="Quality assurance")
    subject = DataSubjectFactory(full_name="Erika Mustermann", email="erika.m@example.org")
    # Two calls reviewed for quality on the consent given in each: the subject withdraws the
    # first one's only.
    withdrawn_call, kept_call = (
        RecordingFactory(subject=subject, queue=queue_a, purposes=[quality]) for _ in range(2)
    )
    to_withdraw = Consent.objects.get(recording=withdrawn_call)
    to_keep = Consent.objects.get(recording=kept_call)
    recordings_list = f"{live_server.url}{reverse('admin:recordings_recording_changelist')}"

    # given: the QA lead of queue A reviews both calls
    log_in(page, live_server, qa_lead_a.username)
    page.goto(recordings_list)
    assert set(page.locator("#result_list tbody th.field-reference").all_inner_texts()) == {
        withdrawn_call.reference,
        kept_call.reference,
    }
    journey.shot("qa-lead-before")
    log_out(page)

    # when: the DPO takes in the subject's withdrawal, by email yesterday
    log_in(page, live_server, dpo.username)
    dsr = take_in(page, live_server, request_type="Consent withdrawal (Art. 7(3))", channel="Email")
    pk = dsr.pk
    assert list(stages(page)) == ["1 Match", "2 Verify", "3 Assign", "4 Execute", "5 Send"]
    journey.shot("intake")

    # and: matches and verifies it
    match_and_verify(
        page,
        pk,
        email="erika.m@example.org",
        method="Email round trip",
        evidence="Sent from the address on file.",
    )
    journey.shot("matched-and-verified")

    # and: opens "Carry out the request": the preview counts the active consents, and each
    # checkbox says which consent it is (purpose, call, date), not a database id
    click_step(page, "Carry out the request", pk, "complete")
    assert "2 active consent(s) can be withdrawn" in page.locator(".dsr-preview").inner_text()
    choices = page.locator(".dsr-step [name=consents]")
    assert choices.count() == 2
    labels = page.locator(".dsr-step label:has([name=consents])").all_inner_texts()
    assert all(label.strip().startswith("Quality assurance") for label in labels), labels
    assert any(withdrawn_call.reference in label for label in labels), labels
    assert any(kept_call.reference in label for label in labels), labels

    # and: confirming with nothing ticked is refused on the form; nothing changes
    page.locator(".dsr-step [name=_run]").click()
    page.locator(".dsr-step .form-row.errors").filter(has=page.locator("[name=consents]")).wait_for()
    assert not Consent.objects.filter(withdrawn_at__isnull=False).exists()

    # when: they tick the first call's consent only and confirm
    page.locator(".dsr-step label", has_text=withdrawn_call.reference).locator("[name=consents]").check()
    journey.shot("consents-chosen")
    run_step(page, pk)

    # then: the request is completed with its outcome, and the response letter is listed
    assert readonly(page, "status").inner_text().strip() == "Completed"
    assert readonly(page, "outcome").inner_text().strip() == "1 consent(s) withdrawn (Quality assurance)."
    line = stages(page)
    assert [line[s] for s in ("1 Match", "2 Verify", "4 Execute", "5 Send")] == [
        "done",
        "done",
        "done",
        "current",
    ]
    letters = readonly(page, "letters_display").locator("details")
    assert letters.count() == 1
    summary = letters.locator("summary").inner_text()
    assert "Response · English" in summary
    letters.locator("summary").click()
    assert "We have recorded the withdrawal of your consent for: Quality assurance." in (
        letters.locator("pre").inner_text()
    )
    assert "Send the response" in page.locator(".field-workflow_steps a").all_inner_texts()
    journey.shot("completed")

    # and in the data: that consent is withdrawn under the request, by email, by the DPO; the
    # other stays active
    to_withdraw.refresh_from_db()
    to_keep.refresh_from_db()
    assert to_withdraw.withdrawn_at is not None
    assert (to_withdraw.withdrawn_under, to_withdraw.withdrawn_via, to_withdraw.withdrawn_by) == (
        dsr.reference,
        Consent.Channel.EMAIL,
        dpo,
    )
    assert to_keep.withdrawn_at is None and to_keep.withdrawn_under == ""
    dsr.refresh_from_db()
    assert (dsr.status, dsr.closed_at is not None) == (DataSubjectRequest.Status.COMPLETED, True)
    no_console_errors(console_log)

    # when: the QA lead lists the calls again
    log_out(page)
    log_in(page, live_server, qa_lead_a.username)
    page.goto(recordings_list)

    # then: the call whose consent was withdrawn is gone; the other is still there
    assert page.locator("#result_list tbody th.field-reference").all_inner_texts() == [kept_call.reference]
    journey.shot("qa-lead-after")
    no_console_errors(console_log)

    # and: typing its address finds nothing
    gone = page.goto(
        f"{live_server.url}{reverse('admin:recordings_recording_change', args=[withdrawn_call.pk])}"
    )
    assert gone is not None and gone.status == 404
