"""A request's state machine per type (dsr.stages, dsr.admin_actions), four eyes held by the
database, and the response delivered to the subject (dsr.response_delivery, the subject's link)."""

from __future__ import annotations

import datetime
import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from compliance_site.audit.models import AccessAction, AccessEvent
from compliance_site.roles import DPO
from dsr.admin_actions import STEPS, steps_available
from dsr.models import DataPackage, DataSubjectRequest, LetterDelivery, RequestType
from dsr.packages import package_link_token
from dsr.response_delivery import (
    response_attempt,
    response_record_posted,
    response_send_email,
    responses_deliver,
)
from dsr.services import request_create
from dsr.stages import progress
from dsr.subject_links import subject_package_from_token, subject_package_token
from dsr.workflow import (
    request_approve,
    request_complete,
    request_identity_verify,
    request_refuse,
    request_response_delivered,
    request_send_for_approval,
    request_transition,
)
from tests.factories import DataSubjectFactory, RecordingFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = DataSubjectRequest.Status
DANGEROUS = ("withdraw", "refuse", "delete", "erase", "erasure")


@pytest.fixture
def second_dpo(roles):
    return UserFactory(username="second.dpo", groups=[roles[DPO]])


@pytest.fixture
def subject(db):
    subject = DataSubjectFactory()
    RecordingFactory(subject=subject, audio=b"\x01" * 50_000)
    return subject


def _request(subject, request_type: str, actor=None, *, verify=True) -> DataSubjectRequest:
    dsr = request_create(
        request_type=request_type,
        channel="email",
        received_at=timezone.now() - datetime.timedelta(days=1),
        subject=subject,
    )
    if verify:
        dsr = request_identity_verify(dsr=dsr, method="document", note="Passport seen.", actor=actor)
    return dsr


def _ready_to_send(subject, dpo, capture) -> DataSubjectRequest:
    dsr = _request(subject, "access", dpo)
    with capture(execute=True):
        request_complete(dsr=dsr, actor=dpo)
    dsr.refresh_from_db()
    assert dsr.status == Status.READY_TO_SEND
    return dsr


def _names(dsr, user) -> list[str]:
    dsr.refresh_from_db()
    return [step.name for step in steps_available(dsr, user)]


# --- Four eyes in the database ------------------------------------------------------------------


def _refused_by_database(dsr, **fields) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        DataSubjectRequest.objects.filter(pk=dsr.pk).update(**fields)


def test_the_database_refuses_an_approval_without_a_preparer_or_by_the_preparer(subject, dpo, second_dpo):
    erasure = _request(subject, "erasure", dpo)
    now = timezone.now()

    _refused_by_database(erasure, approved_by=second_dpo, approved_at=now)
    _refused_by_database(erasure, prepared_by=dpo, approved_by=dpo, approved_at=now)
    _refused_by_database(erasure, status=Status.AWAITING_APPROVAL)
    # the flag kept for old closed rows never admits an open one
    _refused_by_database(erasure, approved_by=second_dpo, approved_at=now, approved_without_preparer=True)


def test_the_database_refuses_an_access_request_awaiting_approval(subject, dpo):
    access = _request(subject, "access", dpo)

    _refused_by_database(access, status=Status.AWAITING_APPROVAL, prepared_by=dpo)


def test_approval_is_refused_for_anything_but_a_prepared_erasure_by_a_second_dpo(subject, dpo, second_dpo):
    access = _request(subject, "access", dpo)
    with pytest.raises(ValidationError, match="Only an erasure"):
        request_approve(dsr=access, actor=second_dpo)
    with pytest.raises(ValidationError, match="Only an erasure waits"):
        request_transition(dsr=access, to=Status.AWAITING_APPROVAL, actor=dpo)

    erasure = _request(subject, "erasure", dpo)
    with pytest.raises(ValidationError, match="awaiting approval"):
        request_approve(dsr=erasure, actor=second_dpo)
    request_send_for_approval(dsr=erasure, actor=dpo)
    with pytest.raises(ValidationError, match="Four eyes"):
        request_approve(dsr=erasure, actor=dpo)
    erasure.refresh_from_db()
    assert (erasure.status, erasure.prepared_by, erasure.approved_by) == (Status.AWAITING_APPROVAL, dpo, None)


# --- The steps offered ----------------------------------------------------------------------------


def test_each_type_offers_its_own_next_steps_in_order(subject, dpo, second_dpo):
    access = _request(subject, "access", dpo)
    erasure = _request(subject, "erasure", dpo)
    rectification = _request(subject, "rectification", dpo)
    fresh = _request(subject, "objection", verify=False)

    assert _names(access, dpo) == ["match", "assign", "build", "extend", "refuse", "withdraw"]
    assert _names(erasure, dpo) == ["match", "assign", "prepare", "extend", "refuse", "withdraw"]
    assert _names(rectification, dpo) == ["match", "assign", "complete", "extend", "refuse", "withdraw"]
    assert _names(fresh, dpo) == ["match", "verify", "identity", "assign", "extend", "refuse", "withdraw"]
    assert "transition" not in STEPS

    # four eyes: the preparer is not offered the approval, the second DPO is
    request_send_for_approval(dsr=erasure, actor=dpo)
    assert "approve" not in _names(erasure, dpo)
    assert _names(erasure, second_dpo)[:4] == ["match", "assign", "approve", "send_back"]


def test_the_progress_line_marks_done_current_and_to_come(subject, dpo):
    erasure = _request(subject, "erasure", dpo)

    rows = progress(erasure)

    assert [(r.number, r.label) for r in rows] == [
        (1, "Match"),
        (2, "Verify"),
        (3, "Assign"),
        (4, "Prepare"),
        (5, "Approve"),
        (6, "Execute"),
        (7, "Send"),
    ]
    assert [r.state for r in rows] == ["done", "done", "current", "todo", "todo", "todo", "todo"]
    request_send_for_approval(dsr=erasure, actor=dpo)
    erasure.refresh_from_db()
    assert [r.state for r in progress(erasure)][2:5] == ["skipped", "done", "current"]
    assert [r.label for r in progress(_request(subject, "access", dpo))] == [
        "Match",
        "Verify",
        "Assign",
        "Build",
        "Send",
    ]


class _Selects(HTMLParser):
    """Each <select> of a page with its options (value, selected)."""

    def __init__(self) -> None:
        super().__init__()
        self.selects: list[tuple[str, list[tuple[str, bool]]]] = []

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "select":
            self.selects.append((values.get("name") or "", []))
        elif tag == "option" and self.selects:
            self.selects[-1][1].append((values.get("value") or "", "selected" in values))


def dangerous_defaults(html: str) -> list[str]:
    """Selects whose default (the selected option, else the first) is not the empty choice, or is
    a value that withdraws, refuses or deletes."""
    parser = _Selects()
    parser.feed(html)
    found = []
    for name, options in parser.selects:
        if not options:
            continue
        default = next((value for value, selected in options if selected), options[0][0])
        if default != "" or any(word in default.lower() for word in DANGEROUS):
            found.append(f"{name}={default!r}")
    return found


def test_no_step_form_has_a_default_that_withdraws_refuses_or_deletes(
    client, subject, dpo, second_dpo, django_capture_on_commit_callbacks, jobs_eager
):
    # given: requests of every type in every state a step can be opened from
    requests = [_request(subject, kind, dpo) for kind in RequestType.values]
    requests.append(_request(subject, "erasure", verify=False))
    awaiting = _request(subject, "erasure", dpo)
    requests.append(request_send_for_approval(dsr=awaiting, actor=dpo))
    requests.append(_ready_to_send(subject, dpo, django_capture_on_commit_callbacks))
    refused = _request(subject, "objection", dpo)
    requests.append(request_refuse(dsr=refused, ground="excessive", actor=dpo))
    client.force_login(second_dpo)

    # when: every step's page is rendered for each
    pages = 0
    for dsr in requests:
        assert client.get(reverse("admin:dsr_datasubjectrequest_change", args=[dsr.pk])).status_code == 200
        for name in STEPS:
            response = client.get(reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, name]))
            assert response.status_code in (200, 403), (name, dsr.status)
            if response.status_code == 200:
                pages += 1
                # then: no select starts anywhere but on the empty "— choose —"
                assert dangerous_defaults(response.content.decode()) == [], (
                    name,
                    dsr.request_type,
                    dsr.status,
                )

    assert pages > 100


def test_the_check_itself_catches_a_withdrawing_default():
    html = '<select name="to"><option value="withdrawn">W</option><option value="new">New</option></select>'
    assert dangerous_defaults(html) == ["to='withdrawn'"]
    chosen = (
        '<select name="to"><option value="">—</option><option value="refused" selected>R</option></select>'
    )
    assert dangerous_defaults(chosen) == ["to='refused'"]


# --- Access completes on delivery ----------------------------------------------------------------


def test_a_built_package_leaves_the_request_open_until_it_is_sent_by_post(
    subject, dpo, django_capture_on_commit_callbacks, jobs_eager
):
    # given: the package built on a worker
    dsr = _ready_to_send(subject, dpo, django_capture_on_commit_callbacks)
    assert dsr.is_open and dsr.closed_at is None and dsr.letters.count() == 1
    assert _names(dsr, dpo) == ["send", "assign", "extend", "withdraw"]
    assert [r.state for r in progress(dsr)] == ["done", "done", "skipped", "done", "current"]

    # when: the DPO records it sent by post (a note is required)
    with pytest.raises(ValidationError):
        response_record_posted(dsr=dsr, note=" ", actor=dpo)
    before = timezone.now()
    delivery = response_record_posted(dsr=dsr, note="Registered letter, posted today.", actor=dpo)

    # then: completed at that moment; the send stage is done and nothing is offered
    dsr.refresh_from_db()
    assert dsr.status == Status.COMPLETED and dsr.closed_at >= before
    assert (delivery.channel, delivery.state, delivery.sent_by) == ("post", "sent", dpo)
    assert progress(dsr)[-1].state == "done"
    assert _names(dsr, dpo) == []
    # and a later delivery (the subject downloads it) changes nothing
    closed_at = dsr.closed_at
    request_response_delivered(dsr=dsr, channel="download", actor=None)
    dsr.refresh_from_db()
    assert dsr.closed_at == closed_at


def test_the_response_email_goes_through_the_outbox_with_the_subjects_link(
    subject, dpo, django_capture_on_commit_callbacks, jobs_eager
):
    # given
    dsr = _ready_to_send(subject, dpo, django_capture_on_commit_callbacks)
    decrypts = AccessEvent.objects.filter(action=AccessAction.DECRYPT).count()

    # when: the DPO sends it by email; a worker sends it once that commits
    with django_capture_on_commit_callbacks(execute=True):
        delivery = response_send_email(dsr=dsr, actor=dpo)

    # then: one email to the subject's address, with the letter and their download link
    delivery.refresh_from_db()
    assert delivery.state == LetterDelivery.State.SENT and delivery.attempts == 1
    [message] = mail.outbox
    letter = dsr.letters.get()
    assert message.subject == letter.subject_line
    assert message.to == [f"{subject_email(subject)}"]
    package = DataPackage.objects.get(request=dsr)
    link = re.search(r"(\S+)/dsr/p/(\S+)", message.body)
    assert link is not None and link.group(1) == settings.CUSTOS_SITE_URL.rstrip("/")
    assert subject_package_from_token(link.group(2)) == package
    # the address and the name were decrypted to send it, once each, and that is in the access log
    sent_decrypts = list(AccessEvent.objects.filter(action=AccessAction.DECRYPT).order_by("pk")[decrypts:])
    assert sorted(str(e.detail.get("what") or e.detail.get("fields")) for e in sent_decrypts) == [
        "['full_name']",
        "email",
    ]
    # and the letter went as HTML with its PDF attached, the link in both parts
    [(html, html_type)] = message.alternatives
    assert html_type == "text/html" and link.group(2) in html
    [(pdf_name, pdf, pdf_type)] = message.attachments
    assert pdf_type == "application/pdf" and pdf.startswith(b"%PDF") and pdf_name.endswith(".pdf")
    # and the request is completed at the moment it was sent
    dsr.refresh_from_db()
    assert dsr.status == Status.COMPLETED and dsr.closed_at == delivery.sent_at

    # when: the message comes again, or beat's tick meets the row: nothing is sent twice
    assert response_attempt(delivery_id=delivery.pk) is None
    assert responses_deliver() == 0
    assert len(mail.outbox) == 1
    # and sending again is refused
    with pytest.raises(ValidationError, match="already sent"):
        response_send_email(dsr=dsr, actor=dpo)


def subject_email(subject) -> str:
    from recordings.vault.keys import personal_data_read

    return personal_data_read(subject).email


def test_a_failing_mail_server_is_retried_then_given_up_with_one_alert_to_the_dpos(
    subject, dpo, settings, monkeypatch, django_capture_on_commit_callbacks, jobs_eager
):
    # given: a request ready to send, and a mail server that refuses everything
    settings.DSR_REMINDER_MAX_ATTEMPTS = 2
    dsr = _ready_to_send(subject, dpo, django_capture_on_commit_callbacks)

    class Refused:
        def send(self):
            raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr("dsr.response_delivery._letter_message", lambda letter, to, actor: Refused())
    delivery = response_send_email(dsr=dsr, actor=dpo)

    # when: the first attempt
    now = timezone.now()
    response_attempt(delivery_id=delivery.pk, now=now)
    delivery.refresh_from_db()

    # then: failed, retried later, the error without any address; the request still open
    assert delivery.state == "failed" and delivery.next_attempt_at > now
    assert delivery.last_error.startswith("ConnectionRefusedError 111")
    dsr.refresh_from_db()
    assert dsr.status == Status.READY_TO_SEND

    # when: beat's tick after the backoff: the last attempt fails too
    responses_deliver(now=delivery.next_attempt_at)

    # then: given up, one alert to the DPO group, and the step is offered again
    delivery.refresh_from_db()
    assert delivery.state == "given_up" and delivery.alerted_at is not None
    assert [m.subject for m in mail.outbox] == [
        f"[Custos] The response of {dsr.reference} could not be emailed"
    ]
    responses_deliver(now=timezone.now() + datetime.timedelta(days=1))
    assert len(mail.outbox) == 1
    assert "send" in _names(dsr, dpo)
    # and the DPO posts it instead: the same row records that
    response_record_posted(dsr=dsr, note="Posted after the email bounced.", actor=dpo)
    dsr.refresh_from_db()
    assert dsr.status == Status.COMPLETED and LetterDelivery.objects.count() == 1


def test_a_quick_right_and_a_refusal_complete_at_once_and_keep_offering_to_send_their_letter(subject, dpo):
    objection = _request(subject, "objection", dpo)
    request_complete(dsr=objection, actor=dpo)
    objection.refresh_from_db()
    assert objection.status == Status.COMPLETED
    assert _names(objection, dpo) == ["send"]
    assert progress(objection)[-1].state == "current"

    refused = request_refuse(dsr=_request(subject, "access", dpo), ground="excessive", actor=dpo)
    assert _names(refused, dpo) == ["send"]
    response_record_posted(dsr=refused, note="Letter posted.", actor=dpo)
    assert _names(refused, dpo) == []
    assert progress(refused)[-1].state == "done"


# --- The subject's download link -----------------------------------------------------------------


def test_the_subject_downloads_their_package_through_the_link_which_completes_the_request(
    client, subject, dpo, django_capture_on_commit_callbacks, jobs_eager
):
    # given
    dsr = _ready_to_send(subject, dpo, django_capture_on_commit_callbacks)
    package = DataPackage.objects.get(request=dsr)
    url = reverse("dsr-subject-package", args=[subject_package_token(package)])

    # when: anonymous, with the link
    response = client.get(url)

    # then: the archive, never cached; an access event by the subject; the request completed
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store, private"
    assert b"".join(response.streaming_content)[:2] == b"PK"
    event = AccessEvent.objects.filter(action=AccessAction.DOWNLOAD).latest("sequence")
    assert (event.actor_id, event.actor_label, event.object_id) == (None, "subject", package.pk)
    dsr.refresh_from_db()
    assert dsr.status == Status.COMPLETED
    package.refresh_from_db()
    assert package.downloaded_count == 1


def test_a_bad_token_is_404_and_an_expired_or_purged_package_410(
    client, subject, dpo, django_capture_on_commit_callbacks, jobs_eager
):
    dsr = _ready_to_send(subject, dpo, django_capture_on_commit_callbacks)
    package = DataPackage.objects.get(request=dsr)
    token = subject_package_token(package)

    def get(token: str):
        return client.get(reverse("dsr-subject-package", args=[token]))

    # a forged or altered token, and the staff link's token (another salt), are unknown
    assert get(token[:-2] + "xx").status_code == 404
    assert get("nonsense").status_code == 404
    assert get(package_link_token(package=package, user=dpo)).status_code == 404
    # past the package's expiry: gone
    past = timezone.now() - datetime.timedelta(days=1)
    DataPackage.objects.filter(pk=package.pk).update(
        created_at=past - datetime.timedelta(days=30), expires_at=past
    )
    expired = get(token)
    assert expired.status_code == 410 and expired["Cache-Control"] == "no-store, private"
    DataPackage.objects.filter(pk=package.pk).update(
        expires_at=timezone.now() + datetime.timedelta(days=1), purged_at=timezone.now()
    )
    assert get(token).status_code == 410
    # nothing counted, nothing completed
    dsr.refresh_from_db()
    assert dsr.status == Status.READY_TO_SEND


def test_the_send_step_offers_email_only_with_an_address_and_has_no_default(
    client, dpo, django_capture_on_commit_callbacks, jobs_eager
):
    no_email = DataSubjectFactory(email="")
    RecordingFactory(subject=no_email, audio=b"\x02" * 10_000)
    dsr = _ready_to_send(no_email, dpo, django_capture_on_commit_callbacks)
    client.force_login(dpo)

    page = client.get(reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, "send"])).content.decode()

    assert 'value="post"' in page and 'value="email"' not in page
    assert dangerous_defaults(page) == []
    # a post without saying how is an error on the form, nothing recorded
    response = client.post(
        reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, "send"]), {"channel": "post", "note": ""}
    )
    assert response.status_code == 200 and not LetterDelivery.objects.exists()
    # and emailing it anyway (a forged POST) is refused
    response = client.post(
        reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, "send"]), {"channel": "email", "note": ""}
    )
    assert response.status_code == 200 and not LetterDelivery.objects.exists()


# --- Who may take the new steps ------------------------------------------------------------------

NEW_STEPS = ("identity", "prepare", "build", "send", "send_back", "refuse", "withdraw")


@pytest.mark.parametrize("step", NEW_STEPS)
def test_the_new_steps_answer_each_persona_without_a_leak(
    client, subject, dpo, analyst, auditor, qa_lead_a, step
):
    # given: a request nobody assigned to the analyst
    dsr = _request(subject, "erasure", dpo)
    url = reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, step])

    # then: anonymous is sent to the login; the analyst and the QA lead do not learn it exists;
    # the auditor sees it but may not act; nothing changed
    assert client.get(url).status_code == 302
    for persona, expected in ((analyst, 404), (qa_lead_a, 404), (auditor, 403)):
        client.force_login(persona)
        assert client.get(url).status_code == expected, persona
        assert client.post(url, {"confirm": "on", "note": "x", "channel": "post"}).status_code == expected
    dsr.refresh_from_db()
    assert dsr.status == Status.IN_PROGRESS and dsr.history.count() == 2


def test_the_subject_link_answers_hostile_tokens_with_404(client):
    for token in ("a" * 5000, "..", "%00", "eyJwIjoxfQ:1abc:forged", "<script>"):
        response = client.get(f"/dsr/p/{token}")
        assert response.status_code in (400, 404), token


@pytest.mark.parametrize(
    "field,value",
    [("full_name", "E" * 201), ("phone", "+49 30 " + "1" * 40), ("email", "e" * 250 + "@example.org")],
)
def test_a_rectification_longer_than_the_subjects_own_form_allows_is_refused(client, dpo, field, value):
    # given: a rectification request ready to be carried out
    subject = DataSubjectFactory(full_name="Erika Mustermann", email="erika@example.org")
    dsr = _request(subject, "rectification", dpo)
    client.force_login(dpo)

    # when: the DPO types a corrected value longer than the subject's form takes
    url = reverse("admin:dsr_datasubjectrequest_step", args=[dsr.pk, "complete"])
    response = client.post(url, {field: value, "_run": "1"})

    # then: the form refuses it and nothing is sealed
    assert response.status_code == 200
    assert "Ensure this value has at most" in response.content.decode()
    dsr.refresh_from_db()
    assert dsr.status == Status.IN_PROGRESS
    subject.refresh_from_db()
    assert subject_email(subject) == "erika@example.org"
    assert subject.history.count() == 1  # created, never re-sealed


def test_the_notice_of_a_lifted_restriction_is_sent_by_post_and_then_no_longer_offered(subject, dpo):
    from dsr.response_delivery import notice_record_posted
    from dsr.restriction import request_restriction_lift
    from dsr.rights import RightInput

    # given: a restriction carried out, its response posted, then the restriction lifted
    dsr = request_complete(
        dsr=_request(subject, "restriction", dpo),
        actor=dpo,
        given=RightInput(restriction_ground="accuracy_contested"),
    )
    response_record_posted(dsr=dsr, note="Posted on the day.", actor=dpo)
    request_restriction_lift(dsr=dsr, actor=dpo, reason="Accuracy verified.")
    dsr.refresh_from_db()
    notice = dsr.letters.get(kind="lifted")

    # then: the desk offers to send the notice the subject must receive (Art. 18(3))
    assert "notice" in [step.name for step in steps_available(dsr, dpo)]

    # when: the DPO records it as posted
    notice_record_posted(dsr=dsr, letter_id=notice.pk, note="Registered letter, posted today.", actor=dpo)

    # then: its delivery is recorded, the step is gone, the request stays as it was
    delivery = LetterDelivery.objects.get(letter=notice)
    assert (delivery.channel, delivery.state, delivery.sent_by) == ("post", "sent", dpo)
    assert "notice" not in [step.name for step in steps_available(dsr, dpo)]
    with pytest.raises(ValidationError, match="not waiting to be sent"):
        notice_record_posted(dsr=dsr, letter_id=notice.pk, note="Twice.", actor=dpo)


def test_an_extension_notice_is_emailed_and_completes_nothing(
    subject, dpo, django_capture_on_commit_callbacks, jobs_eager
):
    from dsr.response_delivery import notice_send_email
    from dsr.workflow import request_extend

    # given: an access request ready to send whose deadline was extended (its notice written)
    dsr = _ready_to_send(subject, dpo, django_capture_on_commit_callbacks)
    request_extend(
        dsr=dsr,
        until=timezone.localdate(dsr.due_at) + datetime.timedelta(days=20),
        reason="Many recordings to review.",
        actor=dpo,
    )
    notice = dsr.letters.get(kind="extension")

    # when: the DPO emails the notice; the outbox sends it once that commits
    with django_capture_on_commit_callbacks(execute=True):
        notice_send_email(dsr=dsr, letter_id=notice.pk, actor=dpo)

    # then: the notice went by email, and the request is still waiting for its response
    assert LetterDelivery.objects.get(letter=notice).state == LetterDelivery.State.SENT
    [message] = mail.outbox
    assert message.subject == notice.subject_line
    dsr.refresh_from_db()
    assert dsr.status == Status.READY_TO_SEND and dsr.closed_at is None
