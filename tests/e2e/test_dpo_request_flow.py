"""The DPO takes an access request from intake to the subject's hands, through the steps its type
offers (Match · Verify · Assign · Build · Send), the package built on a worker; the response is
emailed to the subject with their own download link, and the request completes only then. The
request is taken in German: the language chosen at intake is kept, and the subject's letter (its
HTML view, its PDF and the email) is German. No select of any step starts on a choice that
withdraws, refuses or deletes. Screenshots of each stage are kept under
``var/e2e-screenshots/<test>/`` (the ``journey`` fixture; CI keeps ``var/`` as artefacts)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from compliance_site.roles import PRIVACY_ANALYST
from dsr.models import DataPackage, DataSubjectRequest, LetterDelivery
from dsr.response_delivery import response_attempt
from tests.e2e.desk import click_step, current_stage, log_in, no_dangerous_default, readonly, run_step
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# The German letter (locale/de): its salutation with the name, the access right named, what the
# package holds, the complaint heading. None of the English wording may be left in it.
GERMAN_LETTER = (
    "Guten Tag Erika Mustermann,",
    "Ihren Antrag auf Auskunft über Ihre personenbezogenen Daten (Art. 15 DSGVO), eingegangen am",
    "den Aufzeichnungen Ihrer 2 Gespräche",
    "Ihr Beschwerderecht",
    "Mit freundlichen Grüßen",
)
ENGLISH_WORDING = ("Dear ", "request for access", "Your right to complain", "Kind regards")


def assert_german(text: str) -> None:
    for phrase in GERMAN_LETTER:
        assert phrase in text, phrase
    for phrase in ENGLISH_WORDING:
        assert phrase not in text, phrase


def stages(page) -> list[tuple[str, str]]:
    items = page.locator(".dsr-progress li")
    return [
        (items.nth(i).inner_text().strip().lstrip("✓ ").strip(), items.nth(i).get_attribute("class") or "")
        for i in range(items.count())
    ]


def test_access_request_from_intake_to_the_subjects_hands(
    live_server, page, console_log, journey, dpo, roles, held_jobs, monkeypatch
):
    analyst = UserFactory(username="ana.analyst", groups=[roles[PRIVACY_ANALYST]])
    subject = DataSubjectFactory(email="erika@example.org")
    for n in range(2):
        RecordingFactory(subject=subject, audio=bytes([n]) * 60_000)
    emails: list[int] = []
    from dsr.tasks import deliver_response

    monkeypatch.setattr(deliver_response, "delay", emails.append)  # the test plays the worker
    received = timezone.localtime() - datetime.timedelta(days=1)

    # given: the DPO takes in an access request that came by email yesterday, in German
    log_in(page, live_server, dpo.username)
    page.goto(f"{live_server.url}{reverse('admin:dsr_datasubjectrequest_add')}")
    page.select_option("#id_request_type", label="Access (Art. 15)")
    page.select_option("#id_channel", label="Email")
    page.select_option("#id_language", label="Deutsch")
    page.fill("#id_received_at_0", f"{received:%Y-%m-%d}")
    page.fill("#id_received_at_1", f"{received:%H:%M:%S}")
    page.locator("[name=_continue]").click()
    page.wait_for_url(re.compile(r"/admin/dsr/datasubjectrequest/\d+/change/$"))
    dsr = DataSubjectRequest.objects.get()
    pk = dsr.pk

    # then: the language chosen is kept (it was dropped once: German chosen, English saved)
    assert dsr.language == "de"
    assert page.locator("#id_language").evaluate("s => s.options[s.selectedIndex].text") == "Deutsch"

    # then: its progress line has the access request's five stages, at the first
    assert [label for label, _ in stages(page)] == ["1 Match", "2 Verify", "3 Assign", "4 Build", "5 Send"]
    assert current_stage(page) == "1 Match"
    steps = page.locator(".field-workflow_steps a")
    assert "Approve the erasure (second DPO)" not in steps.all_inner_texts()
    assert "Change the status" not in steps.all_inner_texts()
    # refusing and withdrawing are steps of their own, set apart
    assert page.locator(".dsr-steps-danger a").all_inner_texts() == [
        "Refuse the request",
        "Record the subject's withdrawal",
    ]
    journey.shot("intake in German")

    # when: match, verify, assign
    click_step(page, "Match the requester to a subject", pk, "match")
    page.fill("#id_reference", subject.reference)
    run_step(page, pk)
    assert current_stage(page) == "2 Verify"
    click_step(page, "Record the identity verification", pk, "verify")
    no_dangerous_default(page)
    page.select_option("#id_method", label="Email round trip")
    page.fill("#id_note", "Replied from the address on file.")
    run_step(page, pk)
    click_step(page, "Assign the request", pk, "assign")
    no_dangerous_default(page)
    page.select_option("#id_assignee", label=analyst.username)
    run_step(page, pk)
    assert current_stage(page) == "4 Build"
    journey.shot("matched, verified, assigned")

    # and: the withdrawal's page warns and asks for a confirmation; leaving it changes nothing
    click_step(page, "Record the subject's withdrawal", pk, "withdraw")
    assert "This cannot be undone" in page.locator(".messagelist").inner_text()
    page.locator(".dsr-step [name=_run]").click()  # no note, no tick: refused on the form
    page.locator(".dsr-step .errorlist").first.wait_for()
    page.goto(f"{live_server.url}/admin/dsr/datasubjectrequest/{pk}/change/")

    # when: the package is built: the preview lists what goes into it
    click_step(page, "Build the package", pk, "build")
    preview = page.locator(".dsr-preview").inner_text()
    assert "2 recording(s)" in preview and "Art. 15 information" in preview
    journey.shot("build preview")
    run_step(page, pk)
    assert readonly(page, "status").inner_text().strip() == "Being carried out"
    assert held_jobs.run() == ["done"]

    # then: ready to send, not completed; the deadline still runs
    readonly(page, "status").filter(has_text="Ready to send").wait_for()
    assert current_stage(page) == "5 Send"
    dsr.refresh_from_db()
    assert dsr.is_open and dsr.closed_at is None
    journey.shot("ready to send")

    # and: the response letter is listed, in German
    letters = readonly(page, "letters_display").locator("details")
    assert letters.count() == 1
    assert (
        letters.locator("summary")
        .inner_text()
        .endswith(f"Response · Deutsch · Ihr Antrag {dsr.reference}: Ihre personenbezogenen Daten")
    )

    # when: the DPO opens the letter's HTML view from the request page (a new tab)
    letters.locator("summary").click()
    with page.context.expect_page() as opened:
        letters.get_by_role("link", name="View", exact=True).click()
    letter_page = opened.value
    letter_page.on("console", console_log.on_console)
    letter_page.on("pageerror", console_log.on_page_error)
    letter_page.wait_for_load_state()

    # then: it is the German letter, to the subject by name
    assert letter_page.locator("html").get_attribute("lang") == "de"
    assert letter_page.title() == f"Ihr Antrag {dsr.reference}: Ihre personenbezogenen Daten"
    assert_german(letter_page.locator("body").inner_text())
    journey.shot("the German letter", page=letter_page)
    letter_page.close()

    # and: its PDF link gives a PDF
    pdf_link = letters.get_by_role("link", name="PDF", exact=True).get_attribute("href")
    pdf = page.context.request.get(f"{live_server.url}{pdf_link}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF-")

    # when: the DPO sends it by email (the choice has no default)
    click_step(page, "Send the response", pk, "send")
    no_dangerous_default(page)
    assert page.locator("#id_channel option").all_inner_texts() == [
        "— choose —",
        "Email it to the subject's address on file",
        "I sent it by post",
    ]
    page.select_option("#id_channel", "email")
    run_step(page, pk)
    assert "Response email queued" in readonly(page, "workflow_progress").inner_text()

    # and: the worker sends it
    [delivery_id] = emails
    assert response_attempt(delivery_id=delivery_id).state == LetterDelivery.State.SENT

    # then: the subject has the letter with their own link; the request is completed
    [message] = mail.outbox
    assert message.to == ["erika@example.org"]
    # the email is the German letter, with the German line before the download link
    assert message.subject == f"Ihr Antrag {dsr.reference}: Ihre personenbezogenen Daten"
    assert_german(message.body)
    assert "Ihre Daten zum Herunterladen (verfügbar bis" in message.body
    [(html, _)] = message.alternatives
    assert '<html lang="de">' in html and "Guten Tag Erika Mustermann," in html
    [(filename, attached, mimetype)] = message.attachments
    assert (filename, mimetype) == (f"{dsr.reference}-outcome-{dsr.letters.get().pk}.pdf", "application/pdf")
    assert attached.startswith(b"%PDF-")
    link = re.search(r"http\S+/dsr/p/\S+", message.body)
    assert link is not None
    page.reload()
    assert readonly(page, "status").inner_text().strip() == "Completed"
    assert [cls.split()[-1] for _, cls in stages(page)] == [
        "dsr-stage-done",
        "dsr-stage-done",
        "dsr-stage-done",
        "dsr-stage-done",
        "dsr-stage-done",
    ]
    journey.shot("completed")

    # and: the subject, not logged in, downloads the package through it
    path = link.group(0).split("/dsr/p/", 1)[1]
    anonymous = page.context.browser.new_context()
    try:
        response = anonymous.request.get(f"{live_server.url}/dsr/p/{path}")
        assert response.status == 200 and response.body()[:2] == b"PK"
        assert response.headers["cache-control"] == "no-store, private"
        assert anonymous.request.get(f"{live_server.url}/dsr/p/{path}x").status == 404
    finally:
        anonymous.close()
    assert DataPackage.objects.get().downloaded_count == 1

    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the pages logged errors:\n{errors}"
