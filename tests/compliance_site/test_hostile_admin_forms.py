"""Hostile input against every admin form that takes personal data, posted by a signed-in DPO and
fuzzed with hypothesis: never a 500; invalid input comes back as a form error with nothing
written; and whatever is shown again (on the form, a list or a detail page) is escaped."""

from __future__ import annotations

import datetime
import functools
import io
import re
from typing import Any

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from hypothesis import event, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from dsr.models import DataSubjectRequest, RequestNote
from dsr.services import request_create
from dsr.workflow import request_identity_verify
from recordings.models import DataSubject, Recipient, Recording
from retention.models import LegalHold
from tests.factories import DataSubjectFactory, PurposeFactory, RecordingFactory
from tests.recordings.ingest_factories import CALL_START, WAV, reference_rows, stored_files
from tests.recordings.test_hostile_ingest import UNSAFE_IN_A_REFERENCE

pytestmark = pytest.mark.django_db

# Each admin post renders a whole page (and most then open another): under the CI profile 15
# examples per form, which keeps the module near a minute on a loaded two-core machine.
ADMIN = hypothesis_settings(max_examples=max(15, hypothesis_settings.default.max_examples * 3 // 10))

# What must never reach a page unescaped; every payload below carries one of them.
ACTIVE_MARKUP = ("<script>alert(", "<img src=x onerror", "<svg onload", "<iframe src")
ATTACKS = [
    '<script>alert("custos")</script>',
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "</textarea><script>alert(2)</script>",
    '<iframe src="//evil.example"></iframe>',
    "../../etc/passwd",
    "..\\..\\boot.ini",
    "=cmd|' /C calc'!A0",
    "+49 30 1234567<script>alert(3)</script>",
    "erika@example.org<script>alert(4)</script>",
    "\x00",
    "a\x00b",
    "\u202eevil",
    "\r\nSet-Cookie: x=1",
    "{{ request.user }}",
    "%(name)s",
    "A" * 3000,
    "",
    " ",
]
# Browsers never send lone surrogates (invalid UTF-8 becomes U+FFFD), so neither does this.
CHARACTERS = st.characters(blacklist_categories=("Cs",))
# Inside a value, where trimming does not remove it: a line break, an escape, a direction override.
INNER = st.sampled_from(["\n", "\r", "\t", "\x1b[2J", "\x07", "\x85", "\u2028", "\u202e", "\u200b", "\ufeff"])
WORD = st.text(st.characters(whitelist_categories=("Lu", "Ll", "Nd")), min_size=1, max_size=8)
TEXT = st.one_of(
    st.sampled_from(ATTACKS),
    st.builds(lambda a, inner, b: a + inner + b, WORD, INNER, WORD),
    st.text(CHARACTERS, max_size=40),
    st.text(st.characters(min_codepoint=0, max_codepoint=0x1F), min_size=1, max_size=4),
    st.builds(lambda a, b: b + a, st.sampled_from(ATTACKS), st.text(CHARACTERS, max_size=8)),
)


def each_example_rolled_back(test):
    """Every example starts from the fixtures' state, so a value saved by one (a reference, a
    subject) cannot change what the next one does, and a failure replays the same way."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        with transaction.atomic():
            try:
                return test(*args, **kwargs)
            finally:
                transaction.set_rollback(True)

    return run


def hostile(fields: list[str]) -> st.SearchStrategy[dict[str, str]]:
    """One to three of the form's fields replaced by hostile text."""
    return st.dictionaries(st.sampled_from(fields), TEXT, min_size=1, max_size=3)


def assert_escaped(response) -> None:
    body = response.content.decode()
    for markup in ACTIVE_MARKUP:
        assert markup not in body, f"unescaped {markup!r} in {response.request['PATH_INFO']}"


def assert_answered(response, *, rows_before: int, rows_after: int, created: int = 1) -> None:
    """A redirect after saving, or the form again with its errors and nothing saved."""
    assert response.status_code in (200, 302), response.status_code
    event(f"HTTP {response.status_code}")
    if response.status_code == 302:
        assert rows_after == rows_before + created
    else:
        body = response.content.decode()
        assert "errorlist" in body or "errornote" in body, "the form came back without saying why"
        assert rows_after == rows_before, "a refused form wrote a row"
    assert_escaped(response)


@pytest.fixture
def desk(client, dpo):
    rows = reference_rows()
    client.force_login(dpo)
    return {**rows, "client": client, "dpo": dpo}


def _local(moment: datetime.datetime) -> tuple[str, str]:
    local = timezone.localtime(moment)
    return local.strftime("%Y-%m-%d"), local.strftime("%H:%M:%S")


# --- data subjects ---------------------------------------------------------------------------------

SUBJECT_FIELDS = {
    "reference": "DS-FUZZ",
    "full_name": "Erika Mustermann",
    "phone": "+49 30 1234567",
    "email": "",
}


@ADMIN
@given(values=hostile(list(SUBJECT_FIELDS)))
@each_example_rolled_back
def test_adding_a_subject(desk, values):
    client = desk["client"]
    data = {**SUBJECT_FIELDS, "reference": f"DS-F{DataSubject.objects.count()}", **values}
    before = DataSubject.objects.count()

    response = client.post(reverse("admin:recordings_datasubject_add"), data)

    assert_answered(response, rows_before=before, rows_after=DataSubject.objects.count())
    if response.status_code == 302:  # the page that shows the decrypted fields escapes them
        subject = DataSubject.objects.latest("pk")
        assert not UNSAFE_IN_A_REFERENCE.search(subject.reference), subject.reference
        assert_escaped(client.get(reverse("admin:recordings_datasubject_change", args=[subject.pk])))
        assert_escaped(client.get(reverse("admin:recordings_datasubject_changelist")))


# --- the DSR desk ----------------------------------------------------------------------------------

INTAKE_FIELDS = [
    "request_type",
    "channel",
    "language",
    "received_at_0",
    "received_at_1",
    "subject",
    "assignee",
]


@ADMIN
@given(values=hostile(INTAKE_FIELDS))
@each_example_rolled_back
def test_registering_a_request(desk, values):
    client = desk["client"]
    day, time = _local(timezone.now() - datetime.timedelta(hours=1))
    data = {
        "request_type": "access",
        "channel": "letter",
        "language": "en",
        "received_at_0": day,
        "received_at_1": time,
        "subject": "",
        "assignee": "",
        **values,
    }
    before = DataSubjectRequest.objects.count()

    response = client.post(reverse("admin:dsr_datasubjectrequest_add"), data)

    assert_answered(response, rows_before=before, rows_after=DataSubjectRequest.objects.count())


STEP_FORMS = {
    "match": {"reference": "", "phone": "+49 30 1234567", "email": ""},
    "verify": {"method": "document", "note": "Passport seen."},
    "extend": {"until": "", "reason": "Complex request."},
    "identity": {"note": "Asked for a copy of the ID card."},
    "refuse": {"refusal_ground": "excessive", "note": "Fourth identical request.", "confirm": "on"},
    "withdraw": {"note": "The subject called and withdrew it.", "confirm": "on"},
}


@ADMIN
@given(step=st.sampled_from(sorted(STEP_FORMS)), data=st.data())
@each_example_rolled_back
def test_the_request_steps(desk, step, data):
    # given: a fresh request for each example, with a subject to match
    client = desk["client"]
    good = STEP_FORMS[step]
    values = data.draw(hostile(list(good)), label="values")
    request = request_create(
        request_type="access", channel="email", received_at=timezone.now() - datetime.timedelta(days=1)
    )
    if step == "extend":
        good = {**good, "until": _local(request.due_at + datetime.timedelta(days=20))[0]}
    before = request.history.count()

    # when
    response = client.post(
        reverse("admin:dsr_datasubjectrequest_step", args=[request.pk, step]), {**good, **values}
    )

    # then: done, with its value escaped on the request's page, or the form with its error
    assert response.status_code in (200, 302)
    event(f"{step}: HTTP {response.status_code}")
    assert_escaped(response)
    if response.status_code == 302:
        assert request.history.count() > before
        page = client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk]))
        assert_escaped(page)
        assert_escaped(client.get(reverse("admin:dsr_datasubjectrequest_history", args=[request.pk])))
    else:
        assert "errorlist" in response.content.decode() or "errornote" in response.content.decode()
        assert request.history.count() == before


@ADMIN
@given(values=hostile(["full_name", "phone", "email"]))
@each_example_rolled_back
def test_rectifying_a_subject(desk, values):
    # given: a verified rectification request of a subject on file
    client, dpo = desk["client"], desk["dpo"]
    subject = DataSubjectFactory()
    request = request_create(
        request_type="rectification", channel="letter", received_at=timezone.now(), subject=subject
    )
    request_identity_verify(dsr=request, method="document", note="Letter signed.", actor=dpo)
    before = subject.history.count()

    # when
    response = client.post(
        reverse("admin:dsr_datasubjectrequest_step", args=[request.pk, "complete"]),
        {"full_name": "", "phone": "", "email": "", **values},
    )

    # then
    assert response.status_code in (200, 302)
    event(f"HTTP {response.status_code}")
    assert_escaped(response)
    request.refresh_from_db()
    if response.status_code == 302:
        assert request.status == DataSubjectRequest.Status.COMPLETED
        assert_escaped(client.get(reverse("admin:recordings_datasubject_change", args=[subject.pk])))
        assert_escaped(client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk])))
    else:
        assert request.status == DataSubjectRequest.Status.IN_PROGRESS
        assert subject.history.count() == before


@ADMIN
@given(body=TEXT)
@each_example_rolled_back
def test_adding_a_note_to_a_request(desk, body):
    client = desk["client"]
    request = request_create(request_type="access", channel="email", received_at=timezone.now())
    before = RequestNote.objects.count()

    response = client.post(reverse("admin:dsr_requestnote_add"), {"request": str(request.pk), "body": body})

    assert_answered(response, rows_before=before, rows_after=RequestNote.objects.count())
    if response.status_code == 302:
        assert_escaped(client.get(reverse("admin:dsr_datasubjectrequest_change", args=[request.pk])))
        assert_escaped(client.get(reverse("admin:dsr_requestnote_changelist")))


# --- recipients, legal holds ----------------------------------------------------------------------

RECIPIENT_FIELDS = {
    "name": "QA Vendor GmbH",
    "role": "processor",
    "country": "DE",
    "dpa_signed": "on",
    "transfer_ground": "",
    "safeguard": "",
    "contact": "privacy@vendor.example",
}


@ADMIN
@given(values=hostile([*RECIPIENT_FIELDS, "purposes"]))
@each_example_rolled_back
def test_registering_a_recipient(desk, values):
    client = desk["client"]
    data = {**RECIPIENT_FIELDS, "purposes": [str(desk["purpose"].pk)], **values}
    before = Recipient.objects.count()

    response = client.post(reverse("admin:recordings_recipient_add"), data)

    assert_answered(response, rows_before=before, rows_after=Recipient.objects.count())
    if response.status_code == 302:
        assert_escaped(client.get(reverse("admin:recordings_recipient_changelist")))
        recipient = Recipient.objects.latest("pk")
        assert_escaped(client.get(reverse("admin:recordings_recipient_change", args=[recipient.pk])))


HOLD_FIELDS = ["scope", "subject", "recording", "queue", "case_reference", "reason", "release_reason"]


@ADMIN
@given(values=hostile(HOLD_FIELDS))
@each_example_rolled_back
def test_placing_a_legal_hold(desk, values):
    client = desk["client"]
    subject = DataSubjectFactory()
    data = {
        "scope": "subject",
        "subject": str(subject.pk),
        "recording": "",
        "queue": "",
        "case_reference": "CASE-1",
        "reason": "Litigation.",
        "release_reason": "",
        **values,
    }
    before = LegalHold.objects.count()

    response = client.post(reverse("admin:retention_legalhold_add"), data)

    assert_answered(response, rows_before=before, rows_after=LegalHold.objects.count())
    if response.status_code == 302:
        assert_escaped(client.get(reverse("admin:retention_legalhold_changelist")))


# --- uploading a recording ---------------------------------------------------------------------------

UPLOAD_TEXT_FIELDS = [
    "subject_reference",
    "subject_full_name",
    "subject_phone",
    "subject_email",
    "direction",
    "lawful_basis",
    "started_at_0",
    "started_at_1",
    "consent_jurisdiction",
    "consent_evidence_offset_seconds",
    "queue",
    "purposes",
]


@ADMIN
@given(
    values=hostile(UPLOAD_TEXT_FIELDS),
    file_name=st.sampled_from(["call.wav", "../../etc/passwd", "C:\\x.wav", "<script>alert(5)</script>.wav"]),
)
@each_example_rolled_back
def test_uploading_a_recording(desk, values, file_name):
    client = desk["client"]
    start_day, start_time = _local(CALL_START)
    end_day, end_time = _local(CALL_START + datetime.timedelta(minutes=4))
    audio = io.BytesIO(WAV)
    audio.name = file_name
    data: dict[str, Any] = {
        "audio": audio,
        "subject_reference": "",
        "subject_full_name": "Erika Mustermann",
        "subject_phone": "+49 30 1234567",
        "subject_email": "",
        "queue": str(desk["queue"].pk),
        "direction": "inbound",
        "started_at_0": start_day,
        "started_at_1": start_time,
        "ended_at_0": end_day,
        "ended_at_1": end_time,
        "lawful_basis": "consent",
        "purposes": [str(desk["purpose"].pk)],
        "consent_purposes": [str(desk["purpose"].pk)],
        "consent_decision": "given",
        "consent_method": "ivr_keypress",
        "consent_notice": str(desk["notice"].pk),
        "consent_captured_at_0": start_day,
        "consent_captured_at_1": start_time,
        "consent_evidence_offset_seconds": "12",
        "consent_jurisdiction": "DE",
        **values,
    }
    before, files_before = Recording.objects.count(), len(stored_files())

    response = client.post(reverse("admin:recordings_recording_add"), data)

    assert_answered(response, rows_before=before, rows_after=Recording.objects.count())
    assert len(stored_files()) == files_before + (1 if response.status_code == 302 else 0)
    for path in stored_files():
        assert re.search(r"/audio/\d{4}/\d{2}/[0-9a-f]{32}\.wav\.tink$", path.as_posix()), path


def test_a_recording_page_escapes_what_came_with_the_call(desk):
    """The values an integration sent (references, transcript) are shown escaped too."""
    recording = RecordingFactory(reference='REC-<script>alert("x")</script>', purposes=[PurposeFactory()])

    response = desk["client"].get(reverse("admin:recordings_recording_change", args=[recording.pk]))

    assert response.status_code == 200
    assert_escaped(response)


# --- regressions found by the fuzzing ----------------------------------------------------------------


@pytest.mark.parametrize("reference", ["DS-1\nDS-2", "DS-\x1b[2J", "DS-\u202e1", "DS-\u200b1"])
def test_a_subject_reference_with_a_control_or_format_character_is_a_form_error(desk, reference):
    response = desk["client"].post(
        reverse("admin:recordings_datasubject_add"), {**SUBJECT_FIELDS, "reference": reference}
    )

    assert response.status_code == 200
    assert "is not allowed in a reference" in response.content.decode()
    assert not DataSubject.objects.exists()
