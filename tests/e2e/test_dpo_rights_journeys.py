"""The DPO's desk for the quick rights, from intake to the response, in the browser only.

Three journeys, each through the steps its request type offers (Match · Verify · Assign · Execute ·
Send), asserting what the DPO (or the analyst) sees at each step and what the right did to the
data at the end:

- rectification: the analyst the request is assigned to carries it out with the corrected email;
  the letter says what was corrected, the subject's sealed email is the new one, and the response
  goes by post;
- restriction placed and lifted: the subject's calls leave the QA lead's list while restricted,
  and come back once the DPO lifts the restriction (Art. 18(3)), with the notice letter;
- objection upheld: the subject's calls held on legitimate interests stop serving the objected
  purpose (quality assurance), while a call held on consent goes on serving it.

Screenshots of each step are kept under ``var/e2e-screenshots/<test>/`` (the ``journey`` fixture).
"""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.roles import PRIVACY_ANALYST
from dsr.models import DataSubjectRequest, LetterDelivery, ResponseLetter
from recordings.models import (
    LawfulBasis,
    LegitimateInterestAssessment,
    Objection,
    Purpose,
    Recording,
    SubjectRestriction,
)
from recordings.selectors import purposes_stopped_by_objection, recordings_visible_to
from recordings.vault.keys import personal_data_read
from tests.e2e.desk import (
    click_step,
    current_stage,
    log_in,
    log_out,
    no_dangerous_default,
    readonly,
    run_step,
)
from tests.factories import DataSubjectFactory, PurposeFactory, RecordingFactory, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ALL_DONE = ["dsr-stage-done"] * 5
QUICK_RIGHT_STAGES = ["1 Match", "2 Verify", "3 Assign", "4 Execute", "5 Send"]


# --- the browser's moves, as the other journeys make them ---------------------------------------


def status(page) -> str:
    return readonly(page, "status").inner_text().strip()


def stages(page) -> list[tuple[str, str]]:
    """The progress line: each stage's label and its state class."""
    items = page.locator(".dsr-progress li")
    return [
        (
            items.nth(i).inner_text().strip().lstrip("✓ ").strip(),
            (items.nth(i).get_attribute("class") or "").split()[-1],
        )
        for i in range(items.count())
    ]


def open_request(page, live_server, reference: str, pk: int) -> None:
    """From the requests list, as someone who finds it there."""
    page.goto(f"{live_server.url}{reverse('admin:dsr_datasubjectrequest_changelist')}")
    page.locator("#result_list").get_by_role("link", name=reference, exact=True).click()
    page.wait_for_url(re.compile(rf"/admin/dsr/datasubjectrequest/{pk}/change/$"))


def intake(page, live_server, *, kind: str, channel: str) -> DataSubjectRequest:
    """The DPO adds a request that came in yesterday, in English; lands on its page."""
    received = timezone.localtime() - datetime.timedelta(days=1)
    page.goto(f"{live_server.url}{reverse('admin:dsr_datasubjectrequest_add')}")
    page.select_option("#id_request_type", label=kind)
    page.select_option("#id_channel", label=channel)
    page.select_option("#id_language", label="English")
    page.fill("#id_received_at_0", f"{received:%Y-%m-%d}")
    page.fill("#id_received_at_1", f"{received:%H:%M:%S}")
    page.locator("[name=_continue]").click()
    page.wait_for_url(re.compile(r"/admin/dsr/datasubjectrequest/\d+/change/$"))
    dsr = DataSubjectRequest.objects.get()
    assert [label for label, _ in stages(page)] == QUICK_RIGHT_STAGES
    assert current_stage(page) == "1 Match"
    assert status(page) == "New"
    return dsr


def match_and_verify(page, pk: int, *, phone: str, evidence: str) -> None:
    """Match the requester by the phone number they gave, and record the identity check."""
    click_step(page, "Match the requester to a subject", pk, "match")
    page.fill("#id_phone", phone)
    run_step(page, pk)
    assert current_stage(page) == "2 Verify"
    click_step(page, "Record the identity verification", pk, "verify")
    no_dangerous_default(page)
    page.select_option("#id_method", label="Caller number matches the one on file")
    page.fill("#id_note", evidence)
    run_step(page, pk)
    assert status(page) == "In progress"
    # nobody assigned: the DPO may carry it out alone, the Assign stage is still offered
    assert current_stage(page) == "3 Assign"


def carry_out(page, pk: int) -> str:
    """Open "Carry out the request"; returns its preview. The caller fills the right's input."""
    click_step(page, "Carry out the request", pk, "complete")
    no_dangerous_default(page)
    assert page.locator(".dsr-step [name=_run]").input_value() == "Confirm: carry out the request"
    return page.locator(".dsr-preview").inner_text()


def letters(page) -> list[tuple[str, str]]:
    """The letters listed on the request page: each one's summary line and its text."""
    rows = readonly(page, "letters_display").locator("details.dsr-letter")
    return [
        (rows.nth(i).locator("summary").inner_text(), rows.nth(i).locator("pre").text_content() or "")
        for i in range(rows.count())
    ]


def qa_list(page, live_server) -> set[str]:
    """The references on the recordings list, as its user sees it."""
    page.goto(f"{live_server.url}{reverse('admin:recordings_recording_changelist')}")
    return set(page.locator("#result_list tbody th.field-reference").all_inner_texts())


def no_console_errors(console_log) -> None:
    errors = "\n".join(console_log.errors)
    assert not console_log.errors, f"the pages logged errors:\n{errors}"


# --- 1. rectification (Art. 16) -----------------------------------------------------------------


def test_rectification_carried_out_by_the_analyst_and_sent_by_post(
    live_server, page, console_log, journey, dpo, roles
):
    analyst = UserFactory(username="ana.analyst", groups=[roles[PRIVACY_ANALYST]])
    subject = DataSubjectFactory(
        full_name="Erika Mustermann", phone="+49 30 5550111", email="erika.old@example.org"
    )
    RecordingFactory(subject=subject)

    # given: the DPO takes in a rectification the subject asked for on the phone
    log_in(page, live_server, dpo.username)
    dsr = intake(page, live_server, kind="Rectification (Art. 16)", channel="Phone call")
    pk = dsr.pk
    journey.shot("intake: new rectification at Match")

    # when: they match the caller by their number, verify by calling back, assign the analyst
    match_and_verify(page, pk, phone="030 5550111", evidence="Called back on the number on file.")
    click_step(page, "Assign the request", pk, "assign")
    no_dangerous_default(page)
    page.select_option("#id_assignee", label=analyst.username)
    run_step(page, pk)

    # then: the request stands at Execute, assigned to the analyst
    assert readonly(page, "assignee_link").inner_text().strip() == analyst.username
    assert current_stage(page) == "4 Execute"
    assert stages(page)[:3] == [
        ("1 Match", "dsr-stage-done"),
        ("2 Verify", "dsr-stage-done"),
        ("3 Assign", "dsr-stage-done"),
    ]
    journey.shot("assigned to the analyst")
    log_out(page)

    # when: the analyst logs in, finds the request on their list and carries it out
    log_in(page, live_server, analyst.username)
    open_request(page, live_server, dsr.reference, pk)
    assert current_stage(page) == "4 Execute"
    preview = carry_out(page, pk)
    assert "The corrected fields are re-encrypted; the change stays in history." in preview
    page.fill("#id_email", "erika.new@example.org")
    journey.shot("analyst enters the corrected email")
    run_step(page, pk)

    # then: completed, with what was corrected; the letter lists it; only the sending is left
    assert status(page) == "Completed"
    assert readonly(page, "outcome").inner_text().strip() == "Corrected: email."
    [(summary, text)] = letters(page)
    assert "Response" in summary and "English" in summary
    assert "As you asked, we have corrected: your email address." in text
    assert "Dear Sir or Madam," in text  # the stored copy carries no name
    assert current_stage(page) == "5 Send"
    journey.shot("completed, response letter listed")

    # and: opened, its "View" shows the letter with the subject's name, decrypted for it (logged)
    letter_row = readonly(page, "letters_display").locator("details.dsr-letter")
    letter_row.locator("summary").click()
    with page.expect_popup() as opened:
        letter_row.get_by_role("link", name="View", exact=True).click()
    letter_page = opened.value
    letter_page.wait_for_load_state()
    assert "Dear Erika Mustermann," in letter_page.locator("body").inner_text()
    assert "As you asked, we have corrected: your email address." in letter_page.locator("body").inner_text()
    journey.shot("the letter as the subject reads it", page=letter_page)
    letter_page.close()
    assert AccessEvent.objects.filter(
        action=AccessAction.DECRYPT, object_id=subject.pk, actor=analyst, purpose="letter_view"
    ).exists()

    # and in the data: the subject's sealed email is the corrected one, the rest as it was
    subject.refresh_from_db()
    held = personal_data_read(subject)
    assert (held.email, held.phone, held.full_name) == (
        "erika.new@example.org",
        "+49305550111",  # as stored at intake: E.164
        "Erika Mustermann",
    )
    assert b"erika.new" not in bytes(subject.email_encrypted)
    log_out(page)

    # when: the DPO sends the response by post (the subject has an email; post is a choice)
    log_in(page, live_server, dpo.username)
    open_request(page, live_server, dsr.reference, pk)
    click_step(page, "Send the response", pk, "send")
    no_dangerous_default(page)
    assert page.locator("#id_channel option").all_inner_texts() == [
        "— choose —",
        "Email it to the subject's address on file",
        "I sent it by post",
    ]
    page.select_option("#id_channel", "post")
    page.fill("#id_note", "Letter posted on the day.")
    run_step(page, pk)

    # then: the progress line shows Send done, and nothing is left to do
    assert [state for _, state in stages(page)] == ALL_DONE
    assert "Response sent by post (Letter posted on the day.)" in (
        readonly(page, "workflow_progress").inner_text()
    )
    assert readonly(page, "workflow_steps").inner_text().strip() == "Closed."
    journey.shot("response sent by post")
    delivery = LetterDelivery.objects.get(letter__request=dsr)
    assert (delivery.channel, delivery.state) == (LetterDelivery.Channel.POST, LetterDelivery.State.SENT)

    no_console_errors(console_log)


# --- 2. restriction placed and lifted (Art. 18) -------------------------------------------------


def test_restriction_placed_hides_the_calls_from_qa_and_lifting_it_gives_them_back(
    live_server, page, console_log, journey, dpo, qa_lead_a, queue_a
):
    subject = DataSubjectFactory(phone="+49 30 5550222")
    calls = [RecordingFactory(subject=subject, queue=queue_a) for _ in range(2)]
    references = {call.reference for call in calls}
    someone_else = RecordingFactory(queue=queue_a)

    # given: the QA lead of queue A reviews the subject's calls today
    log_in(page, live_server, qa_lead_a.username)
    assert qa_list(page, live_server) == references | {someone_else.reference}
    journey.shot("qa lead lists the calls before")
    log_out(page)

    # when: the DPO takes in a restriction request, matches, verifies and carries it out with a
    # ground
    log_in(page, live_server, dpo.username)
    dsr = intake(page, live_server, kind="Restriction (Art. 18)", channel="Email")
    pk = dsr.pk
    match_and_verify(page, pk, phone="030 5550222", evidence="Called back; the subject contests their email.")
    preview = carry_out(page, pk)
    assert "2 recording(s) marked restricted" in preview
    assert page.locator("#id_restriction_ground option").first.inner_text() == "— choose —"
    page.select_option("#id_restriction_ground", "accuracy_contested")
    journey.shot("restriction ground chosen")
    run_step(page, pk)

    # then: completed; the outcome and the letter say the calls are restricted
    assert status(page) == "Completed"
    assert readonly(page, "outcome").inner_text().strip() == (
        "2 recording(s) restricted (Art. 18): stored, not used."
    )
    [(summary, text)] = letters(page)
    assert "Response" in summary
    assert "We have restricted the processing of your personal data (Art. 18 GDPR)." in text
    assert "Lift the restriction (Art. 18(3))" in readonly(page, "workflow_steps").inner_text()
    journey.shot("restriction completed")

    # and in the data: both calls restricted, kept, under the request's restriction record
    for call in calls:
        call.refresh_from_db()
        assert call.status == Recording.Status.RESTRICTED
    restriction = SubjectRestriction.objects.get(subject=subject)
    assert (restriction.request_reference, restriction.ground, restriction.lifted_at) == (
        dsr.reference,
        "accuracy_contested",
        None,
    )
    log_out(page)

    # when: the QA lead, who holds the grant on the queue, lists the calls again
    log_in(page, live_server, qa_lead_a.username)

    # then: the subject's calls are gone from their list, the other caller's is not; the pages
    # and the audio of the restricted calls do not exist for them
    assert qa_list(page, live_server) == {someone_else.reference}
    journey.shot("qa lead no longer lists the restricted calls")
    for call in calls:
        change = page.request.get(
            f"{live_server.url}{reverse('admin:recordings_recording_change', args=[call.pk])}"
        )
        assert change.status == 404
        assert (
            page.request.get(f"{live_server.url}{reverse('recording-audio', args=[call.pk])}").status == 404
        )
    log_out(page)

    # when: the DPO lifts the restriction, with a reason
    log_in(page, live_server, dpo.username)
    open_request(page, live_server, dsr.reference, pk)
    click_step(page, "Lift the restriction (Art. 18(3))", pk, "lift")
    lift_preview = page.locator(".dsr-preview").inner_text()
    assert f"The restriction placed under {dsr.reference}" in lift_preview
    assert "Up to 2 recording(s) become active again" in lift_preview
    page.locator(".dsr-step [name=_run]").click()  # no reason: refused on the form
    page.locator(".dsr-step .errorlist").first.wait_for()
    page.fill("#id_reason", "The accuracy of the email address was verified.")
    journey.shot("lift with a reason")
    run_step(page, pk)

    # then: a "restriction lifted" letter is listed, quoting the reason; lifting is no longer offered
    listed = letters(page)
    assert [summary.split(" · ")[1] for summary, _ in listed] == [
        "Response",
        "Restriction lifted (Art. 18(3))",
    ]
    assert "The accuracy of the email address was verified." in listed[1][1]
    assert "Lift the restriction" not in readonly(page, "workflow_steps").inner_text()
    journey.shot("restriction lifted, notice letter listed")

    # and in the data: the calls are active again, the restriction dated and signed
    for call in calls:
        call.refresh_from_db()
        assert call.status == Recording.Status.ACTIVE
    restriction.refresh_from_db()
    assert restriction.lifted_by == dpo and restriction.lifted_at is not None
    assert dsr.letters.filter(kind=ResponseLetter.Kind.RESTRICTION_LIFTED).count() == 1
    log_out(page)

    # and: the QA lead lists them again
    log_in(page, live_server, qa_lead_a.username)
    assert qa_list(page, live_server) == references | {someone_else.reference}
    journey.shot("qa lead lists the calls again")

    no_console_errors(console_log)


# --- 3. objection upheld (Art. 21) --------------------------------------------------------------


def test_upheld_objection_stops_the_legitimate_interest_calls_serving_quality_assurance(
    live_server, page, console_log, journey, dpo, qa_lead_a, queue_a
):
    quality_assurance = PurposeFactory(code=Purpose.QUALITY_ASSURANCE, name="Quality assurance")
    assessment = LegitimateInterestAssessment.objects.create(
        title="Quality review of calls",
        balancing_summary="Balanced.",
        approved_by=dpo,
        approved_at=timezone.now(),
    )
    assessment.purposes.set([quality_assurance])
    subject = DataSubjectFactory(phone="+49 30 5550333")
    on_interests = [
        RecordingFactory(
            subject=subject,
            queue=queue_a,
            lawful_basis=LawfulBasis.LEGITIMATE_INTERESTS,
            legitimate_interest_assessment=assessment,
            purposes=[quality_assurance],
        )
        for _ in range(2)
    ]
    on_consent = RecordingFactory(subject=subject, queue=queue_a, purposes=[quality_assurance])
    assert set(recordings_visible_to(qa_lead_a)) == {*on_interests, on_consent}

    # given: the DPO takes in an objection by letter, matches and verifies it
    log_in(page, live_server, dpo.username)
    dsr = intake(page, live_server, kind="Objection (Art. 21)", channel="Letter")
    pk = dsr.pk
    match_and_verify(
        page, pk, phone="030 5550333", evidence="Signed letter; called back on the number on file."
    )

    # when: they carry it out with no compelling grounds: the objection is upheld
    preview = carry_out(page, pk)
    assert "Stops Quality assurance for the subject's legitimate-interest recordings" in preview
    assert page.locator("#id_compelling_grounds").input_value() == ""
    journey.shot("objection preview, no compelling grounds")
    run_step(page, pk)

    # then: completed, the outcome says upheld, and the letter that the purpose stopped
    assert status(page) == "Completed"
    assert readonly(page, "outcome").inner_text().strip() == (
        "Objection decided — Quality assurance: upheld."
    )
    [(summary, text)] = letters(page)
    assert "Response" in summary
    assert "Quality assurance: we have stopped processing your data for this purpose." in text
    assert current_stage(page) == "5 Send"
    journey.shot("objection completed, letter listed")

    # and in the data: the objection is upheld for quality assurance, signed by the DPO ...
    [objection] = Objection.objects.filter(subject=subject)
    assert (objection.purpose, objection.decision, objection.decided_by) == (
        quality_assurance,
        Objection.Decision.UPHELD,
        dpo,
    )
    # ... the legitimate-interest calls no longer serve it (nor the QA lead), the consented one does
    for call in on_interests:
        call.refresh_from_db()
        assert purposes_stopped_by_objection(call) == [quality_assurance]
        assert call.status == Recording.Status.ACTIVE  # stored, not restricted: only that use stops
    assert purposes_stopped_by_objection(on_consent) == []
    assert set(recordings_visible_to(qa_lead_a)) == {on_consent}
    log_out(page)

    # and: the QA lead's list shows the consented call only
    log_in(page, live_server, qa_lead_a.username)
    assert qa_list(page, live_server) == {on_consent.reference}
    journey.shot("qa lead lists only the consented call")

    no_console_errors(console_log)
